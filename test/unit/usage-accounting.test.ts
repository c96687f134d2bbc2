import { beforeEach, describe, expect, it } from 'vitest';
import { InMemoryUsageStore } from '../../src/adapters/memory/in-memory-usage-store.js';
import { CycleCalendar } from '../../src/domain/billing-cycle.js';
import type { CycleCalendarOptions } from '../../src/domain/billing-cycle.js';
import { isUsageError, ValidationError } from '../../src/domain/errors.js';
import type { UsageErrorCode } from '../../src/domain/errors.js';
import { callerIdempotencyKey, MAX_IDEMPOTENCY_KEY_LENGTH } from '../../src/domain/idempotency.js';
import { LimitPolicy } from '../../src/domain/limit-policy.js';
import { UsageAccounting } from '../../src/domain/usage-accounting.js';
import type { RecordUsageInput } from '../../src/domain/usage-accounting.js';
import type {
  BatchRecordResult,
  CycleRef,
  RecordOutcome,
  RecordUsageCommand,
  ReleaseCommand,
  ReserveCommand,
  ReserveOutcome,
  SetLimitCommand,
  UsageSnapshot,
  UsageStore,
} from '../../src/ports/usage-store.js';
import { FakeClock } from '../support/fake-clock.js';
import { RecordingLogger } from '../support/recording-logger.js';

const DAY_MS = 86_400_000;
const MAX = Number.MAX_SAFE_INTEGER;

type StoreCall =
  | { readonly method: 'recordUsage'; readonly command: RecordUsageCommand }
  | { readonly method: 'readUsage'; readonly ref: CycleRef }
  | { readonly method: 'resetUsage'; readonly ref: CycleRef }
  | { readonly method: 'setLimit'; readonly command: SetLimitCommand }
  | { readonly method: 'reserve'; readonly command: ReserveCommand }
  | { readonly method: 'releaseLease'; readonly command: ReleaseCommand }
  | { readonly method: 'close' };

const WRITE_METHODS: ReadonlySet<StoreCall['method']> = new Set([
  'recordUsage',
  'resetUsage',
  'setLimit',
  'reserve',
  'releaseLease',
]);

/** A `UsageStore` that records every call, then delegates to a real store. */
class RecordingStore implements UsageStore {
  readonly calls: StoreCall[] = [];
  readonly #inner: UsageStore;

  constructor(inner: UsageStore) {
    this.#inner = inner;
  }

  get writes(): StoreCall[] {
    return this.calls.filter((call) => WRITE_METHODS.has(call.method));
  }

  get recorded(): RecordUsageCommand[] {
    return this.calls.flatMap((call) => (call.method === 'recordUsage' ? [call.command] : []));
  }

  get limitsSet(): SetLimitCommand[] {
    return this.calls.flatMap((call) => (call.method === 'setLimit' ? [call.command] : []));
  }

  recordUsage(command: RecordUsageCommand): Promise<RecordOutcome> {
    this.calls.push({ method: 'recordUsage', command });
    return this.#inner.recordUsage(command);
  }

  recordUsageBatch(commands: readonly RecordUsageCommand[]): Promise<BatchRecordResult[]> {
    for (const command of commands) this.calls.push({ method: 'recordUsage', command });
    return this.#inner.recordUsageBatch(commands);
  }

  readUsage(ref: CycleRef): Promise<UsageSnapshot> {
    this.calls.push({ method: 'readUsage', ref });
    return this.#inner.readUsage(ref);
  }

  resetUsage(ref: CycleRef): Promise<void> {
    this.calls.push({ method: 'resetUsage', ref });
    return this.#inner.resetUsage(ref);
  }

  setLimit(command: SetLimitCommand): Promise<void> {
    this.calls.push({ method: 'setLimit', command });
    return this.#inner.setLimit(command);
  }

  reserve(command: ReserveCommand): Promise<ReserveOutcome> {
    this.calls.push({ method: 'reserve', command });
    return this.#inner.reserve(command);
  }

  releaseLease(command: ReleaseCommand): Promise<boolean> {
    this.calls.push({ method: 'releaseLease', command });
    return this.#inner.releaseLease(command);
  }

  close(): Promise<void> {
    this.calls.push({ method: 'close' });
    return this.#inner.close();
  }
}

/** The rejection of `promise`; fails the test when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return expect.unreachable('expected a rejection');
}

function expectValidationError(error: unknown, code: UsageErrorCode, field: string): ValidationError {
  expect(error).toBeInstanceOf(ValidationError);
  const e = error as ValidationError;
  expect(e.code).toBe(code);
  expect(e.field).toBe(field);
  expect(isUsageError(e, code)).toBe(true);
  return e;
}

/** What `record` returns when it counted: the counters after the record. */
function counted(promptTokens: number, completionTokens: number, totalTokens: number): RecordOutcome {
  return { duplicate: false, counters: { promptTokens, completionTokens, totalTokens } };
}

