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
import type { GuardedStream, StreamMeter, TokenUsageRepository, UsageErrorCode, UsagePages, UsageStore } from '../../src/index.js';
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
  /** A valid call, run first whatever the seed: every method's success path is reached. */
  readonly example?: unknown[] | undefined;
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

/** Like `optionsLike`, but a quarter of the time every field present and valid: many-field calls still reach their success path. */
const optionsOrValid = (fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> =>
  fc.oneof({ arbitrary: optionsLike(fields), weight: 3 }, { arbitrary: fc.record(fields), weight: 1 });
const recordOptions = optionsLike({ idempotencyKey: fc.string({ minLength: 1, maxLength: 8 }) });
const readOptions = optionsLike({ allowStale: fc.boolean() });
const usage = optionsOrValid({ promptTokens: fc.nat(20), completionTokens: fc.nat(20), totalTokens: fc.nat(60), cacheReadTokens: fc.nat(3), cacheWriteTokens: fc.nat(3), reasoningTokens: fc.nat(3) });
const isCounterRow = (v: unknown): boolean => isCounters(v) && typeof (v as { userId?: unknown }).userId === 'string';
const isWindow = (v: unknown): boolean =>
  isCounters(v) && ['windowStart', 'windowEnd'].every((k) => !Number.isNaN(Date.parse(String((v as Record<string, unknown>)[k]))));
const isProjection = (v: unknown): boolean => {
  const p = v as Record<string, unknown>;
  return isObject(v) && typeof p['cycleStartDate'] === 'string' && Number.isSafeInteger(p['totalTokens']) && Number.isFinite(p['ratePerDay']) && (p['limitReachedOn'] === null || typeof p['limitReachedOn'] === 'string');
};
const isTop = (v: unknown): boolean => {
  const t = v as { users?: unknown; scanned?: unknown; skipped?: unknown };
  return isObject(v) && Array.isArray(t.users) && t.users.every(isCounterRow) && Number.isSafeInteger(t.scanned) && Number.isSafeInteger(t.skipped);
};
/** A `usagePages` call drained (the pages are read lazily, so a failure may come from the iteration). */
const isDrainedPages = (v: unknown): boolean => Array.isArray((v as { rows?: unknown }).rows) && (v as { rows: unknown[] }).rows.every(isCounterRow);
/** A `guardStream` call iterated to its end: it completed and its usage was committed once (or refused as corrupt/overflowing). */
const isSettledStream = (v: unknown): boolean => {
  const { events, settlement } = v as { events: unknown[]; settlement: { end: string; action: string; error?: unknown } };
  const refused = settlement.action === 'failed' && settlement.error instanceof UsageError && WRITE_CODES.includes(settlement.error.code);
  return events.length === 2 && settlement.end === 'completed' && (settlement.action === 'committed' || refused);
};
const dayLike = maybe(fc.constantFrom(undefined, '2026-09-20', '2026-10-01', '2026-10-31', '2026-11-30'));

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
    // Its own user (outside the pool `userIdLike` draws from), so huge counts recorded for the pool
    // never make its commit an overflow.
    const held = await repo.reserve('fuzz-r', 10);
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
      { arbitrary: fc.constant(undefined).map(() => reservation), weight: 3 },
      fc.constant(undefined).map(() => ({ ...(reservation as object), tokens: -1 })),
      fc.constant(undefined).map(() => ({ ...(reservation as object), userId: 'lone\uD800' })),
      fc.constant(undefined).map(() => ({ ...(reservation as object), degraded: 'no' })),
      oddValue,
    );
  /** A meter as an SDK adapter builds one: the provider reports its usage and id at the end. */
  const meter = (): StreamMeter<unknown> => {
    let seen = 0;
    return {
      observe: () => void (seen += 1),
      finalUsage: () => (seen === 2 ? { promptTokens: 3, completionTokens: 2 } : undefined),
      partialUsage: () => undefined,
      responseId: () => undefined,
    };
  };
  const call = maybe(fc.constant(async () => ({ usage: { prompt_tokens: 1, completion_tokens: 2 } })));

  const stream = async () => (async function* () { yield 'a'; yield 'b'; })();
  const validCommand = () => ({
    userId: 'fuzz-d',
    cycle: { start: '2026-10-01', retainUntil: Date.now() + 86_400_000 },
    promptTokens: 2,
    completionTokens: 1,
    otherTokens: 0,
    idempotencyKeys: [],
    dedupeWindowMs: 3_600_000,
    releaseLease: null,
    rollupDay: '2026-10-01',
    details: { cacheReadTokens: 1 },
  });
  // 'fuzz-g' is outside the pool, so no huge count of the random calls has saturated it yet.
  const facadeExamples = (): Record<string, unknown[]> => ({
    incrementPromptTokens: ['fuzz-g', 1],
    incrementCompletionTokens: ['fuzz-g', 1],
    incrementTotalUsage: ['fuzz-g', 1],
    incrementDetailedUsage: ['fuzz-g', 1, 1, undefined, { idempotencyKey: 'example' }],
    recordBuffered: [{ userId: 'fuzz-f', promptTokens: 1 }],
    getUsageStats: ['fuzz-g'],
    resetUsage: ['fuzz-g', '2026-11-15'],
    setUsageLimit: ['fuzz-g', 100_000],
    checkUsageLimit: ['fuzz-g', undefined, { allowStale: true }],
    reserve: ['fuzz-s', 1, { leaseMs: 600_000 }],
    commit: [reservation, { promptTokens: 1, completionTokens: 1, cacheReadTokens: 1 }],
    release: [reservation],
    canConsume: ['fuzz-g', 1],
    guard: ['fuzz-s', { estimateTokens: 5, leaseMs: 600_000 }, async () => ({ usage: { prompt_tokens: 1, completion_tokens: 2 } })],
    guardStream: ['fuzz-s', { estimateTokens: 5, leaseMs: 600_000 }, stream, meter()],
    usageHistory: ['fuzz-g', { from: '2026-10-01', to: '2026-10-31' }],
    projectUsage: ['fuzz-g'],
    top: ['2026-10-01', 5, { by: 'limit' }],
    usagePages: ['2026-10-01', { batchSize: 10 }],
    flush: [],
    healthCheck: [],
    metrics: [],
    alertsIdle: [],
    verifyConsistency: [{ userId: 'fuzz-g' }],
    sweepAlerts: ['2026-10-01'],
  });
  const storeExamples = (): Record<string, unknown[]> => ({
    recordUsage: [validCommand()],
    recordUsageBatch: [[validCommand()]],
    readUsage: [{ userId: 'fuzz-d', cycle: '2026-10-01' }, { allowStale: true }],
    resetUsage: [{ userId: 'fuzz-d', cycle: '2026-10-01' }],
    setLimit: [{ userId: 'fuzz-b', limit: 100, cycle: null }],
    reserve: [{ userId: 'fuzz-b', cycle: { start: '2026-10-01', retainUntil: null }, lease: { id: 'fuzz-lease', tokens: 1 }, leaseMs: 600_000 }],
    releaseLease: [{ userId: 'fuzz-b', cycle: '2026-10-01', lease: { id: 'fuzz-lease', tokens: 1 } }],
  });

  const facade = (): Target[] => {
    const examples = facadeExamples();
    const r = repo as unknown as Record<string, Call>;
    const m = (name: string, args: fc.Arbitrary<unknown>[], documented: (v: unknown) => boolean, codes = WRITE_CODES): Target => ({
      name: `repo.${name}`,
      example: examples[name],
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
          [optionsLike({ userId: fc.constant('fuzz-f'), promptTokens: fc.nat(9), completionTokens: fc.nat(9), totalTokens: fc.nat(30), cycleStartDate: fc.constant('2026-10-01'), idempotencyKey: fc.string({ minLength: 1, maxLength: 4 }) })],
          isVoid,
        ),
        settle: () => repo.flush(),
      },
      m('getUsageStats', [userIdLike, dateLike, readOptions], isCounters),
      m('resetUsage', [userIdLike, dateLike], isVoid),
      m('setUsageLimit', [userIdLike, maybe(fc.nat(2_000)), dateLike], isVoid),
      m('checkUsageLimit', [userIdLike, dateLike, readOptions], isObject),
      m('reserve', [userIdLike, countLike, optionsLike({ cycleStartDate: fc.constant('2026-10-01'), leaseMs: fc.integer({ min: 600_000, max: 3_600_000 }), idempotencyKey: fc.string({ minLength: 1, maxLength: 4 }) })], isObject),
      m('commit', [reservationLike(), usage, optionsOrValid({ idempotencyKey: fc.string({ minLength: 1, maxLength: 8 }) })], isRecordResult),
      m('release', [reservationLike()], isBoolean),
      m('canConsume', [userIdLike, countLike, dateLike], isObject),
      m(
        'guard',
        [userIdLike, optionsLike({ estimateTokens: fc.nat(20), idempotencyKey: fc.string({ minLength: 1, maxLength: 4 }), leaseMs: fc.constant(600_000), signal: fc.constant(new AbortController().signal), promptTokens: fc.nat(5) }), call],
        isObject,
        [...WRITE_CODES, 'USAGE.QUOTA_EXCEEDED'],
      ),
      {
        ...m(
          'guardStream',
          [
            // Users without a limit, outside the pool: a grant is the common case.
            maybe(fc.constantFrom('fuzz-s', 'fuzz-t')),
            optionsOrValid({ estimateTokens: fc.nat(20), idempotencyKey: fc.string({ minLength: 1, maxLength: 4 }), leaseMs: fc.constant(600_000), signal: fc.constant(new AbortController().signal), promptTokens: fc.nat(5), cycleStartDate: fc.constant('2026-10-01') }),
            maybe(fc.constant(stream)),
            maybe(fc.constant(null).map(() => meter())),
          ],
          isSettledStream,
          [...WRITE_CODES, 'USAGE.QUOTA_EXCEEDED'],
        ),
        // Iterates the metered stream to its end, so its usage is committed before the next baseline.
        call: async (...a) => {
          const stream = (await (repo.guardStream as unknown as Call)(...a)) as GuardedStream<unknown>;
          const events: unknown[] = [];
          for await (const event of stream) events.push(event);
          return { events, settlement: await stream.settled };
        },
      },
      m('usageHistory', [userIdLike, optionsLike({ from: dayLike, to: dayLike, granularity: fc.constantFrom('day', 'cycle'), timeZone: fc.constant('UTC') })], (v) => Array.isArray(v) && v.every(isWindow), VALIDATION),
      m('projectUsage', [userIdLike, dateLike], isProjection, VALIDATION),
      m('top', [dateLike, maybe(fc.integer({ min: 1, max: 1_000 })), optionsLike({ by: fc.constantFrom('total', 'limit'), batchSize: fc.integer({ min: 1, max: 50 }), onPage: fc.constant(() => undefined) })], isTop, VALIDATION),
      {
        ...m('usagePages', [dateLike, optionsLike({ batchSize: fc.integer({ min: 1, max: 50 }) })], isDrainedPages, VALIDATION),
        call: async (...a) => {
          const pages = (repo.usagePages as unknown as Call)(...a) as unknown as UsagePages;
          const rows: unknown[] = [];
          for await (const page of pages.pages) rows.push(...page);
          return { rows };
        },
      },
      m('flush', [], isVoid),
      m('healthCheck', [], (v) => (v as { status?: unknown }).status === 'healthy'),
      m('metrics', [], (v) => typeof v === 'string' && v.includes('token_usage_operations_total')),
      m('alertsIdle', [], isVoid),
      m(
        'verifyConsistency',
        [
          fc.oneof(
            { arbitrary: optionsLike({ userId: fc.constant('fuzz-a'), repair: fc.constant(false), allCycles: fc.boolean(), batchSize: fc.integer({ min: 1, max: 50 }), maxFindings: fc.nat(5), onProgress: fc.constant(() => undefined), treatExcessAsUnattributed: fc.boolean() }), weight: 3 },
            // One user's check takes no scan options (batchSize, onProgress): refused as unknown there.
            fc.record({ userId: fc.constant('fuzz-a'), repair: fc.constant(false), maxFindings: fc.nat(5), treatExcessAsUnattributed: fc.boolean() }, { requiredKeys: ['userId'] }),
            fc.record({ repair: fc.constant(false), allCycles: fc.boolean(), batchSize: fc.integer({ min: 1, max: 50 }), maxFindings: fc.nat(5), onProgress: fc.constant(() => undefined) }, { requiredKeys: [] }),
          ),
        ],
        isObject,
        VALIDATION,
      ),
      m('sweepAlerts', [dateLike, optionsLike({ batchSize: fc.integer({ min: 1, max: 50 }), onProgress: fc.constant(() => undefined) })], isObject, VALIDATION),
    ];
  };

  const command = (): fc.Arbitrary<unknown> =>
    optionsOrValid({
      // Its own user: the facade's huge counts for the pool's users would make every record an overflow.
      userId: fc.constant('fuzz-d'),
      cycle: fc.constant({ start: '2026-10-01', retainUntil: Date.now() + 86_400_000 }),
      promptTokens: fc.nat(9),
      completionTokens: fc.nat(9),
      otherTokens: fc.nat(9),
      idempotencyKeys: fc.constant([]),
      dedupeWindowMs: fc.constant(3_600_000),
      releaseLease: fc.constant(null),
      rollupDay: fc.constant('2026-10-01'),
      details: fc.record({ cacheReadTokens: fc.nat(3), cacheWriteTokens: fc.nat(3), reasoningTokens: fc.nat(3) }, { requiredKeys: [] }),
    });
  const ref = optionsLike({ userId: fc.constant('fuzz-d'), cycle: fc.constant('2026-10-01') });

  const decorators = (): Target[] =>
    stores.slice(0, 3).flatMap((store): Target[] => {
      const name = store.constructor.name;
      const s = store as unknown as Record<string, Call>;
      const examples = storeExamples();
      const m = (method: string, args: fc.Arbitrary<unknown>[], documented: (v: unknown) => boolean): Target => ({
        name: `${name}.${method}`,
        example: examples[method],
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
        m('reserve', [optionsOrValid({ userId: fc.constant('fuzz-b'), cycle: fc.constant({ start: '2026-10-01', retainUntil: null }), lease: fc.constant({ id: 'fuzz-lease', tokens: 1 }), leaseMs: fc.constant(600_000) })], isObject),
        m('releaseLease', [optionsLike({ userId: fc.constant('fuzz-b'), cycle: fc.constant('2026-10-01'), lease: fc.constant({ id: 'fuzz-lease', tokens: 1 }) })], isBoolean),
      ];
    });

  const recorderTargets = (): Target[] => [
    {
      name: 'BufferedUsageRecorder.record',
      call: (input) => recorder.record(input as never),
      args: fc.tuple(optionsLike({ userId: fc.constant('fuzz-e'), promptTokens: fc.nat(9), completionTokens: fc.nat(9), unattributedTokens: fc.nat(9), cycleStartDate: fc.constant('2026-10-01'), idempotencyKey: fc.string({ minLength: 1, maxLength: 4 }) })),
      codes: WRITE_CODES,
      documented: isVoid,
      example: [{ userId: 'fuzz-e', promptTokens: 1, cycleStartDate: '2026-10-01' }],
      settle: () => recorder.flush(),
    },
    { name: 'BufferedUsageRecorder.flush', call: () => recorder.flush(), args: fc.constant([]), example: [], codes: WRITE_CODES, documented: isVoid },
    { name: 'BufferedUsageRecorder.deadLetters', call: async () => recorder.deadLetters(), args: fc.constant([]), example: [], codes: [], documented: Array.isArray },
  ];

  // Every TTL the calls can set (leases, idempotency keys) outlives the run: a key expiring between two
  // snapshots would look like a change.
  it('every method succeeds as documented or rejects with a documented code, and a rejection changes no byte', async () => {
    const targets = [...facade(), ...decorators(), ...recorderTargets()];
    expect(targets.filter((t) => t.example === undefined).map((t) => t.name), 'targets without a valid example').toEqual([]);
    const counts = { ok: 0, rejected: 0 };
    const succeeded = new Set<string>();
    /** The last documented rejection of each method, to say why a success path was never reached. */
    const lastRejection = new Map<string, string>();
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
            lastRejection.set(target.name, `${error.code} ${error.message}`);
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
          succeeded.add(target.name);
          expect(target.documented(value), `${target.name} resolved with an undocumented value`).toBe(true);
          await target.settle?.();
          await repo.alertsIdle();
        }),
        { numRuns: RUNS, seed: Number(process.env['FUZZ_SEED'] ?? 8), examples: target.example === undefined ? [] : [[target.example]] },
      );
    }
    // Every method's success path was reached (a call that can only reject tests nothing of its success).
    const neverOk = targets.map((t) => t.name).filter((name) => !succeeded.has(name));
    expect(neverOk.map((name) => `${name}: ${lastRejection.get(name)}`)).toEqual([]);
    // Both sides of the property were exercised.
    expect(counts.ok).toBeGreaterThan(targets.length);
    expect(counts.rejected).toBeGreaterThan(targets.length * 5);
  }, 60_000);
});
