/**
 * Per-call CPU cost of the pieces on the record path, measured in isolation on the compiled library
 * (no Redis): `npx tsx bench/micro.ts`, and part of `npm run bench` (table in docs/benchmarks.md). Explains where the facade's and the in-memory store's
 * per-op time goes. Bounded: a fixed number of calls per piece, best of 5 batches.
 */
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { loadLibrary } from './lib.js';
import type { Library } from './lib.js';
import { COMPLETION, PROMPT, USER_IDS, USERS } from './rows.js';

type Calendar = typeof import('../src/domain/billing-cycle.js');
type Metrics = typeof import('../src/adapters/metrics/prometheus-metrics.js');
type Memory = typeof import('../src/adapters/memory/in-memory-usage-store.js');
type Accounting = typeof import('../src/domain/usage-accounting.js');
type Keys = typeof import('../src/adapters/redis/keys.js');
type Noop = typeof import('../src/adapters/metrics/noop-metrics.js');

const N = 200_000;

async function nsPerCall(fn: (i: number) => unknown, async = false): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let batch = 0; batch < 5; batch++) {
    const t0 = performance.now();
    if (async) for (let i = 0; i < N; i++) await fn(i);
    else for (let i = 0; i < N; i++) fn(i);
    best = Math.min(best, ((performance.now() - t0) * 1e6) / N);
  }
  return best;
}

export type MicroCost = readonly [name: string, nsPerCall: number];

/** Per-call costs of the record path's pieces, on the loaded library. */
export async function microCosts(lib: Library): Promise<MicroCost[]> {
  const load = <T>(p: string): Promise<T> => import(pathToFileURL(join(lib.moduleDir, `${p}${lib.moduleExt}`)).href) as Promise<T>;
  const { CycleCalendar } = await load<Calendar>('domain/billing-cycle');
  const { PrometheusMetrics } = await load<Metrics>('adapters/metrics/prometheus-metrics');
  const { InMemoryUsageStore } = await load<Memory>('adapters/memory/in-memory-usage-store');
  const { UsageAccounting } = await load<Accounting>('domain/usage-accounting');
  const { createKeyBuilder } = await load<Keys>('adapters/redis/keys');
  const { NoopMetrics } = await load<Noop>('adapters/metrics/noop-metrics');
  const repoNoMetrics = lib.createTokenUsageRepository({ config: { store: 'memory', logLevel: 'silent' }, metrics: new NoopMetrics() });

  const clock = { now: () => Date.now() };
  const calendar = new CycleCalendar(clock, { policy: 'monthly', timeZone: 'UTC', retentionCycles: 3 });
  const metrics = new PrometheusMetrics({});
  const store = new InMemoryUsageStore({ clock });
  const accounting = new UsageAccounting(store, calendar, { dedupeWindowMs: 86_400_000 });
  const repo = lib.createTokenUsageRepository({ config: { store: 'memory', logLevel: 'silent' } });
  const keys = createKeyBuilder({ prefix: 'token_usage', hashTags: false });
  const input = (i: number) => ({ userId: USER_IDS[i % USERS] as string, promptTokens: PROMPT, completionTokens: COMPLETION });
  const command = accounting.prepare(input(0));
  if (command === null) throw new Error('unexpected null command');

  const rows: MicroCost[] = [
    ['CycleCalendar.currentStart()', await nsPerCall(() => calendar.currentStart())],
    ['CycleCalendar.resolve(undefined) (currentStart + retainUntil)', await nsPerCall(() => calendar.resolve(undefined))],
    ['UsageAccounting.prepare(input) (validation + resolve + command)', await nsPerCall((i) => accounting.prepare(input(i)))],
    ['key building: cycle + leases keys', await nsPerCall((i) => keys.cycle(USER_IDS[i % USERS] as never, command.cycle.start) + keys.leases(USER_IDS[i % USERS] as never, command.cycle.start))],
    ['key building: idempotency key (sha1)', await nsPerCall((i) => keys.idempotency(USER_IDS[i % USERS] as never, `g:${i}` as never))],
    ['PrometheusMetrics.operation(record, ok, s) (counter inc + histogram observe)', await nsPerCall(() => metrics.operation('record', 'ok', 0.001))],
    ['InMemoryUsageStore.recordUsage(command) (awaited)', await nsPerCall(() => store.recordUsage(command), true)],
    ['UsageAccounting.record(input) on the in-memory store (awaited)', await nsPerCall((i) => accounting.record(input(i)), true)],
    ['facade incrementDetailedUsage, in-memory (awaited, 1 in flight)', await nsPerCall((i) => repo.incrementDetailedUsage(USER_IDS[i % USERS] as string, PROMPT, COMPLETION), true)],
    ['facade incrementDetailedUsage, in-memory, NoopMetrics (awaited, 1 in flight)', await nsPerCall((i) => repoNoMetrics.incrementDetailedUsage(USER_IDS[i % USERS] as string, PROMPT, COMPLETION), true)],
    ['crypto.randomUUID() (one per reserve, one per buffered sum)', await nsPerCall(() => globalThis.crypto.randomUUID())],
  ];
  await repo.close();
  await repoNoMetrics.close();
  return rows;
}

export const MICRO_CALLS = N;

async function main(): Promise<void> {
  const lib = await loadLibrary();
  const rows = await microCosts(lib);
  const width = Math.max(...rows.map(([name]) => name.length));
  process.stdout.write(`${lib.description}\n${N.toLocaleString('en-US')} calls, best of 5 batches, ns per call\n`);
  for (const [name, ns] of rows) process.stdout.write(`${name.padEnd(width)}  ${ns.toFixed(0).padStart(6)} ns  (${Math.round(1e9 / ns).toLocaleString('en-US')} /s)\n`);
}

// Run directly (`npx tsx bench/micro.ts`), not when imported by run.ts.
if (process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`${String(error instanceof Error ? error.stack : error)}\n`);
      process.exit(1);
    },
  );
}