const NOW = '2024-01-15T12:00:00Z';
/** A dedupe window short enough to step past with the fake clock, and unlike the default. */
const DEDUPE_MS = 60_000;
const MONTHLY_UTC: CycleCalendarOptions = { policy: 'monthly', timeZone: 'UTC', retentionCycles: 3 };

interface Fixture {
  readonly clock: FakeClock;
  readonly inner: InMemoryUsageStore;
  readonly store: RecordingStore;
  readonly accounting: UsageAccounting;
  readonly limits: LimitPolicy;
}

function fixture(options: CycleCalendarOptions = MONTHLY_UTC, now: string = NOW): Fixture {
  const clock = new FakeClock(now);
  const inner = new InMemoryUsageStore({ clock });
  const store = new RecordingStore(inner);
  const calendar = new CycleCalendar(clock, options);
  return {
    clock,
    inner,
    store,
    accounting: new UsageAccounting(store, calendar, { dedupeWindowMs: DEDUPE_MS }),
    limits: new LimitPolicy(
      store,
      calendar,
      { leaseMs: 30_000, dedupeWindowMs: DEDUPE_MS, failurePolicy: 'fail-closed' },
      clock,
      new RecordingLogger(),
    ),
  };
}

describe('UsageAccounting.record: bad input writes nothing', () => {
  let f: Fixture;

  beforeEach(() => {
    f = fixture();
  });

  interface BadRecord {
    readonly label: string;
    readonly input: RecordUsageInput;
    readonly code: UsageErrorCode;
    readonly field: string;
  }

  const base = { userId: 'alice', promptTokens: 10, completionTokens: 5 } as const;

  const BAD_RECORDS: readonly BadRecord[] = [
    { label: 'empty userId', input: { ...base, userId: '' }, code: 'USAGE.INVALID_USER_ID', field: 'userId' },
    { label: 'null userId', input: { ...base, userId: null }, code: 'USAGE.INVALID_USER_ID', field: 'userId' },
    { label: 'undefined userId', input: { ...base, userId: undefined }, code: 'USAGE.INVALID_USER_ID', field: 'userId' },
    { label: 'numeric userId', input: { ...base, userId: 42 }, code: 'USAGE.INVALID_USER_ID', field: 'userId' },
    { label: 'userId with \\n', input: { ...base, userId: 'a\nb' }, code: 'USAGE.INVALID_USER_ID', field: 'userId' },
    {
      label: 'userId of 257 characters',
      input: { ...base, userId: 'u'.repeat(257) },
      code: 'USAGE.INVALID_USER_ID',
      field: 'userId',
    },
    { label: 'negative promptTokens', input: { ...base, promptTokens: -1 }, code: 'USAGE.INVALID_TOKEN_COUNT', field: 'promptTokens' },
    { label: 'fractional promptTokens', input: { ...base, promptTokens: 1.5 }, code: 'USAGE.INVALID_TOKEN_COUNT', field: 'promptTokens' },
    { label: 'NaN promptTokens', input: { ...base, promptTokens: Number.NaN }, code: 'USAGE.INVALID_TOKEN_COUNT', field: 'promptTokens' },
    { label: "string '5' promptTokens", input: { ...base, promptTokens: '5' }, code: 'USAGE.INVALID_TOKEN_COUNT', field: 'promptTokens' },
    { label: 'unsafe promptTokens', input: { ...base, promptTokens: 2 ** 53 }, code: 'USAGE.INVALID_TOKEN_COUNT', field: 'promptTokens' },
    {
      label: 'Infinity completionTokens',
      input: { ...base, completionTokens: Number.POSITIVE_INFINITY },
      code: 'USAGE.INVALID_TOKEN_COUNT',
      field: 'completionTokens',
    },
    {
      label: 'negative completionTokens',
      input: { ...base, completionTokens: -5 },
      code: 'USAGE.INVALID_TOKEN_COUNT',
      field: 'completionTokens',
    },
    {
      label: 'bigint completionTokens',
      input: { ...base, completionTokens: 5n },
      code: 'USAGE.INVALID_TOKEN_COUNT',
      field: 'completionTokens',
    },
    {
      label: 'negative unattributedTokens (reported as totalTokens, the facade argument)',
      input: { ...base, unattributedTokens: -1 },
      code: 'USAGE.INVALID_TOKEN_COUNT',
      field: 'totalTokens',
    },
    {
      label: 'fractional unattributedTokens',
      input: { ...base, unattributedTokens: 0.5 },
      code: 'USAGE.INVALID_TOKEN_COUNT',
      field: 'totalTokens',
    },
    // Only `undefined` means "absent": a null count is a caller bug, not zero.
    { label: 'null promptTokens', input: { ...base, promptTokens: null }, code: 'USAGE.INVALID_TOKEN_COUNT', field: 'promptTokens' },
    {
      label: 'null completionTokens',
      input: { ...base, completionTokens: null },
      code: 'USAGE.INVALID_TOKEN_COUNT',
      field: 'completionTokens',
    },
    {
      label: 'null unattributedTokens (reported as totalTokens)',
      input: { ...base, unattributedTokens: null },
      code: 'USAGE.INVALID_TOKEN_COUNT',
      field: 'totalTokens',
    },
    {
      label: 'all counts null',
      input: { userId: 'alice', promptTokens: null, completionTokens: null, unattributedTokens: null },
      code: 'USAGE.INVALID_TOKEN_COUNT',
      field: 'promptTokens',
    },
    {
      label: "cycleStartDate '2024-02-30'",
      input: { ...base, cycleStartDate: '2024-02-30' },
      code: 'USAGE.INVALID_CYCLE_DATE',
      field: 'cycleStartDate',
    },
    {
      label: "cycleStartDate '' (empty is not 'current')",
      input: { ...base, cycleStartDate: '' },
      code: 'USAGE.INVALID_CYCLE_DATE',
      field: 'cycleStartDate',
    },
    {
      label: 'numeric cycleStartDate 20240101',
      input: { ...base, cycleStartDate: 20240101 },
      code: 'USAGE.INVALID_CYCLE_DATE',
      field: 'cycleStartDate',
    },
    {
      label: "cycleStartDate '2024-01-01T00:00'",
      input: { ...base, cycleStartDate: '2024-01-01T00:00' },
      code: 'USAGE.INVALID_CYCLE_DATE',
      field: 'cycleStartDate',
    },
    {
      label: 'all-zero counts still validate the user',
      input: { userId: '' },
      code: 'USAGE.INVALID_USER_ID',
      field: 'userId',
    },
    {
      label: 'all-zero counts still validate the cycle date',
      input: { userId: 'alice', cycleStartDate: '2023-02-29' },
      code: 'USAGE.INVALID_CYCLE_DATE',
      field: 'cycleStartDate',
    },
    {
      label: 'all-zero counts still validate the idempotency key',
      input: { userId: 'alice', idempotencyKey: '' },
      code: 'USAGE.INVALID_IDEMPOTENCY_KEY',
      field: 'idempotencyKey',
    },
  ];

  it.each(BAD_RECORDS)('rejects $label without touching the store', async ({ input, code, field }) => {
    const error = await rejection(f.accounting.record(input));
    expectValidationError(error, code, field);
    expect(f.store.writes).toEqual([]);
    expect(f.store.calls).toEqual([]);
  });

  interface Overflow {
    readonly label: string;
    readonly input: RecordUsageInput;
  }

  const OVERFLOWS: readonly Overflow[] = [
    { label: 'prompt MAX + completion 1', input: { userId: 'alice', promptTokens: MAX, completionTokens: 1 } },
    { label: 'prompt 1 + completion MAX', input: { userId: 'alice', promptTokens: 1, completionTokens: MAX } },
    { label: 'prompt MAX-1 + unattributed 2', input: { userId: 'alice', promptTokens: MAX - 1, unattributedTokens: 2 } },
    { label: 'completion MAX + unattributed MAX', input: { userId: 'alice', completionTokens: MAX, unattributedTokens: MAX } },
    {
      label: 'three thirds of MAX, each safe, rounded up by one',
      input: {
        userId: 'alice',
        promptTokens: Math.ceil(MAX / 3),
        completionTokens: Math.ceil(MAX / 3),
        unattributedTokens: Math.ceil(MAX / 3),
      },
    },
  ];

  it.each(OVERFLOWS)('rejects a sum beyond MAX_SAFE_INTEGER ($label) as totalTokens, writing nothing', async ({ input }) => {
    const error = await rejection(f.accounting.record(input));
    const e = expectValidationError(error, 'USAGE.INVALID_TOKEN_COUNT', 'totalTokens');
    expect(e.value).toBeGreaterThan(MAX);
    expect(e.message).toContain(String(MAX));
    expect(f.store.calls).toEqual([]);
  });

  it('accepts a sum of exactly MAX_SAFE_INTEGER', async () => {
    const outcome = await f.accounting.record({ userId: 'alice', promptTokens: MAX - 10, completionTokens: 4, unattributedTokens: 6 });
    expect(outcome).toEqual(counted(MAX - 10, 4, MAX));
    expect(f.store.recorded).toHaveLength(1);
  });

  it('keeps earlier counters intact after a rejected record', async () => {
    await f.accounting.record({ userId: 'alice', promptTokens: 10, completionTokens: 5 });
    await rejection(f.accounting.record({ userId: 'alice', promptTokens: 7, completionTokens: -1 }));
    expect(f.store.writes).toHaveLength(1);
    expect(await f.accounting.stats('alice')).toEqual({ promptTokens: 10, completionTokens: 5, totalTokens: 15 });
  });
});

