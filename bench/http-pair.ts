/**
 * Two builds of the HTTP service side by side: both servers run at the same time on the same
 * throw-away Redis, each driven by its own autocannon at the same fixed rate, and each round reports
 * the server CPU µs per acknowledged request (/proc) of both. Running them together is the point: on a
 * shared machine the CPU per request drifts between runs, and only servers measured in the same
 * seconds compare. Each ref is exported with `git archive` (src/, tsconfig, package.json) into a
 * temporary directory and compiled with the project's tsc, as bench/lib.ts does for the working tree.
 *
 *   npx tsx bench/http-pair.ts a043d2a HEAD                 # 2,000 requests/s each, 16 connections
 *   BENCH_PAIR_RATE=6000 BENCH_PAIR_CONNECTIONS=64 npx tsx bench/http-pair.ts main HEAD
 *   BENCH_PAIR_ENV='TOKEN_STATS_LOG_LEVEL=warn,TOKEN_USAGE_MAX_EVENT_LOOP_DELAY_MS=0' npx tsx bench/http-pair.ts main HEAD
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { freeLoopbackPort, startRedis } from './redis-server.js';
import { median } from './stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const KEY = 'bench-pair-record-key-000';
const RATE = Number(process.env['BENCH_PAIR_RATE'] ?? 2000);
const CONNECTIONS = Number(process.env['BENCH_PAIR_CONNECTIONS'] ?? 16);
const SECONDS = Number(process.env['BENCH_PAIR_SECONDS'] ?? 4);
const ROUNDS = Number(process.env['BENCH_PAIR_ROUNDS'] ?? 5);
const EXTRA_ENV = Object.fromEntries(
  (process.env['BENCH_PAIR_ENV'] ?? '')
    .split(',')
    .filter((pair) => pair.includes('='))
    .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
);

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function build(ref: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tur-pair-'));
  const files = ['src', 'tsconfig.json', 'tsconfig.build.json', 'package.json'];
  const archive = execFileSync('git', ['-C', ROOT, 'archive', ref, ...files]);
  execFileSync('tar', ['-x', '-C', dir], { input: archive });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  const tsc = join(ROOT, 'node_modules', '.bin', 'tsc');
  execFileSync(tsc, ['-p', join(dir, 'tsconfig.build.json'), '--outDir', join(dir, 'dist'), '--declaration', 'false'], { stdio: 'inherit' });
  return join(dir, 'dist');
}

async function startServer(dist: string, redisUrl: string, prefix: string) {
  const port = await freeLoopbackPort();
  const child = spawn(process.execPath, [join(dist, 'service/main.js')], {
    env: {
      PATH: process.env['PATH'] ?? '',
      TOKEN_USAGE_HOST: '127.0.0.1',
      TOKEN_USAGE_PORT: String(port),
      TOKEN_USAGE_API_KEYS: `bench:record:${KEY}`,
      TOKEN_STATS_KEY_PREFIX: prefix,
      REDIS_URL: redisUrl,
      ...EXTRA_ENV,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; !(await fetch(`${url}/readyz`).then((r) => r.ok, () => false)); attempt += 1) {
    if (child.exitCode !== null || attempt > 200) throw new Error(`the server of ${dist} did not become ready`);
    await new Promise((done) => setTimeout(done, 100));
  }
  return { url, pid: child.pid as number, stop: async () => void (child.kill('SIGTERM'), await exited) };
}

function load(url: string, seconds: number) {
  const requests = Array.from({ length: 100 }, (_, u) => ({ body: JSON.stringify({ userId: `u${u}`, promptTokens: 10, completionTokens: 5 }) }));
  return autocannon({
    url: `${url}/v1/usage`,
    connections: CONNECTIONS,
    overallRate: RATE,
    duration: seconds,
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    requests,
  });
}

async function main(): Promise<void> {
  const refs = process.argv.slice(2);
  if (refs.length !== 2) throw new Error('usage: tsx bench/http-pair.ts <git ref A> <git ref B>');
  const dists = refs.map(build);
  const redis = await startRedis();
  const servers = await Promise.all(dists.map((dist, i) => startServer(dist, redis.url, `pair-${Date.now()}-${i}`)));
  const perRequest: number[][] = [[], []];
  try {
    await Promise.all(servers.map((s) => load(s.url, 2))); // warm the JIT and the script cache
    for (let round = 1; round <= ROUNDS; round += 1) {
      const before = servers.map((s) => cpuSeconds(s.pid));
      const results = await Promise.all(servers.map((s) => load(s.url, SECONDS)));
      const cells = servers.map((s, i) => {
        const result = results[i] as autocannon.Result;
        const us = ((cpuSeconds(s.pid) - (before[i] as number)) * 1e6) / result['2xx'];
        perRequest[i]?.push(us);
        return `${refs[i]}: ${Math.round(result['2xx'] / result.duration)}/s ${us.toFixed(1)} µs p99 ${result.latency.p99} ms errors ${result.errors + result.non2xx}`;
      });
      console.log(`round ${round} (load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}): ${cells.join(' | ')}`);
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await redis.stop();
  }
  refs.forEach((ref, i) => console.log(`${ref}: median ${median(perRequest[i] ?? []).toFixed(1)} µs of server CPU per request`));
}

await main();
