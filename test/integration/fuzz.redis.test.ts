import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  BufferedUsageRecorder,
  CachingUsageStore,
  createTokenUsageRepository,
  CycleCalendar,
  MeteredUsageStore,
  NoopMetrics,
  RetryingUsageStore,
  UsageAccounting,
  UsageError,
} from '../../src/index.js';
import type { TokenUsageRepository, UsageErrorCode, UsageStore } from '../../src/index.js';
import { systemClock } from '../../src/adapters/system-clock.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { countLike, dateLike, maybe, oddValue, optionsLike, userIdLike } from '../support/fuzz-values.js';
import { describeRedis, redisUrl, uniquePrefix } from '../support/redis.js';
import { rawRedis, realRedisStore } from '../support/redis-store.js';

/**
 * Closes the class of issue 8: every public method of the facade, the decorators and the recorder,
 * called with arbitrary arguments and options, either succeeds with its documented result or rejects
 * with a documented `UsageError` code, and a rejection leaves Redis byte-for-byte as it was (DUMP of
 * every key of the prefix before and after).
 */

const VALIDATION: readonly UsageErrorCode[] = [
  'USAGE.INVALID_USER_ID',
  'USAGE.INVALID_TOKEN_COUNT',
  'USAGE.INVALID_LIMIT',
  'USAGE.INVALID_CYCLE_DATE',
  'USAGE.INVALID_IDEMPOTENCY_KEY',
  'USAGE.INVALID_RESERVATION',
  'USAGE.INVALID_OPTION',
];
// A huge but valid count can push a seeded counter past 2^53 - 1: refused, writing nothing.
const WRITE_CODES: readonly UsageErrorCode[] = [...VALIDATION, 'USAGE.CORRUPT_DATA'];
// Bounded so the file runs in seconds; FUZZ_RUNS=500 FUZZ_SEED=<n> explores further.
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 25);

type Call = (...args: unknown[]) => Promise<unknown>;
interface Target {
  readonly name: string;
  readonly call: Call;
  readonly args: fc.Arbitrary<unknown[]>;
  readonly codes: readonly UsageErrorCode[];
  /** What a success must look like (its documented meaning). */
  readonly documented: (value: unknown) => boolean;
  /** Runs after a success that may have buffered writes (so the next baseline includes them). */
  readonly settle?: () => Promise<void>;
}

const isCounters = (v: unknown): boolean =>
  typeof v === 'object' && v !== null && ['promptTokens', 'completionTokens', 'totalTokens'].every((k) => Number.isSafeInteger((v as Record<string, unknown>)[k]));
const isRecordResult = (v: unknown): boolean =>
  v === null || (typeof v === 'object' && typeof (v as { duplicate?: unknown }).duplicate === 'boolean' && isCounters((v as { counters: unknown }).counters));
const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null;
const isVoid = (v: unknown): boolean => v === undefined;
const isBoolean = (v: unknown): boolean => typeof v === 'boolean';

const recordOptions = optionsLike({ idempotencyKey: fc.string({ minLength: 1, maxLength: 8 }) });
const readOptions = optionsLike({ allowStale: fc.boolean() });
const usage = optionsLike({ promptTokens: fc.nat(20), completionTokens: fc.nat(20), totalTokens: fc.nat(60) });