describe('UsageAccounting.record: all-zero records are no-ops', () => {
  const ZERO_RECORDS: readonly { label: string; input: RecordUsageInput }[] = [
    { label: 'no counts at all', input: { userId: 'alice' } },
    { label: 'explicit zeros', input: { userId: 'alice', promptTokens: 0, completionTokens: 0, unattributedTokens: 0 } },
    { label: 'negative zeros', input: { userId: 'alice', promptTokens: -0, completionTokens: -0 } },
    { label: 'zeros with an explicit cycle', input: { userId: 'alice', promptTokens: 0, cycleStartDate: '2024-03-01' } },
    { label: 'explicit undefined counts', input: { userId: 'alice', promptTokens: undefined, completionTokens: undefined, unattributedTokens: undefined } },
    { label: 'zeros with an idempotency key', input: { userId: 'alice', promptTokens: 0, idempotencyKey: 'resp-1' } },
  ];

  it.each(ZERO_RECORDS)('returns null and makes no store call for $label', async ({ input }) => {
    const f = fixture();
    expect(await f.accounting.record(input)).toBeNull();
    expect(f.store.calls).toEqual([]);
  });
});

describe('UsageAccounting.record: happy path', () => {
  it('adds prompt and completion, and their sum to the total', async () => {
    const f = fixture();
    expect(await f.accounting.record({ userId: 'alice', promptTokens: 10, completionTokens: 5 })).toEqual(counted(10, 5, 15));
    expect(f.store.recorded).toEqual([
      {
        userId: 'alice',
        cycle: { start: '2024-01-01', retainUntil: Date.parse('2024-05-05T00:00:00Z') },
        promptTokens: 10,
        completionTokens: 5,
        otherTokens: 0,
        idempotencyKeys: [],
        dedupeWindowMs: DEDUPE_MS,
        releaseLease: null,
        rollupDay: '2024-01-15', // the fixture clock's day, inside the cycle
      },
    ]);
  });

  it('adds prompt only or completion only', async () => {
    const f = fixture();
    expect(await f.accounting.record({ userId: 'alice', promptTokens: 7 })).toEqual(counted(7, 0, 7));
    expect(await f.accounting.record({ userId: 'alice', completionTokens: 3 })).toEqual(counted(7, 3, 10));
  });

  it('accumulates across records', async () => {
    const f = fixture();
    await f.accounting.record({ userId: 'alice', promptTokens: 10, completionTokens: 5 });
    expect(await f.accounting.record({ userId: 'alice', promptTokens: 1, completionTokens: 2 })).toEqual(counted(11, 7, 18));
    expect(f.store.recorded).toHaveLength(2);
  });

  it('adds unattributed tokens to the total only', async () => {
    const f = fixture();
    expect(await f.accounting.record({ userId: 'alice', unattributedTokens: 40 })).toEqual(counted(0, 0, 40));
    expect(f.store.recorded[0]).toMatchObject({ promptTokens: 0, completionTokens: 0, otherTokens: 40 });
  });

  it('adds prompt + completion + unattributed to the total in one store step', async () => {
    const f = fixture();
    expect(await f.accounting.record({ userId: 'alice', promptTokens: 3, completionTokens: 4, unattributedTokens: 5 })).toEqual(
      counted(3, 4, 12),
    );
    expect(f.store.recorded).toHaveLength(1);
    expect(f.store.recorded[0]).toMatchObject({ promptTokens: 3, completionTokens: 4, otherTokens: 5 });
  });

  it('keeps users apart', async () => {
    const f = fixture();
    await f.accounting.record({ userId: 'alice', promptTokens: 10 });
    await f.accounting.record({ userId: 'bob', completionTokens: 20 });
    expect(await f.accounting.stats('alice')).toEqual({ promptTokens: 10, completionTokens: 0, totalTokens: 10 });
    expect(await f.accounting.stats('bob')).toEqual({ promptTokens: 0, completionTokens: 20, totalTokens: 20 });
  });

  it('takes the cycle from the calendar when no date is given', async () => {
    const f = fixture(MONTHLY_UTC, '2024-02-29T23:59:59Z');
    await f.accounting.record({ userId: 'alice', promptTokens: 1 });
    f.clock.advance(1_000); // 2024-03-01T00:00:00Z: a new monthly cycle
    await f.accounting.record({ userId: 'alice', promptTokens: 2 });
    await f.accounting.record({ userId: 'alice', promptTokens: 4, cycleStartDate: null });

    expect(f.store.recorded.map((c) => c.cycle.start)).toEqual(['2024-02-01', '2024-03-01', '2024-03-01']);
    expect(await f.accounting.stats('alice', '2024-02-01')).toEqual({ promptTokens: 1, completionTokens: 0, totalTokens: 1 });
    expect(await f.accounting.stats('alice', '2024-03-01')).toEqual({ promptTokens: 6, completionTokens: 0, totalTokens: 6 });
    expect(await f.accounting.stats('alice')).toEqual({ promptTokens: 6, completionTokens: 0, totalTokens: 6 });
  });

  it('takes the cycle from a weekly calendar in the configured time zone', async () => {
    // 2024-03-10T20:00Z is Sunday in UTC but already Monday 2024-03-11 in Asia/Tokyo (UTC+9).
    const f = fixture({ policy: 'weekly', timeZone: 'Asia/Tokyo', retentionCycles: 1 }, '2024-03-10T20:00:00Z');
    await f.accounting.record({ userId: 'alice', promptTokens: 1 });
    expect(f.store.recorded[0]?.cycle).toEqual({
      start: '2024-03-11',
      // max(2024-03-11 + 7d + 1d, now) + 1 * 7d
      retainUntil: Date.parse('2024-03-26T00:00:00Z'),
    });
  });

  it('uses an explicit cycleStartDate as given, even off a cycle boundary', async () => {
    const f = fixture();
    await f.accounting.record({ userId: 'alice', promptTokens: 8, completionTokens: 2, cycleStartDate: '2023-07-19' });
    expect(f.store.recorded[0]?.cycle).toEqual({
      start: '2023-07-19',
      // a past cycle: kept 3 nominal months from now
      retainUntil: Date.parse(NOW) + 3 * 31 * DAY_MS,
    });
    expect(await f.accounting.stats('alice', '2023-07-19')).toEqual({ promptTokens: 8, completionTokens: 2, totalTokens: 10 });
    expect(await f.accounting.stats('alice')).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 0 });
  });

  it('passes a null retainUntil when retention is disabled', async () => {
    const f = fixture({ policy: 'daily', timeZone: 'UTC', retentionCycles: 0 });
    await f.accounting.record({ userId: 'alice', promptTokens: 1 });
    expect(f.store.recorded[0]?.cycle).toEqual({ start: '2024-01-15', retainUntil: null });
  });
});

