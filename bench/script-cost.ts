/**
 * Redis' own CPU per record and per reserve, for the scripts of this checkout and of a base revision,
 * side by side: `npx tsx bench/script-cost.ts` (or `npm run bench:scripts`).
 *
 * Both versions' scripts are loaded into one redis-server and called in alternating blocks under the
 * same noise, pipelined (200 calls per round trip) over 10,000 users, alone and as coalesced batches of
 * 64. The figure is `INFO commandstats` usec of EVALSHA divided by the records (or reserves) applied:
 * the server's execution time, which a busy Node process does not distort (a busy machine still
 * does, so compare the columns of one run, not runs). A raw `HINCRBY` from Lua is the yardstick.
 *
 *   BENCH_BASE_REV=a043d2a  BENCH_BLOCKS=5  BENCH_CALLS=40000
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { LOOPBACK, startRedis } from './redis-server.js';

const BASE_REV = process.env['BENCH_BASE_REV'] ?? 'a043d2a';
const BLOCKS = Number(process.env['BENCH_BLOCKS'] ?? 5);
const CALLS = Number(process.env['BENCH_CALLS'] ?? 40_000);
const USERS = 10_000;
const BATCH = 64;

interface Scripts {
  /** The revision's batch entry for one call: its shape (V3+, `callShape`) or kind and counts (V2). */
  readonly head: (kind: string, keyCount: number, argCount: number) => string[];
  readonly record: string;
  readonly reserve: string;
  readonly batch: string;
  readonly names: string;
  readonly recordName: string;
}

async function scriptsAt(dir: string): Promise<Scripts> {
  const load = async (file: string): Promise<Record<string, { name: string; lua: string }>> =>
    (await import(pathToFileURL(join(dir, 'src/adapters/redis/scripts', file)).href)) as Record<string, { name: string; lua: string }>;
  const record = (await load('record-usage.ts'))['recordUsageScript']!;
  const reserve = (await load('reserve.ts'))['reserveScript']!;
  const batchModule = await load('apply-batch.ts');
  const batch = batchModule['applyBatchScript']!;
  const callShape = batchModule['callShape'] as unknown as ((kind: string, keyCount: number, argCount: number) => string) | undefined;
  const head = callShape === undefined
    ? (kind: string, keyCount: number, argCount: number) => [kind, String(keyCount), String(argCount)]
    : (kind: string, keyCount: number, argCount: number) => [callShape(kind, keyCount, argCount)];
  return { head, record: record.lua, reserve: reserve.lua, batch: batch.lua, names: `${record.name}, ${reserve.name}, ${batch.name}`, recordName: record.name };
}

let lease = 0;
/**
 * What the store sends for incrementDetailedUsage(user, 100, 50) (no lease, no idempotency key), in the
 * layout of the given record script version: V10 put the optional keys and arguments last and leaves
 * them out; before, every call had 6 keys (placeholders included) and 9 arguments.
 */
function recordCall(u: number, recordName: string): { keys: string[]; args: string[] } {
  const k = `token_usage:u${u}:2026-12-01`;
  const retain = String(Math.floor(Date.now() / 1000) + 86_400 * 100);
  if (Number(/V(\d+)$/.exec(recordName)?.[1]) >= 10) return { keys: [k, `${k}:daily`], args: ['100', '50', '0', '150', retain, '2026-12-02'] };
  return { keys: [k, `${k}:leases`, `${k}:leases:total`, k, k, `${k}:daily`], args: ['100', '50', '0', '150', retain, '', '0', '3600000', '2026-12-02'] };
}
function reserveCall(u: number): { keys: string[]; args: string[] } {
  const k = `token_usage:u${u}:2026-12-01`;
  lease += 1;
  return { keys: [k, `token_usage:u${u}:policy`, `${k}:leases`, `${k}:leases:total`], args: [`l${lease}:200`, '200', '60000'] };
}
function batchOf(s: Scripts, kind: 'r' | 's', first: number): string[] {
  const keys: string[] = [];
  const argv: string[] = [String(BATCH)];
  for (let b = 0; b < BATCH; b += 1) {
    const call = kind === 'r' ? recordCall((first + b) % USERS, s.recordName) : reserveCall((first + b) % USERS);
    keys.push(...call.keys);
    argv.push(...s.head(kind, call.keys.length, call.args.length), ...call.args);
  }
  return [String(keys.length), ...keys, ...argv];
}