describeRedis('arbitrary input to every public method (fast-check, real Redis, DUMP before and after)', () => {
  const prefix = uniquePrefix();
  let raw: Redis;
  let repo: TokenUsageRepository;
  let recorder: BufferedUsageRecorder;
  const stores: UsageStore[] = [];
  /** A reservation that `commit` / `release` may get as it is, or mangled. */
  let reservation: unknown;

  /** Every key of the prefix with its DUMP (hex) and, to tell an expiry from a write, its PTTL. */
  async function snapshot(): Promise<Map<string, { dump: string; pttl: number; at: number }>> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, page] = await raw.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...page.filter((key) => key !== `${prefix}:__health__`));
    } while (cursor !== '0');
    const at = Date.now();
    const read = await Promise.all(keys.map(async (key) => [await raw.dumpBuffer(key), await raw.pttl(key)] as const));
    return new Map(keys.map((key, i) => [key, { dump: read[i]?.[0]?.toString('hex') ?? 'gone', pttl: read[i]?.[1] ?? -2, at }]));
  }

  beforeAll(async () => {
    raw = rawRedis();
    const config = {
      store: 'redis' as const,
      redis: { url: redisUrl },
      keyPrefix: prefix,
      hashTags: true,
      alerts: { enabled: true },
      cache: { ttlMs: 60_000 },
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
      buffer: { flushIntervalMs: 3_600_000 },
    };
    repo = createTokenUsageRepository({ config, logger: new RecordingLogger() });
    const base = () => realRedisStore({ prefix, hashTags: true });
    const calendar = new CycleCalendar(systemClock, { policy: 'monthly', timeZone: 'UTC', retentionCycles: 3 });
    stores.push(
      new CachingUsageStore(base(), { clock: systemClock, ttlMs: 60_000 }),
      new RetryingUsageStore(base(), { logger: new RecordingLogger(), maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 }),
      new MeteredUsageStore(base(), new NoopMetrics()),
    );
    const recorderStore = base();
    stores.push(recorderStore);
    recorder = new BufferedUsageRecorder(
      recorderStore,
      new UsageAccounting(recorderStore, calendar, { dedupeWindowMs: 3_600_000 }),
      { flushIntervalMs: 3_600_000 },
      new RecordingLogger(),
    );
    // Some state for every call to leave alone: usage, limits, claimed alerts, a live lease.
    await repo.setUsageLimit('fuzz-a', 1_000);
    await repo.incrementDetailedUsage('fuzz-a', 500, 350, undefined, { idempotencyKey: 'seed' });
    await repo.setUsageLimit('fuzz-b', 50, '2026-10-01');
    const held = await repo.reserve('fuzz-a', 10);
    if (!held.granted) throw new Error('expected a grant');
    reservation = held.reservation;
  });

  afterAll(async () => {
    await recorder?.close();
    await repo?.close();
    await Promise.all(stores.map((store) => store.close()));
    raw?.disconnect();
  });

  const reservationLike = (): fc.Arbitrary<unknown> =>
    fc.oneof(
      fc.constant(undefined).map(() => reservation),
      fc.constant(undefined).map(() => ({ ...(reservation as object), tokens: -1 })),
      fc.constant(undefined).map(() => ({ ...(reservation as object), userId: 'lone\uD800' })),
      fc.constant(undefined).map(() => ({ ...(reservation as object), degraded: 'no' })),
      oddValue,
    );
  const call = maybe(fc.constant(async () => ({ usage: { prompt_tokens: 1, completion_tokens: 2 } })));

  const facade = (): Target[] => {
    const r = repo as unknown as Record<string, Call>;
    const m = (name: string, args: fc.Arbitrary<unknown>[], documented: (v: unknown) => boolean, codes = WRITE_CODES): Target => ({
      name: `repo.${name}`,
      call: (...a) => (r[name] as Call).apply(repo, a),
      args: fc.tuple(...args),
      codes,
      documented,
    });
    return [
      m('incrementPromptTokens', [userIdLike, countLike, dateLike, recordOptions], isRecordResult),
      m('incrementCompletionTokens', [userIdLike, countLike, dateLike, recordOptions], isRecordResult),
      m('incrementTotalUsage', [userIdLike, countLike, dateLike, recordOptions], isRecordResult),
      m('incrementDetailedUsage', [userIdLike, countLike, countLike, dateLike, recordOptions], isRecordResult),
      {
        ...m(
          'recordBuffered',
          [optionsLike({ userId: fc.constant('fuzz-a'), promptTokens: fc.nat(9), completionTokens: fc.nat(9), totalTokens: fc.nat(30), cycleStartDate: fc.constant('2026-10-01'), idempotencyKey: fc.string({ minLength: 1, maxLength: 4 }) })],
          isVoid,
        ),
        settle: () => repo.flush(),
      },
      m('getUsageStats', [userIdLike, dateLike, readOptions], isCounters),
      m('resetUsage', [userIdLike, dateLike], isVoid),
      m('setUsageLimit', [userIdLike, maybe(fc.nat(2_000)), dateLike], isVoid),
      m('checkUsageLimit', [userIdLike, dateLike, readOptions], isObject),
      m('reserve', [userIdLike, countLike, optionsLike({ cycleStartDate: fc.constant('2026-10-01'), leaseMs: fc.integer({ min: 600_000, max: 3_600_000 }) })], isObject),
      m('commit', [reservationLike(), usage, recordOptions], isRecordResult),
      m('release', [reservationLike()], isBoolean),
      m('canConsume', [userIdLike, countLike, dateLike], isObject),
      m(
        'guard',
        [userIdLike, optionsLike({ estimateTokens: fc.nat(20), idempotencyKey: fc.string({ minLength: 1, maxLength: 4 }), leaseMs: fc.constant(600_000), signal: fc.constant(new AbortController().signal), promptTokens: fc.nat(5) }), call],
        isObject,
        [...WRITE_CODES, 'USAGE.QUOTA_EXCEEDED'],
      ),
      m('verifyConsistency', [optionsLike({ userId: fc.constant('fuzz-a'), repair: fc.constant(false), allCycles: fc.boolean(), batchSize: fc.integer({ min: 1, max: 50 }), maxFindings: fc.nat(5), onProgress: fc.constant(() => undefined), treatExcessAsUnattributed: fc.boolean() })], isObject, VALIDATION),
      m('sweepAlerts', [dateLike, optionsLike({ batchSize: fc.integer({ min: 1, max: 50 }), onProgress: fc.constant(() => undefined) })], isObject, VALIDATION),
    ];
  };

  const command = (): fc.Arbitrary<unknown> =>
    optionsLike({
      userId: fc.constant('fuzz-a'),
      cycle: fc.constant({ start: '2026-10-01', retainUntil: Date.now() + 86_400_000 }),
      promptTokens: fc.nat(9),
      completionTokens: fc.nat(9),
      otherTokens: fc.nat(9),
      idempotencyKeys: fc.constant([]),
      dedupeWindowMs: fc.constant(3_600_000),
      releaseLease: fc.constant(null),
    });
  const ref = optionsLike({ userId: fc.constant('fuzz-a'), cycle: fc.constant('2026-10-01') });

  const decorators = (): Target[] =>
    stores.slice(0, 3).flatMap((store): Target[] => {
      const name = store.constructor.name;
      const s = store as unknown as Record<string, Call>;
      const m = (method: string, args: fc.Arbitrary<unknown>[], documented: (v: unknown) => boolean): Target => ({
        name: `${name}.${method}`,
        call: (...a) => (s[method] as Call).apply(store, a),
        args: fc.tuple(...args),
        codes: WRITE_CODES,
        documented,
      });
      return [
        m('recordUsage', [command()], isRecordResult),
        m('recordUsageBatch', [maybe(fc.array(command(), { maxLength: 2 }))], Array.isArray),
        m('readUsage', [ref, readOptions], isCounters),
        m('resetUsage', [ref], isVoid),
        m('setLimit', [optionsLike({ userId: fc.constant('fuzz-b'), limit: fc.nat(100), cycle: fc.constant(null) })], isVoid),
        m('reserve', [optionsLike({ userId: fc.constant('fuzz-b'), cycle: fc.constant({ start: '2026-10-01', retainUntil: null }), lease: fc.constant({ id: 'fuzz-lease', tokens: 1 }), leaseMs: fc.constant(600_000) })], isObject),
        m('releaseLease', [optionsLike({ userId: fc.constant('fuzz-b'), cycle: fc.constant('2026-10-01'), lease: fc.constant({ id: 'fuzz-lease', tokens: 1 }) })], isBoolean),
      ];
    });

  const recorderTargets = (): Target[] => [
    {
      name: 'BufferedUsageRecorder.record',
      call: (input) => recorder.record(input as never),
      args: fc.tuple(optionsLike({ userId: fc.constant('fuzz-b'), promptTokens: fc.nat(9), completionTokens: fc.nat(9), unattributedTokens: fc.nat(9), cycleStartDate: fc.constant('2026-10-01'), idempotencyKey: fc.string({ minLength: 1, maxLength: 4 }) })),
      codes: WRITE_CODES,
      documented: isVoid,
      settle: () => recorder.flush(),
    },
  ];

  // Every TTL the calls can set (leases, idempotency keys) outlives the run: a key expiring between two
  // snapshots would look like a change.
  it('every method succeeds as documented or rejects with a documented code, and a rejection changes no byte', async () => {
    const targets = [...facade(), ...decorators(), ...recorderTargets()];
    const counts = { ok: 0, rejected: 0 };
    for (const target of targets) {
      await fc.assert(
        fc.asyncProperty(target.args, async (args) => {
          const before = await snapshot();
          let value: unknown;
          try {
            value = await target.call(...args);
          } catch (error) {
            counts.rejected += 1;
            if (!(error instanceof UsageError) || !target.codes.includes(error.code)) {
              throw new Error(`${target.name} rejected with ${String((error as Error)?.name)} ${String((error as { code?: string })?.code)}: ${(error as Error)?.message}`);
            }
            const after = await snapshot();
            const changed = [...new Set([...before.keys(), ...after.keys()])].filter((key) => {
              const [was, now] = [before.get(key), after.get(key)];
              // A key whose TTL ran out meanwhile (a short lease a valid call set earlier) was not written.
              const expired = was !== undefined && was.pttl >= 0 && (now === undefined || now.dump === 'gone') && was.pttl <= Date.now() - was.at + 100;
              return !expired && was?.dump !== now?.dump;
            });
            expect(changed, `${target.name} changed Redis although it rejected with ${error.code}`).toEqual([]);
            return;
          }
          counts.ok += 1;
          expect(target.documented(value), `${target.name} resolved with an undocumented value`).toBe(true);
          await target.settle?.();
          await repo.alertsIdle();
        }),
        { numRuns: RUNS, seed: Number(process.env['FUZZ_SEED'] ?? 8) },
      );
    }
    // Both sides of the property were exercised.
    expect(counts.ok).toBeGreaterThan(targets.length);
    expect(counts.rejected).toBeGreaterThan(targets.length * 5);
  }, 60_000);
});