describe('UsageAccounting.record: idempotency keys', () => {
  let f: Fixture;

  beforeEach(() => {
    f = fixture();
  });

  it('passes the namespaced key and the configured window to the store in the same step', async () => {
    await f.accounting.record({ userId: 'alice', promptTokens: 10, completionTokens: 5, idempotencyKey: 'resp-1' });
    expect(f.store.recorded).toHaveLength(1);
    expect(f.store.recorded[0]).toMatchObject({
      idempotencyKeys: [callerIdempotencyKey('resp-1')],
      dedupeWindowMs: DEDUPE_MS,
      releaseLease: null,
    });
  });

  it('counts the same key once: the repeat reports a duplicate and leaves the counters unchanged', async () => {
    const first = await f.accounting.record({ userId: 'alice', promptTokens: 10, completionTokens: 5, idempotencyKey: 'resp-1' });
    expect(first).toEqual(counted(10, 5, 15));

    const second = await f.accounting.record({ userId: 'alice', promptTokens: 10, completionTokens: 5, idempotencyKey: 'resp-1' });
    expect(second).toEqual({ duplicate: true, counters: { promptTokens: 10, completionTokens: 5, totalTokens: 15 } });
    expect(await f.accounting.stats('alice')).toEqual({ promptTokens: 10, completionTokens: 5, totalTokens: 15 });
  });

  it('the key alone decides: a repeat with other counts is still a duplicate', async () => {
    await f.accounting.record({ userId: 'alice', promptTokens: 10, idempotencyKey: 'resp-1' });
    expect(await f.accounting.record({ userId: 'alice', promptTokens: 999, unattributedTokens: 1, idempotencyKey: 'resp-1' })).toEqual({
      duplicate: true,
      counters: { promptTokens: 10, completionTokens: 0, totalTokens: 10 },
    });
    expect(await f.accounting.stats('alice')).toEqual({ promptTokens: 10, completionTokens: 0, totalTokens: 10 });
  });

  it('a duplicate reports the current counters, including records made since', async () => {
    await f.accounting.record({ userId: 'alice', promptTokens: 10, idempotencyKey: 'resp-1' });
    await f.accounting.record({ userId: 'alice', completionTokens: 7 });
    expect(await f.accounting.record({ userId: 'alice', promptTokens: 10, idempotencyKey: 'resp-1' })).toEqual({
      duplicate: true,
      counters: { promptTokens: 10, completionTokens: 7, totalTokens: 17 },
    });
  });

  it('keeps a key claimed for the whole dedupe window, then counts it again', async () => {
    const input = { userId: 'alice', promptTokens: 10, idempotencyKey: 'resp-1' } as const;
    expect(await f.accounting.record(input)).toEqual(counted(10, 0, 10));

    f.clock.advance(DEDUPE_MS - 1);
    expect(await f.accounting.record(input)).toMatchObject({ duplicate: true });

    f.clock.advance(2); // 1 ms past the window
    expect(await f.accounting.record(input)).toEqual(counted(20, 0, 20));

    // Counting again claims the key again, for a fresh window.
    expect(await f.accounting.record(input)).toEqual({ duplicate: true, counters: { promptTokens: 20, completionTokens: 0, totalTokens: 20 } });
    f.clock.advance(DEDUPE_MS - 1);
    expect(await f.accounting.record(input)).toMatchObject({ duplicate: true });
    expect(await f.accounting.stats('alice')).toEqual({ promptTokens: 20, completionTokens: 0, totalTokens: 20 });
  });

  it('a duplicate does not extend the window', async () => {
    const input = { userId: 'alice', promptTokens: 10, idempotencyKey: 'resp-1' } as const;
    await f.accounting.record(input);
    f.clock.advance(DEDUPE_MS / 2);
    expect(await f.accounting.record(input)).toMatchObject({ duplicate: true });
    f.clock.advance(DEDUPE_MS / 2 + 1); // past the first claim's window, not past the repeat's
    expect(await f.accounting.record(input)).toEqual(counted(20, 0, 20));
  });

  it('counts different keys separately', async () => {
    expect(await f.accounting.record({ userId: 'alice', promptTokens: 10, idempotencyKey: 'resp-1' })).toEqual(counted(10, 0, 10));
    expect(await f.accounting.record({ userId: 'alice', promptTokens: 10, idempotencyKey: 'resp-2' })).toEqual(counted(20, 0, 20));
    expect(await f.accounting.record({ userId: 'alice', promptTokens: 10, idempotencyKey: 'RESP-1' })).toEqual(counted(30, 0, 30));
    expect(await f.accounting.record({ userId: 'alice', promptTokens: 10, idempotencyKey: 'resp-1 ' })).toEqual(counted(40, 0, 40));
    expect(await f.accounting.stats('alice')).toEqual({ promptTokens: 40, completionTokens: 0, totalTokens: 40 });
  });

  it('keeps keys per user: the same key counts once for each user', async () => {
    expect(await f.accounting.record({ userId: 'alice', promptTokens: 10, idempotencyKey: 'resp-1' })).toEqual(counted(10, 0, 10));
    expect(await f.accounting.record({ userId: 'bob', promptTokens: 3, idempotencyKey: 'resp-1' })).toEqual(counted(3, 0, 3));
    expect(await f.accounting.record({ userId: 'alice', promptTokens: 10, idempotencyKey: 'resp-1' })).toMatchObject({ duplicate: true });
    expect(await f.accounting.record({ userId: 'bob', promptTokens: 3, idempotencyKey: 'resp-1' })).toMatchObject({ duplicate: true });
    expect(await f.accounting.stats('alice')).toEqual({ promptTokens: 10, completionTokens: 0, totalTokens: 10 });
    expect(await f.accounting.stats('bob')).toEqual({ promptTokens: 3, completionTokens: 0, totalTokens: 3 });
  });

  it('keeps a key claimed across the cycles of one user (a response id counts once, whichever cycle)', async () => {
    await f.accounting.record({ userId: 'alice', promptTokens: 10, idempotencyKey: 'resp-1' });
    expect(await f.accounting.record({ userId: 'alice', promptTokens: 10, cycleStartDate: '2023-12-01', idempotencyKey: 'resp-1' })).toEqual({
      duplicate: true,
      counters: { promptTokens: 0, completionTokens: 0, totalTokens: 0 },
    });
    expect(await f.accounting.stats('alice', '2023-12-01')).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 0 });
  });

  it('never dedupes records without a key', async () => {
    await f.accounting.record({ userId: 'alice', promptTokens: 10 });
    expect(await f.accounting.record({ userId: 'alice', promptTokens: 10 })).toEqual(counted(20, 0, 20));
    expect(f.store.recorded.map((c) => c.idempotencyKeys)).toEqual([[], []]);
  });

  it('an all-zero record with a key does not touch the store, so it claims nothing', async () => {
    expect(await f.accounting.record({ userId: 'alice', idempotencyKey: 'resp-1' })).toBeNull();
    expect(f.store.calls).toEqual([]);
    expect(await f.accounting.record({ userId: 'alice', promptTokens: 4, idempotencyKey: 'resp-1' })).toEqual(counted(4, 0, 4));
  });

  it('a reset clears the counters but not the claimed keys', async () => {
    await f.accounting.record({ userId: 'alice', promptTokens: 10, idempotencyKey: 'resp-1' });
    await f.accounting.reset('alice');
    expect(await f.accounting.record({ userId: 'alice', promptTokens: 10, idempotencyKey: 'resp-1' })).toEqual({
      duplicate: true,
      counters: { promptTokens: 0, completionTokens: 0, totalTokens: 0 },
    });
  });

  it.each([
    { label: 'a key of 1 character', key: 'k' },
    { label: `a key of ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`, key: 'k'.repeat(MAX_IDEMPOTENCY_KEY_LENGTH) },
    { label: 'a key with spaces, colons and unicode', key: 'chatcmpl: 9f2 ユーザー 🚀' },
    { label: "a key that looks like a reservation's ('r:...')", key: 'r:abc' },
  ])('accepts $label', async ({ key }) => {
    expect(await f.accounting.record({ userId: 'alice', promptTokens: 1, idempotencyKey: key })).toEqual(counted(1, 0, 1));
    expect(await f.accounting.record({ userId: 'alice', promptTokens: 1, idempotencyKey: key })).toMatchObject({ duplicate: true });
  });

  const BAD_KEYS: readonly { label: string; key: unknown }[] = [
    { label: 'an empty key', key: '' },
    { label: `a key of ${MAX_IDEMPOTENCY_KEY_LENGTH + 1} characters`, key: 'k'.repeat(MAX_IDEMPOTENCY_KEY_LENGTH + 1) },
    { label: 'a numeric key', key: 42 },
    { label: 'a null key (only undefined means "none")', key: null },
    { label: 'an object key', key: { id: 'resp-1' } },
    { label: 'an array key', key: ['resp-1'] },
    { label: 'a boxed String key', key: Object('resp-1') as unknown },
    { label: 'a key with a newline', key: 'resp\n1' },
    { label: 'a key with a NUL', key: 'resp-1\u0000' },
    { label: 'a key with DEL', key: '\u007fresp' },
    { label: 'a key with a C1 control', key: 'resp\u0085' },
  ];

  it.each(BAD_KEYS)('rejects $label with a ValidationError and writes nothing', async ({ key }) => {
    const error = await rejection(f.accounting.record({ userId: 'alice', promptTokens: 10, completionTokens: 5, idempotencyKey: key }));
    const e = expectValidationError(error, 'USAGE.INVALID_IDEMPOTENCY_KEY', 'idempotencyKey');
    expect(Object.is(e.value, key)).toBe(true);
    expect(f.store.calls).toEqual([]);
    expect(await f.accounting.stats('alice')).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 0 });
  });

  it('a rejected key claims nothing: the same call with a valid key then counts', async () => {
    await rejection(f.accounting.record({ userId: 'alice', promptTokens: 10, idempotencyKey: 'bad\tkey' }));
    expect(await f.accounting.record({ userId: 'alice', promptTokens: 10, idempotencyKey: 'bad key' })).toEqual(counted(10, 0, 10));
  });

  it('a record rejected for another reason does not claim its valid key', async () => {
    // Validation runs before the store step, so the corrected retry with the same key counts.
    await rejection(f.accounting.record({ userId: 'alice', promptTokens: -1, idempotencyKey: 'resp-1' }));
    expect(f.store.calls).toEqual([]);
    expect(await f.accounting.record({ userId: 'alice', promptTokens: 1, idempotencyKey: 'resp-1' })).toEqual(counted(1, 0, 1));
  });
});

