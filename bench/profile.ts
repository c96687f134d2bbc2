/**
 * An in-process V8 CPU profile (the same data as `node --cpu-prof`) around one measured window,
 * summarised as the top self-time functions and self time per owner (our src/, ioredis, Node, GC).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

export interface FunctionCost {
  readonly name: string;
  readonly where: string;
  readonly owner: string;
  readonly selfPct: number;
}

export interface ProfileSummary {
  readonly totalMs: number;
  readonly top: readonly FunctionCost[];
  /** Self time per owner, percent of the sampled time (idle included). */
  readonly owners: ReadonlyArray<{ owner: string; selfPct: number }>;
  readonly file: string;
}

const ROOT = new URL('..', import.meta.url).href;

function owner(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'V8/native (program)';
    if (functionName === 'writeUtf8String' || functionName === 'writev' || functionName === 'writeBuffer') return 'socket writes (syscall)';
    return 'native';
  }
  if (url.startsWith('node:')) return 'node internals';
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules !== null) return modules[1] as string;
  if (url.includes('/src/') || /\/tur-bench-build-[^/]+\/dist\//.test(url)) return 'ours (src/)';
  if (url.includes('/bench/')) return 'bench driver';
  return 'other';
}

function where(frame: CallFrame): string {
  if (frame.url === '') return '';
  const compiled = /\/tur-bench-build-[^/]+\/dist\/(.*)\.js$/.exec(frame.url);
  if (compiled !== null) return `src/${compiled[1] as string}.ts (compiled, js line ${frame.lineNumber + 1})`;
  const short = frame.url.startsWith(ROOT) ? frame.url.slice(ROOT.length) : frame.url.replace(/^.*node_modules\//, '');
  return `${short}:${frame.lineNumber + 1}`;
}

export class CpuProfiler {
  #session: Session | undefined;

  async start(): Promise<void> {
    this.#session = new Session();
    this.#session.connect();
    await this.#session.post('Profiler.enable');
    await this.#session.post('Profiler.setSamplingInterval', { interval: 200 });
    await this.#session.post('Profiler.start');
  }

  async stop(file: string, topN = 15): Promise<ProfileSummary> {
    const session = this.#session;
    if (session === undefined) throw new Error('profiler not started');
    const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
    await session.post('Profiler.disable');
    session.disconnect();
    this.#session = undefined;
    writeFileSync(file, JSON.stringify(profile));
    return summarizeProfile(profile, file, topN);
  }
}


/** Self time per function and per owner of a saved or just-taken profile. */
export function summarizeProfile(profile: CpuProfile, file: string, topN = 15): ProfileSummary {
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    const selfUs = new Map<string, { frame: CallFrame; us: number }>();
    const samples = profile.samples ?? [];
    const deltas = profile.timeDeltas ?? [];
    let total = 0;
    for (let k = 0; k < samples.length; k++) {
      const node = byId.get(samples[k] as number);
      const dt = deltas[k] ?? 0;
      if (node === undefined) continue;
      const f = node.callFrame;
      // The profiler's own start-up (Profiler.start dispatched from this thread) is not the workload.
      if (f.functionName === 'dispatch' && f.url === '') continue;
      total += dt;
      const key = `${f.functionName}|${f.url}|${f.lineNumber}`;
      const entry = selfUs.get(key);
      if (entry === undefined) selfUs.set(key, { frame: f, us: dt });
      else entry.us += dt;
    }
    const owners = new Map<string, number>();
    for (const { frame, us } of selfUs.values()) owners.set(owner(frame), (owners.get(owner(frame)) ?? 0) + us);
    const top = [...selfUs.values()]
      .filter(({ frame }) => frame.functionName !== '(idle)')
      .sort((a, b) => b.us - a.us)
      .slice(0, topN)
      .map(({ frame, us }) => ({
        name: frame.functionName === '' ? '(anonymous)' : frame.functionName,
        where: where(frame),
        owner: owner(frame),
        selfPct: (us / total) * 100,
      }));
    return {
      totalMs: total / 1000,
      top,
      owners: [...owners.entries()]
        .map(([name, us]) => ({ owner: name, selfPct: (us / total) * 100 }))
        .sort((a, b) => b.selfPct - a.selfPct),
      file,
    };
}

/** Re-reads and summarises a `.cpuprofile` written earlier (used when re-rendering the report). */
export function summarizeProfileFile(file: string, topN = 15): ProfileSummary {
  return summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, file, topN);
}
