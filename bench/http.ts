/**
 * `npm run bench:http`: records/s and p99 of POST /v1/usage (autocannon, loopback) against the
 * library called in-process, at 64 and 256 in flight, on the same throw-away Redis in the same run.
 * Both run as compiled JavaScript (bench/lib.ts compiles src/ into a temporary dist, BENCH_TARGET=src
 * for tsx); the server is a child process with the deployed defaults (log level info, request
 * logging off, load shedding at 1 s of event-loop delay). Each cell checks that Redis holds every
 * acknowledged record (HTTP may store a few more: requests still in flight when autocannon stops are
 * written but not counted), and reads from /proc the CPU each process used per record and how busy
 * the whole machine was (other work on it skews records/s; CPU per record much less). Writes the
 * table into docs/benchmarks.md between the bench:http markers.
 *
 * autocannon runs on this process's main thread (no workers): the least client CPU that still keeps
 * the connections busy, so the server gets as much of the machine as it can.
 *
 *   npm run bench:http                       # 5 s per cell
 *   BENCH_HTTP_SECONDS=10 npm run bench:http
 *   BENCH_HTTP_CPU_PROF=/tmp/prof npm run bench:http   # also a V8 CPU profile of the server (node --cpu-prof)
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import autocannon from 'autocannon';
import type { TokenUsageRepository } from '../src/application/token-usage-repository.js';
import { loadLibrary } from './lib.js';
import { freeLoopbackPort, startRedis } from './redis-server.js';
import { percentiles } from './stats.js';

const SECONDS = Number(process.env['BENCH_HTTP_SECONDS'] ?? 5);
const CPU_PROF_DIR = process.env['BENCH_HTTP_CPU_PROF'];
const LEVELS = [64, 256];
const USERS = 100;
const KEY = 'bench-http-record-key-000';
const PER_RECORD = 15; // 10 prompt + 5 completion

interface Cell {
  readonly mode: 'in-process' | 'HTTP';
  readonly inFlight: number;
  readonly perSecond: number;
  readonly p99: number;
  readonly errors: number;
  /** Acknowledged tokens missing from Redis (must be 0). */
  readonly lost: number;
  /** Tokens in Redis beyond the acknowledged ones (HTTP requests cut off at the end of the run). */
  readonly unacknowledged: number;
  /** % of one core over the cell: this process (the in-process loop, or autocannon), the server, Redis. */
  cpu?: { client: number; server: number; redis: number };
  /** CPU µs per acknowledged record: of the process doing the work (the in-process loop, or the server), and of Redis. */
  perRecord?: { worker: number; redis: number };
  /** % of the whole machine busy over the cell (all processes, /proc/stat), and the 1-minute load average at its end. */
  machine?: { busy: number; load: number };
}

/** utime + stime of a process in seconds, from /proc (Linux; NaN elsewhere). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Busy and total jiffies of the whole machine, from the first line of /proc/stat (Linux; NaN elsewhere). */
function machineJiffies(): { busy: number; total: number } {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - (fields[3] ?? 0) - (fields[4] ?? 0), total };
  } catch {
    return { busy: Number.NaN, total: Number.NaN };
  }
}

function loadAverage(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return Number.NaN;
  }
}

async function measured(pids: { server: number; redis: number }, cell: () => Promise<Cell>): Promise<Cell> {
  const before = { client: cpuSeconds(process.pid), server: cpuSeconds(pids.server), redis: cpuSeconds(pids.redis), at: performance.now(), machine: machineJiffies() };
  const result = await cell();
  const seconds = (performance.now() - before.at) / 1000;
  const used = { client: cpuSeconds(process.pid) - before.client, server: cpuSeconds(pids.server) - before.server, redis: cpuSeconds(pids.redis) - before.redis };
  const share = (cpu: number) => Math.round((100 * cpu) / seconds);
  result.cpu = { client: share(used.client), server: share(used.server), redis: share(used.redis) };
  const records = result.perSecond * seconds;
  const worker = result.mode === 'HTTP' ? used.server : used.client;
  result.perRecord = { worker: (worker * 1e6) / records, redis: (used.redis * 1e6) / records };
  const machine = machineJiffies();
  result.machine = { busy: Math.round((100 * (machine.busy - before.machine.busy)) / (machine.total - before.machine.total)), load: loadAverage() };
  return result;
}