describe('UsageAccounting.stats and reset', () => {
  it('reset clears one cycle only', async () => {
    const f = fixture();
    await f.accounting.record({ userId: 'alice', promptTokens: 10, cycleStartDate: '2024-01-01' });
    await f.accounting.record({ userId: 'alice', promptTokens: 20, cycleStartDate: '2023-12-01' });
    await f.accounting.reset('alice');
    expect(await f.accounting.stats('alice')).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 0 });
    expect(await f.accounting.stats('alice', '2023-12-01')).toEqual({ promptTokens: 20, completionTokens: 0, totalTokens: 20 });
  });

  it('stats returns only the three counters, not the limits', async () => {
    const f = fixture();
    await f.limits.setLimit('alice', 100);
    expect(await f.accounting.stats('alice')).toStrictEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 0 });
  });

  it.each([
    { label: 'stats with a bad user', run: (a: UsageAccounting) => a.stats(''), field: 'userId' },
    { label: 'stats with a bad date', run: (a: UsageAccounting) => a.stats('alice', '2024-02-30'), field: 'cycleStartDate' },
    { label: 'reset with a bad user', run: (a: UsageAccounting) => a.reset(null), field: 'userId' },
    { label: 'reset with a bad date', run: (a: UsageAccounting) => a.reset('alice', '24-01-01'), field: 'cycleStartDate' },
  ])('$label makes no store call', async ({ run, field }) => {
    const f = fixture();
    const error = await rejection(run(f.accounting));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
    expect(f.store.calls).toEqual([]);
  });
});

