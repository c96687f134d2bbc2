/**
 * What the daily rollup costs on the record path: `npx tsx bench/rollup-cost.ts`.
 *
 * Runs the record script as it was before the rollup (taken from git at BENCH_BASE_REV, default
 * d95c974) and the current one side by side on one redis-server, in alternating blocks under the same
 * noise: client-side ops/s at 64 in flight, and Redis' own CPU per call (`INFO commandstats`,
 * usec_per_call of EVALSHA, which a noisy Node process does not distort). Also the memory of one
 * month of rollups, and the cost of computing the rollup day in Node.
 *
 *   BENCH_BASE_REV=d95c974  BENCH_BLOCKS=6  BENCH_CALLS=20000
 */
import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { createHash } from 'node:crypto';
import { IS_COUNTER_LUA } from '../src/adapters/redis/scripts/lua-helpers.js';
import { recordUsageScript } from '../src/adapters/redis/scripts/record-usage.js';
import { CycleCalendar } from '../src/domain/billing-cycle.js';
import { systemClock } from '../src/adapters/system-clock.js';
import type { CycleStart } from '../src/domain/billing-cycle.js';
import { LOOPBACK, startRedis } from './redis-server.js';

const BASE_REV = process.env['BENCH_BASE_REV'] ?? 'd95c974';
const BLOCKS = Number(process.env['BENCH_BLOCKS'] ?? 6);
const CALLS = Number(process.env['BENCH_CALLS'] ?? 20_000);
const IN_FLIGHT = 64;
const USERS = 10_000;

interface Variant {
  readonly label: string;
  readonly name: string;
  readonly argsFor: (i: number) => string[];
}

function baseScript(): { name: string; numberOfKeys: number; lua: string } {
  const source = execFileSync('git', ['show', `${BASE_REV}:src/adapters/redis/scripts/record-usage.ts`], { encoding: 'utf8' });
  const lua = /lua: `([\s\S]*)`,\n\};/.exec(source)?.[1];
  const name = /name: '(\w+)'/.exec(source)?.[1];
  const keys = /numberOfKeys: (\d+)/.exec(source)?.[1];
  if (lua === undefined || name === undefined || keys === undefined) throw new Error(`cannot read the record script at ${BASE_REV}`);
  // The source is a template literal whose only substitution is the shared is_counter helper.
  const text = lua.replace('${IS_COUNTER_LUA}', () => IS_COUNTER_LUA); // a function: the helper holds '$'
  // Its SHA must be the one pinned for it then, or this is not the script that ran in production.
  if (BASE_REV === 'd95c974' && createHash('sha1').update(text).digest('hex') !== '9fbdb43f423a4a0b3ab3bc52f320e0c21ad994bd') {
    throw new Error('the base record script does not match its pinned SHA');
  }
  return { name, numberOfKeys: Number(keys), lua: text };
}