/** µs of Redis CPU per applied op for `calls` EVALSHAs of `lua`, each applying `perCall` ops. */
async function measure(client: Redis, lua: string, build: (i: number) => string[], calls: number, perCall: number): Promise<number> {
  await client.flushall();
  const sha = (await client.script('LOAD', lua)) as string;
  await client.config('RESETSTAT');
  for (let i = 0; i < calls; ) {
    const pipeline = client.pipeline();
    for (let j = 0; j < 200 && i < calls; j += 1, i += 1) {
      const [numberOfKeys, ...rest] = build(i);
      pipeline.evalsha(sha, numberOfKeys ?? '0', ...rest);
    }
    for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
  }
  const line = ((await client.info('commandstats')) as string).split('\n').find((l) => l.startsWith('cmdstat_evalsha:')) ?? '';
  return Number(/usec=(\d+)/.exec(line)?.[1]) / (calls * perCall);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tur-script-cost-'));
  const server = await startRedis();
  const client = new Redis({ host: LOOPBACK, port: server.port });
  try {
    execFileSync('sh', ['-c', `git archive ${BASE_REV} src/adapters/redis/scripts | tar -x -C ${dir}`]);
    const base = await scriptsAt(dir);
    const head = await scriptsAt(new URL('..', import.meta.url).pathname);
    const cells: Array<{ label: string; run: () => Promise<number> }> = [];
    for (const [version, s] of [['base', base], ['head', head]] as const) {
      cells.push(
        { label: `${version} record`, run: () => measure(client, s.record, (i) => { const c = recordCall(i % USERS, s.recordName); return [String(c.keys.length), ...c.keys, ...c.args]; }, CALLS, 1) },
        { label: `${version} record, batch of ${BATCH}`, run: () => measure(client, s.batch, (i) => batchOf(s, 'r', i * BATCH), CALLS / BATCH, BATCH) },
        { label: `${version} reserve`, run: () => measure(client, s.reserve, (i) => { const c = reserveCall(i % USERS); return ['4', ...c.keys, ...c.args]; }, CALLS, 1) },
        { label: `${version} reserve, batch of ${BATCH}`, run: () => measure(client, s.batch, (i) => batchOf(s, 's', i * BATCH), CALLS / BATCH, BATCH) },
      );
    }
    cells.push({ label: 'HINCRBY from Lua', run: () => measure(client, "return redis.call('HINCRBY', KEYS[1], 'total_tokens', ARGV[1])", (i) => ['1', `token_usage:u${i % USERS}:2026-12-01`, '150'], CALLS, 1) });
    const results = new Map<string, number[]>(cells.map((c) => [c.label, []]));
    for (let round = 0; round < BLOCKS; round += 1) {
      for (const cell of round % 2 === 0 ? cells : [...cells].reverse()) results.get(cell.label)!.push(await cell.run());
    }
    const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    console.log(`base ${BASE_REV}: ${base.names}\nhead: ${head.names}\n${BLOCKS} alternating blocks of ${CALLS} ops; median µs of Redis CPU per op\n`);
    console.log('| op | base µs | head µs | head / base |\n| --- | ---: | ---: | ---: |');
    for (const label of ['record', `record, batch of ${BATCH}`, 'reserve', `reserve, batch of ${BATCH}`]) {
      const b = median(results.get(`base ${label}`)!);
      const h = median(results.get(`head ${label}`)!);
      console.log(`| ${label} | ${b.toFixed(2)} | ${h.toFixed(2)} | ${(h / b).toFixed(2)}x |`);
    }
    console.log(`| HINCRBY from Lua (yardstick) | ${median(results.get('HINCRBY from Lua')!).toFixed(2)} | | |`);
  } finally {
    client.disconnect();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