async function sumTotals(repo: TokenUsageRepository, prefix: string): Promise<number> {
  let total = 0;
  for (let u = 0; u < USERS; u += 1) total += (await repo.getUsageStats(`${prefix}-u${u}`)).totalTokens;
  return total;
}

async function inProcess(repo: TokenUsageRepository, inFlight: number, prefix: string): Promise<Cell> {
  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async (_, worker) => {
      for (let i = worker; performance.now() < deadline; i += inFlight) {
        const t0 = performance.now();
        try {
          await repo.incrementDetailedUsage(`${prefix}-u${i % USERS}`, 10, 5);
          latencies.push(performance.now() - t0);
        } catch {
          errors += 1;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const { lost, unacknowledged } = compare(latencies.length * PER_RECORD, await sumTotals(repo, prefix));
  return { mode: 'in-process', inFlight, perSecond: latencies.length / elapsed, p99: percentiles(Float64Array.from(latencies)).p99, errors, lost, unacknowledged };
}

async function overHttp(url: string, repo: TokenUsageRepository, inFlight: number, prefix: string): Promise<Cell> {
  // One fixed request per user, which each connection cycles through: autocannon then writes
  // prebuilt buffers (a setupRequest callback would rebuild every request, and the client's CPU is
  // taken from the same two cores as the server's).
  const requests = Array.from({ length: USERS }, (_, u) => ({
    body: JSON.stringify({ userId: `${prefix}-u${u}`, promptTokens: 10, completionTokens: 5 }),
  }));
  const result = await autocannon({
    url: `${url}/v1/usage`,
    connections: inFlight,
    duration: SECONDS,
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    requests,
  });
  const ok = result['2xx'];
  const { lost, unacknowledged } = compare(ok * PER_RECORD, await sumTotals(repo, prefix));
  return { mode: 'HTTP', inFlight, perSecond: ok / (result.duration || SECONDS), p99: result.latency.p99, errors: result.errors + result.non2xx, lost, unacknowledged };
}

function compare(acknowledged: number, stored: number): { lost: number; unacknowledged: number } {
  return { lost: Math.max(0, acknowledged - stored), unacknowledged: Math.max(0, stored - acknowledged) };
}

async function spawnServer(moduleDir: string, moduleExt: string, redisUrl: string, prefix: string): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const port = await freeLoopbackPort();
  const main = resolve(moduleDir, `service/main${moduleExt}`);
  const profile = CPU_PROF_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`];
  const child = spawn(process.execPath, [...profile, ...(moduleExt === '.ts' ? ['--import', 'tsx', main] : [main])], {
    env: {
      PATH: process.env['PATH'] ?? '',
      TOKEN_USAGE_HOST: '127.0.0.1',
      TOKEN_USAGE_PORT: String(port),
      TOKEN_USAGE_API_KEYS: `bench:record:${KEY}`,
      TOKEN_STATS_KEY_PREFIX: prefix,
      REDIS_URL: redisUrl,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt += 1) {
    if (child.exitCode !== null) throw new Error('the server exited before it was ready');
    const ready = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    if (ready) break;
    if (attempt > 200) throw new Error('the server did not become ready');
    await new Promise((done) => setTimeout(done, 100));
  }
  child.stdout?.resume();
  return { url, pid: child.pid as number, stop: async () => void (child.kill('SIGTERM'), await exited) };
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(): Promise<void> {
  const library = await loadLibrary();
  const redis = await startRedis();
  const prefix = `bench-http-${Date.now()}`;
  const repo = library.createTokenUsageRepository({ config: { redis: { url: redis.url }, keyPrefix: prefix, logLevel: 'warn' } });
  const server = await spawnServer(library.moduleDir, library.moduleExt, redis.url, prefix);
  const cells: Cell[] = [];
  try {
    await inProcess(repo, 64, `${prefix}-warm`); // warm the JIT and the script cache on both sides
    await overHttp(server.url, repo, 64, `${prefix}-warmh`);
    const pids = { server: server.pid, redis: redis.pid };
    for (const inFlight of LEVELS) {
      cells.push(await measured(pids, () => inProcess(repo, inFlight, `${prefix}-lib${inFlight}`)));
      cells.push(await measured(pids, () => overHttp(server.url, repo, inFlight, `${prefix}-http${inFlight}`)));
      console.log(cells.slice(-2).map((c) => `${c.mode} @${c.inFlight}: ${fmt(c.perSecond)}/s p99 ${fmt(c.p99, 2)} ms`).join(' | '));
    }
  } finally {
    await server.stop();
    await repo.close();
    await redis.stop();
  }
  const cpu = (c: Cell): string => (c.cpu === undefined ? '–' : `${c.cpu.client} / ${c.cpu.server} / ${c.cpu.redis}`);
  const us = (c: Cell): string => (c.perRecord === undefined ? '–' : `${fmt(c.perRecord.worker)} / ${fmt(c.perRecord.redis)}`);
  const busy = (c: Cell): string => (c.machine === undefined ? '–' : `${c.machine.busy} % / ${fmt(c.machine.load, 1)}`);
  const rows = LEVELS.map((inFlight) => {
    const lib = cells.find((c) => c.mode === 'in-process' && c.inFlight === inFlight) as Cell;
    const http = cells.find((c) => c.mode === 'HTTP' && c.inFlight === inFlight) as Cell;
    return `| ${inFlight} | ${fmt(lib.perSecond)} | ${fmt(lib.p99, 2)} | ${fmt(http.perSecond)} | ${fmt(http.p99, 2)} | ${fmt((100 * http.perSecond) / lib.perSecond)} % | ${lib.errors}/${http.errors} | ${lib.lost}/${http.lost} | ${fmt(http.unacknowledged / PER_RECORD)} | ${cpu(lib)} | ${cpu(http)} | ${us(lib)} | ${us(http)} | ${busy(lib)} | ${busy(http)} |`;
  });
  const table = [
    `${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, ${SECONDS} s per cell, POST /v1/usage (prompt + completion, one of ${USERS} users) vs \`incrementDetailedUsage\`. ${library.description}. Errors and lost are in-process/HTTP; lost = acknowledged tokens missing from Redis; cut off = HTTP records written but not yet answered when the run stopped. CPU = % of one core during the cell for the client process (the in-process loop, or autocannon) / the server process (idle in the in-process cells) / redis-server. µs/record = CPU µs per acknowledged record of the process doing the work (the in-process loop; the server) / of redis-server. Machine = % of all cores busy during the cell (every process on the machine, this run's and others') / 1-minute load average at its end.`,
    '',
    '| in flight | in-process records/s | in-process p99 ms | HTTP records/s | HTTP p99 ms | HTTP / in-process | errors | lost | cut off | CPU in-process | CPU HTTP | µs/record in-process | µs/record HTTP | machine in-process | machine HTTP |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
  console.log(`\n${table}`);
  const docs = resolve(import.meta.dirname, '../docs/benchmarks.md');
  const text = readFileSync(docs, 'utf8');
  const [open, close] = ['<!-- bench:http:start -->', '<!-- bench:http:end -->'];
  if (!text.includes(open)) throw new Error(`docs/benchmarks.md has no ${open} marker`);
  writeFileSync(docs, `${text.slice(0, text.indexOf(open) + open.length)}\n${table}\n${text.slice(text.indexOf(close))}`);
}

await main();