async function block(client: Redis, variant: Variant): Promise<{ opsPerSec: number; usecPerCall: number }> {
  await client.config('RESETSTAT');
  const call = (client as unknown as Record<string, (...args: string[]) => Promise<unknown>>)[variant.name] as (
    ...args: string[]
  ) => Promise<unknown>;
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < CALLS) {
      const i = next++;
      await call.call(client, ...variant.argsFor(i));
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const seconds = (performance.now() - started) / 1000;
  const stats = (await client.info('commandstats')).split('\r\n').find((line) => line.startsWith('cmdstat_evalsha:')) ?? '';
  return { opsPerSec: CALLS / seconds, usecPerCall: Number(/usec_per_call=([\d.]+)/.exec(stats)?.[1] ?? NaN) };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

async function main(): Promise<void> {
  const redis = await startRedis();
  const client = new Redis({ host: LOOPBACK, port: redis.port, maxRetriesPerRequest: 1 });
  try {
    const base = baseScript();
    client.defineCommand(base.name, { numberOfKeys: base.numberOfKeys, lua: base.lua });
    client.defineCommand(recordUsageScript.name, { numberOfKeys: recordUsageScript.numberOfKeys, lua: recordUsageScript.lua });
    const retain = String(Math.ceil(Date.now() / 1000) + 86_400 * 100);
    const cycleKey = (i: number): string => `bench:u${i % USERS}:2026-12-01`;
    // The keys and arguments the facade sends for incrementDetailedUsage(user, 100, 50), without an idempotency key.
    const before: Variant = {
      label: `${base.name} (before)`,
      name: base.name,
      argsFor: (i) => [cycleKey(i), `${cycleKey(i)}:leases`, cycleKey(i), cycleKey(i), '100', '50', '0', '150', retain, '', '0', '86400000'],
    };
    const after: Variant = {
      label: `${recordUsageScript.name} (rollup)`,
      name: recordUsageScript.name,
      argsFor: (i) => [
        cycleKey(i), `${cycleKey(i)}:leases`, cycleKey(i), cycleKey(i), `${cycleKey(i)}:daily`,
        '100', '50', '0', '150', retain, '', '0', '86400000', '2026-12-02',
      ],
    };
    const results = new Map<string, { ops: number[]; usec: number[] }>([[before.label, { ops: [], usec: [] }], [after.label, { ops: [], usec: [] }]]);
    await block(client, before); // warm-up of both, untimed
    await block(client, after);
    for (let b = 0; b < BLOCKS; b += 1) {
      for (const variant of b % 2 === 0 ? [before, after] : [after, before]) {
        await client.flushall();
        const r = await block(client, variant);
        results.get(variant.label)?.ops.push(r.opsPerSec);
        results.get(variant.label)?.usec.push(r.usecPerCall);
        process.stdout.write(`  block ${b + 1} ${variant.label.padEnd(28)} ${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(8)} ops/s  redis ${r.usecPerCall.toFixed(2)} usec/call\n`);
      }
    }
    const [b, a] = [results.get(before.label), results.get(after.label)] as [{ ops: number[]; usec: number[] }, { ops: number[]; usec: number[] }];
    const ratio = (x: number[], y: number[]): number[] => x.map((v, i) => v / (y[i] as number));
    process.stdout.write(`\nmedian over ${BLOCKS} blocks of ${CALLS} calls at ${IN_FLIGHT} in flight:\n`);
    process.stdout.write(`  ${before.label}: ${Math.round(median(b.ops)).toLocaleString('en-US')} ops/s, redis ${median(b.usec).toFixed(2)} usec/call\n`);
    process.stdout.write(`  ${after.label}: ${Math.round(median(a.ops)).toLocaleString('en-US')} ops/s, redis ${median(a.usec).toFixed(2)} usec/call\n`);
    process.stdout.write(`  rollup/before: ops/s ${median(ratio(a.ops, b.ops)).toFixed(3)}x, redis usec/call ${median(ratio(a.usec, b.usec)).toFixed(3)}x\n`);

    // One month of rollups for one user: 31 days x 3 fields.
    await client.flushall();
    for (let day = 1; day <= 31; day += 1) {
      const date = `2026-12-${String(day).padStart(2, '0')}`;
      await (client as unknown as Record<string, (...args: string[]) => Promise<unknown>>)[after.name]?.call(
        client, ...after.argsFor(0).slice(0, 13), date,
      );
    }
    const [hashBytes, dailyBytes] = await Promise.all([client.memory('USAGE', cycleKey(0)), client.memory('USAGE', `${cycleKey(0)}:daily`)]);
    const encoding = await client.object('ENCODING', `${cycleKey(0)}:daily`);
    process.stdout.write(`\nmemory of one user-month: cycle hash ${hashBytes} B, daily rollup (31 days) ${dailyBytes} B (${String(encoding)})\n`);

    const calendar = new CycleCalendar(systemClock, { policy: 'monthly', timeZone: 'Europe/Berlin', retentionCycles: 3 });
    const start = calendar.currentStart() as CycleStart;
    const n = 1_000_000;
    const t0 = performance.now();
    for (let i = 0; i < n; i += 1) calendar.rollupDay(start);
    process.stdout.write(`rollupDay() in Node: ${(((performance.now() - t0) * 1e6) / n).toFixed(0)} ns per record\n`);
  } finally {
    client.disconnect();
    await redis.stop();
  }
}

await main();
