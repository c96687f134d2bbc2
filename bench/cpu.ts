/**
 * CPU time of the Node main thread, the whole Node process and the redis-server process, from
 * /proc (Linux), so each cell can say whose CPU saturated.
 */
import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // getconf CLK_TCK on Linux

function ticks(path: string): number {
  try {
    const stat = readFileSync(path, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return Number.NaN;
  }
}

/** Busy ticks of the whole machine (all CPUs), from the first line of /proc/stat. */
function machineBusy(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
  } catch {
    return Number.NaN;
  }
}

export interface CpuSnapshot {
  readonly at: number;
  readonly machine: number;
  readonly nodeMain: number;
  readonly nodeProcess: number;
  readonly redis: number;
}

export interface CpuShare {
  /** Percent of one core over the window. */
  readonly nodeMainPct: number;
  /** Everything else on the machine (other processes, steal), percent of one core. */
  readonly othersPct: number;
  readonly nodeProcessPct: number;
  readonly redisPct: number;
}

export function cpuSnapshot(redisPid: number | undefined): CpuSnapshot {
  return {
    at: performance.now(),
    machine: machineBusy(),
    nodeMain: ticks(`/proc/self/task/${process.pid}/stat`),
    nodeProcess: ticks('/proc/self/stat'),
    redis: redisPid === undefined ? Number.NaN : ticks(`/proc/${redisPid}/stat`),
  };
}

export function cpuShare(from: CpuSnapshot, to: CpuSnapshot): CpuShare {
  const seconds = (to.at - from.at) / 1000;
  const pct = (a: number, b: number): number => (((b - a) / TICKS_PER_SECOND) / seconds) * 100;
  return {
    nodeMainPct: pct(from.nodeMain, to.nodeMain),
    nodeProcessPct: pct(from.nodeProcess, to.nodeProcess),
    redisPct: pct(from.redis, to.redis),
    othersPct: Math.max(0, pct(from.machine, to.machine) - pct(from.nodeProcess, to.nodeProcess) - pct(from.redis, to.redis)),
  };
}