describe('LimitPolicy.setLimit: bad input writes nothing', () => {
  interface BadLimit {
    readonly label: string;
    readonly args: readonly [unknown, unknown, unknown?];
    readonly code: UsageErrorCode;
    readonly field: string;
  }

  const BAD_LIMITS: readonly BadLimit[] = [
    { label: 'empty user', args: ['', 100], code: 'USAGE.INVALID_USER_ID', field: 'userId' },
    { label: 'null user', args: [null, 100], code: 'USAGE.INVALID_USER_ID', field: 'userId' },
    { label: 'user with a NUL', args: ['a\u0000b', 100], code: 'USAGE.INVALID_USER_ID', field: 'userId' },
    { label: 'negative limit', args: ['alice', -1], code: 'USAGE.INVALID_LIMIT', field: 'limit' },
    { label: 'fractional limit', args: ['alice', 99.5], code: 'USAGE.INVALID_LIMIT', field: 'limit' },
    { label: 'NaN limit', args: ['alice', Number.NaN], code: 'USAGE.INVALID_LIMIT', field: 'limit' },
    { label: 'Infinity limit', args: ['alice', Number.POSITIVE_INFINITY], code: 'USAGE.INVALID_LIMIT', field: 'limit' },
    { label: 'unsafe limit', args: ['alice', 2 ** 53], code: 'USAGE.INVALID_LIMIT', field: 'limit' },
    { label: "string limit '100'", args: ['alice', '100'], code: 'USAGE.INVALID_LIMIT', field: 'limit' },
    { label: 'null limit', args: ['alice', null], code: 'USAGE.INVALID_LIMIT', field: 'limit' },
    { label: 'undefined limit', args: ['alice', undefined], code: 'USAGE.INVALID_LIMIT', field: 'limit' },
    { label: "cycle date '2024-02-30'", args: ['alice', 100, '2024-02-30'], code: 'USAGE.INVALID_CYCLE_DATE', field: 'cycleStartDate' },
    { label: "empty cycle date ''", args: ['alice', 100, ''], code: 'USAGE.INVALID_CYCLE_DATE', field: 'cycleStartDate' },
    { label: 'numeric cycle date', args: ['alice', 100, 20240101], code: 'USAGE.INVALID_CYCLE_DATE', field: 'cycleStartDate' },
    { label: 'limit 0 with a bad date', args: ['alice', 0, '2024-13-01'], code: 'USAGE.INVALID_CYCLE_DATE', field: 'cycleStartDate' },
  ];

  it.each(BAD_LIMITS)('rejects $label without touching the store', async ({ args, code, field }) => {
    const f = fixture();
    const error = await rejection(f.limits.setLimit(args[0], args[1], args[2]));
    expectValidationError(error, code, field);
    expect(f.store.calls).toEqual([]);
  });

  it('keeps an existing limit after a rejected setLimit', async () => {
    const f = fixture();
    await f.limits.setLimit('alice', 100);
    await rejection(f.limits.setLimit('alice', -5));
    expect(f.store.writes).toHaveLength(1);
    expect(await f.limits.check('alice')).toMatchObject({ limit: 100 });
  });

  it('check with bad input makes no store call', async () => {
    const f = fixture();
    expectValidationError(await rejection(f.limits.check('')), 'USAGE.INVALID_USER_ID', 'userId');
    expectValidationError(await rejection(f.limits.check('alice', '2024-02-30')), 'USAGE.INVALID_CYCLE_DATE', 'cycleStartDate');
    expect(f.store.calls).toEqual([]);
  });
});
