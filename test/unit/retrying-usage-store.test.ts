import { afterEach, describe, expect, it, vi } from 'vitest';
import { RetryingUsageStore, isTransientStoreError } from '../../src/adapters/decorators/retrying-usage-store.js';
import { InMemoryUsageStore } from '../../src/adapters/memory/in-memory-usage-store.js';
import { toUsageError } from '../../src/adapters/redis/redis-errors.js';
import { StoreUnavailableError, ValidationError } from '../../src/domain/errors.js';
import type { BatchRecordResult, RecordUsageCommand, UsageStore } from '../../src/ports/usage-store.js';
import { aCycle, aLimit, anIdempotencyKey, aReserve, aUsageRecord, aUserId, CYCLE } from '../support/mothers.js';
import { RecordingLogger } from '../support/recording-logger.js';

type Operation = Exclude<keyof UsageStore, 'close'>;

/** ioredis' own class, by shape: the decorator must not import ioredis. */
class MaxRetriesPerRequestError extends Error {
  override get name(): string {
    return 'MaxRetriesPerRequestError';
  }
}

/** Wraps what ioredis would throw the way the Redis store does. */
const redisFailure = (cause: Error): Error => toUsageError('recordUsage', cause, 'token_usage:u:2024-01-01');
const withCode = (message: string, code: string): Error => Object.assign(new Error(message), { code });

const TRANSIENT: Record<string, () => Error> = {
  'command timeout': () => redisFailure(new Error('Command timed out')),
  'connection reset': () => redisFailure(withCode('read ECONNRESET', 'ECONNRESET')),
  'connection refused': () => redisFailure(withCode('connect ECONNREFUSED 127.0.0.1:6379', 'ECONNREFUSED')),
  'broken pipe': () => redisFailure(withCode('write EPIPE', 'EPIPE')),
  'MaxRetriesPerRequestError': () =>
    redisFailure(new MaxRetriesPerRequestError('Reached the max retries per request limit (which is 1).')),
  LOADING: () => redisFailure(new Error('LOADING Redis is loading the dataset in memory')),
  TRYAGAIN: () => redisFailure(new Error('TRYAGAIN Multiple keys request during rehashing of slot')),
  CLUSTERDOWN: () => redisFailure(new Error('CLUSTERDOWN The cluster is down')),
  MASTERDOWN: () => redisFailure(new Error('MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to no')),
  BUSY: () => redisFailure(new Error('BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT.')),
  READONLY: () => redisFailure(new Error("READONLY You can't write against a read only replica.")),
  'Cluster node connection closed (as the store names it)': () =>
    new StoreUnavailableError('recordUsage', 'Redis failed: a Redis Cluster node connection closed (Connection is closed.)', {
      cause: new Error('Connection is closed.'),
    }),
  'Cluster redirections exhausted': () =>
    redisFailure(new Error('Too many Cluster redirections. Last error: Error: Connection is closed.')),
  MOVED: () => redisFailure(new Error('MOVED 3999 127.0.0.1:7002')),
  ASK: () => redisFailure(new Error('ASK 3999 127.0.0.1:7002')),
  'pipeline slots moved between nodes': () =>
    redisFailure(new Error('All keys in the pipeline should belong to the same slots allocation group')),
  'slot refresh failed': () => redisFailure(new Error('Failed to refresh slots cache.')),
  'too few replicas confirmed (WAIT)': () =>
    new StoreUnavailableError('recordUsage', 'Redis failed: WAIT: 0 of 1 replicas confirmed the write within 500 ms'),
  'refused, no cause (SwitchableStore)': () =>
    new StoreUnavailableError('recordUsage', 'connect ECONNREFUSED 127.0.0.1:1 (simulated)'),
};

const PERMANENT: Record<string, () => Error> = {
  ValidationError: () => new ValidationError('USAGE.INVALID_TOKEN_COUNT', 'promptTokens', -1, 'negative'),
  CorruptUsageDataError: () => redisFailure(new Error('ERR user_script:40: TUR_CORRUPT total_tokens')),
  'WRONGTYPE (corrupt)': () => redisFailure(new Error('WRONGTYPE Operation against a key holding the wrong kind of value')),
  'script error': () =>
    redisFailure(new Error("ERR user_script:1: Script attempted to access nonexistent global variable 'x' script: abc")),
  'Redis store closed': () => new StoreUnavailableError('recordUsage', 'the Redis usage store is closed'),
  'in-memory store closed': () => new StoreUnavailableError('recordUsage', 'the in-memory store is closed'),
  'ioredis client ended': () => redisFailure(new Error('Connection is closed.')),
  'ioredis Cluster ended': () => redisFailure(new Error('Cluster is ended.')),
  OOM: () => redisFailure(new Error("OOM command not allowed when used memory > 'maxmemory'.")),
  'BUSYKEY (not BUSY)': () => redisFailure(new Error('BUSYKEY Target key name already exists.')),
  'pipeline not executed': () => redisFailure(new Error('pipeline was not executed')),
  'a plain TypeError': () => new TypeError('recordUsage takes at most two idempotency keys'),
};

/** A hand-written fake: records every call, throws the queued failures first, then delegates. */
class FlakyStore implements UsageStore {
  readonly inner = new InMemoryUsageStore();
  readonly calls: { operation: Operation; args: unknown[] }[] = [];
  readonly failures: Error[] = [];
  /** Apply the call to the inner store, then throw (the reply was lost: a timeout after the write). */
  applyThenFail = false;
  closed = 0;

  async #run<T>(operation: Operation, args: unknown[], call: () => Promise<T>): Promise<T> {
    this.calls.push({ operation, args });
    const failure = this.failures.shift();
    if (failure === undefined) return call();
    if (this.applyThenFail) await call();
    throw failure;
  }

  recordUsage(command: RecordUsageCommand) {
    return this.#run('recordUsage', [command], () => this.inner.recordUsage(command));
  }
  recordUsageBatch(commands: readonly RecordUsageCommand[]) {
    return this.#run('recordUsageBatch', [commands], () => this.inner.recordUsageBatch(commands));
  }
  readUsage(...args: Parameters<UsageStore['readUsage']>) {
    return this.#run('readUsage', args, () => (this.inner as UsageStore).readUsage(...args));
  }
  resetUsage(...args: Parameters<UsageStore['resetUsage']>) {
    return this.#run('resetUsage', args, () => this.inner.resetUsage(...args));
  }
  setLimit(...args: Parameters<UsageStore['setLimit']>) {
    return this.#run('setLimit', args, () => this.inner.setLimit(...args));
  }
  reserve(...args: Parameters<UsageStore['reserve']>) {
    return this.#run('reserve', args, () => this.inner.reserve(...args));
  }
  releaseLease(...args: Parameters<UsageStore['releaseLease']>) {
    return this.#run('releaseLease', args, () => this.inner.releaseLease(...args));
  }
  async close() {
    this.closed += 1;
  }
}

function setup(options: { maxAttempts?: number; baseDelayMs?: number; maxDelayMs?: number; random?: number } = {}) {
  const inner = new FlakyStore();
  const logger = new RecordingLogger();
  const sleeps: number[] = [];
  const store = new RetryingUsageStore(inner, {
    logger,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => options.random ?? 0.5,
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
    ...(options.baseDelayMs === undefined ? {} : { baseDelayMs: options.baseDelayMs }),
    ...(options.maxDelayMs === undefined ? {} : { maxDelayMs: options.maxDelayMs }),
  });
  return { inner, logger, sleeps, store };
}

const recordedCommands = (inner: FlakyStore): RecordUsageCommand[] =>
  inner.calls.map((call) => call.args[0] as RecordUsageCommand);

describe('RetryingUsageStore: which failures are retried', () => {
  it.each(Object.entries(TRANSIENT))('retries %s, then succeeds', async (_kind, failure) => {
    const { inner, store, sleeps } = setup();
    inner.failures.push(failure(), failure());
    const user = aUserId();
    await store.recordUsage(aUsageRecord({ userId: user }));
    expect(inner.calls).toHaveLength(3);
    expect(sleeps).toEqual([25, 50]);
    expect((await inner.inner.readUsage({ userId: user, cycle: CYCLE })).totalTokens).toBe(15);
  });

  it.each(Object.entries(PERMANENT))('never retries %s', async (_kind, failure) => {
    const { inner, store, sleeps, logger } = setup();
    const error = failure();
    inner.failures.push(error);
    await expect(store.recordUsage(aUsageRecord())).rejects.toBe(error);
    expect(inner.calls).toHaveLength(1);
    expect(sleeps).toEqual([]);
    expect(logger.lines).toEqual([]);
  });

  it('classifies errors without a store: only StoreUnavailableError can be transient', () => {
    for (const failure of Object.values(TRANSIENT)) expect(isTransientStoreError(failure())).toBe(true);
    for (const failure of Object.values(PERMANENT)) expect(isTransientStoreError(failure())).toBe(false);
    expect(isTransientStoreError(new Error('Command timed out'))).toBe(false);
    expect(isTransientStoreError('ECONNRESET')).toBe(false);
  });

  it.each<[Operation, (store: UsageStore) => Promise<unknown>]>([
    ['readUsage', (s) => s.readUsage({ userId: aUserId(), cycle: CYCLE })],
    ['resetUsage', (s) => s.resetUsage({ userId: aUserId(), cycle: CYCLE })],
    ['setLimit', (s) => s.setLimit(aLimit(aUserId(), 100))],
    ['reserve', (s) => s.reserve(aReserve(aUserId(), 10))],
    ['releaseLease', (s) => s.releaseLease({ userId: aUserId(), cycle: CYCLE, lease: aReserve(aUserId(), 1).lease })],
  ])('retries %s with the same arguments', async (operation, call) => {
    const { inner, store } = setup();
    inner.failures.push(TRANSIENT['command timeout']!(), TRANSIENT['connection reset']!());
    await call(store);
    expect(inner.calls.map((c) => c.operation)).toEqual([operation, operation, operation]);
    expect(inner.calls[1]!.args).toEqual(inner.calls[0]!.args);
    expect(inner.calls[2]!.args).toEqual(inner.calls[0]!.args);
  });

  it('passes read options through', async () => {
    const { inner, store } = setup();
    await store.readUsage({ userId: aUserId(), cycle: CYCLE }, { allowStale: true });
    expect(inner.calls[0]!.args[1]).toEqual({ allowStale: true });
  });
});

describe('RetryingUsageStore: backoff', () => {
  it('waits random() * min(maxDelayMs, baseDelayMs * 2^(attempt-1)) before each retry', async () => {
    const { inner, store, sleeps } = setup({ maxAttempts: 8, baseDelayMs: 100, maxDelayMs: 1_000, random: 0.999 });
    for (let i = 0; i < 7; i++) inner.failures.push(TRANSIENT['command timeout']!());
    await store.readUsage({ userId: aUserId(), cycle: CYCLE });
    expect(inner.calls).toHaveLength(8);
    expect(sleeps).toEqual([99, 199, 399, 799, 999, 999, 999]);
  });

  it('full jitter: random() = 0 retries at once', async () => {
    const { inner, store, sleeps } = setup({ random: 0 });
    inner.failures.push(TRANSIENT.LOADING!(), TRANSIENT.LOADING!(), TRANSIENT.LOADING!());
    await store.readUsage({ userId: aUserId(), cycle: CYCLE });
    expect(sleeps).toEqual([0, 0, 0]);
  });

  it('gives up after maxAttempts (default 4) with the last error', async () => {
    const { inner, store, sleeps } = setup();
    const failures = [1, 2, 3, 4, 5].map(() => TRANSIENT['command timeout']!());
    inner.failures.push(...failures);
    await expect(store.setLimit(aLimit(aUserId(), 5))).rejects.toBe(failures[3]);
    expect(inner.calls).toHaveLength(4);
    expect(sleeps).toEqual([25, 50, 100]);
  });

  it('logs each retry at warn with the operation, attempt, delay and error message', async () => {
    const { inner, store, logger } = setup({ maxAttempts: 3 });
    inner.failures.push(TRANSIENT['command timeout']!(), TRANSIENT.BUSY!(), TRANSIENT.BUSY!());
    await expect(store.reserve(aReserve(aUserId(), 1))).rejects.toThrow(/BUSY/);
    expect(logger.lines.map((line) => [line.level, line.fields])).toEqual([
      ['warn', { operation: 'reserve', attempt: 1, maxAttempts: 3, delayMs: 25, err: { message: 'recordUsage: Redis failed: Command timed out' } }],
      ['warn', { operation: 'reserve', attempt: 2, maxAttempts: 3, delayMs: 50, err: { message: expect.stringMatching(/^recordUsage: Redis failed: BUSY/) } }],
    ]);
  });

  it('rejects bad options', () => {
    const logger = new RecordingLogger();
    const inner = new InMemoryUsageStore();
    expect(() => new RetryingUsageStore(inner, { logger, maxAttempts: 0 })).toThrow(RangeError);
    expect(() => new RetryingUsageStore(inner, { logger, maxAttempts: 1.5 })).toThrow(RangeError);
    expect(() => new RetryingUsageStore(inner, { logger, baseDelayMs: -1 })).toThrow(RangeError);
    expect(() => new RetryingUsageStore(inner, { logger, baseDelayMs: 100, maxDelayMs: 50 })).toThrow(RangeError);
  });
});

describe('RetryingUsageStore: writes are retried only with an idempotency key', () => {
  it('gives a record without keys ONE generated key, before the first attempt, reused on every retry', async () => {
    const { inner, store } = setup();
    inner.failures.push(TRANSIENT['command timeout']!(), TRANSIENT['connection reset']!());
    const command = aUsageRecord();
    await store.recordUsage(command);
    const seen = recordedCommands(inner);
    expect(seen).toHaveLength(3);
    expect(seen[0]!.idempotencyKeys).toEqual([expect.stringMatching(/^g:[0-9a-f-]{36}$/)]);
    for (const attempt of seen) expect(attempt).toEqual(seen[0]);
    expect(seen[0]).toEqual({ ...command, idempotencyKeys: seen[0]!.idempotencyKeys });
    expect(command.idempotencyKeys).toEqual([]); // the caller's command is not mutated
  });

  it('generates a new key per logical operation', async () => {
    const { inner, store } = setup();
    await store.recordUsage(aUsageRecord());
    await store.recordUsage(aUsageRecord());
    const [first, second] = recordedCommands(inner);
    expect(first!.idempotencyKeys[0]).not.toBe(second!.idempotencyKeys[0]);
  });

  it.each([1, 2])('keeps a command with %i key(s) as it is', async (count) => {
    const { inner, store } = setup();
    inner.failures.push(TRANSIENT['command timeout']!());
    const keys = Array.from({ length: count }, () => anIdempotencyKey());
    const command = aUsageRecord({ idempotencyKeys: keys });
    await store.recordUsage(command);
    expect(recordedCommands(inner)).toEqual([command, command]);
    expect(recordedCommands(inner)[1]).toBe(command);
  });

  it('a timeout after the write landed does not count twice, and the caller sees no duplicate', async () => {
    const { inner, store } = setup();
    inner.applyThenFail = true;
    inner.failures.push(TRANSIENT['command timeout']!());
    const user = aUserId();
    const outcome = await store.recordUsage(aUsageRecord({ userId: user, prompt: 10, completion: 5 }));
    expect(outcome).toEqual({ duplicate: false, counters: { promptTokens: 10, completionTokens: 5, totalTokens: 15 } });
    expect(inner.calls).toHaveLength(2);
    expect((await inner.inner.readUsage({ userId: user, cycle: CYCLE })).totalTokens).toBe(15);
  });

  it("with the caller's key, a retry after a landed write reports what the store says: duplicate", async () => {
    const { inner, store } = setup();
    inner.applyThenFail = true;
    inner.failures.push(TRANSIENT['command timeout']!());
    const user = aUserId();
    const outcome = await store.recordUsage(aUsageRecord({ userId: user, idempotencyKeys: [anIdempotencyKey()] }));
    expect(outcome.duplicate).toBe(true);
    expect((await inner.inner.readUsage({ userId: user, cycle: CYCLE })).totalTokens).toBe(15);
  });

  it('with maxAttempts 1 nothing is retried, so no key is generated', async () => {
    const { inner, store } = setup({ maxAttempts: 1 });
    const command = aUsageRecord();
    await store.recordUsage(command);
    expect(recordedCommands(inner)[0]).toBe(command);
  });

  it('retries a failed batch round trip as a whole with the same keys; only keyless records get one', async () => {
    const { inner, store } = setup();
    inner.applyThenFail = true;
    inner.failures.push(TRANSIENT['command timeout']!());
    const user = aUserId();
    const callerKey = anIdempotencyKey();
    const commands = [
      aUsageRecord({ userId: user, prompt: 1, completion: 0 }),
      aUsageRecord({ userId: user, prompt: 2, completion: 0, idempotencyKeys: [callerKey] }),
      aUsageRecord({ userId: user, prompt: 4, completion: 0 }),
    ];
    const results = await store.recordUsageBatch(commands);
    expect(inner.calls).toHaveLength(2);
    const [first, second] = inner.calls.map((call) => call.args[0] as RecordUsageCommand[]);
    expect(second).toEqual(first);
    expect(first![0]!.idempotencyKeys).toEqual([expect.stringMatching(/^g:/)]);
    expect(first![1]).toBe(commands[1]);
    expect(first![2]!.idempotencyKeys).toEqual([expect.stringMatching(/^g:/)]);
    expect(first![0]!.idempotencyKeys).not.toEqual(first![2]!.idempotencyKeys);
    // Applied once; generated keys report their own earlier attempt as not a duplicate.
    expect(results.map((r) => r.ok && r.outcome.duplicate)).toEqual([false, true, false]);
    expect((await inner.inner.readUsage({ userId: user, cycle: CYCLE })).promptTokens).toBe(7);
  });

  it('a generated key found claimed on the first attempt (the client re-sent it) is no duplicate for the caller', async () => {
    const inner = new InMemoryUsageStore();
    const store = new RetryingUsageStore(inner, { logger: new RecordingLogger(), sleep: async () => undefined });
    const record = inner.recordUsage.bind(inner);
    inner.recordUsage = async (command) => {
      await record(command); // an earlier send of the same command landed
      return record(command);
    };
    expect((await store.recordUsage(aUsageRecord({ prompt: 10, completion: 0 }))).duplicate).toBe(false);
  });

  it('of an answered batch, re-sends only the records that failed transiently (a Cluster part), with the same keys', async () => {
    const inner = new InMemoryUsageStore();
    const sent: RecordUsageCommand[][] = [];
    const batch = inner.recordUsageBatch.bind(inner);
    const nodeDown = TRANSIENT['Cluster node connection closed (as the store names it)']!() as StoreUnavailableError;
    inner.recordUsageBatch = async (commands) => {
      sent.push([...commands]);
      const results = await batch(commands);
      // On the first call the part holding the second record failed (its node went away) before running.
      return sent.length === 1 ? results.map((result, i) => (i === 1 ? { ok: false as const, error: nodeDown } : result)) : results;
    };
    const store = new RetryingUsageStore(inner, { logger: new RecordingLogger(), sleep: async () => undefined });
    const [alice, bob, carol] = [aUserId(), aUserId(), aUserId()];
    const results = await store.recordUsageBatch([alice, bob, carol].map((userId) => aUsageRecord({ userId, prompt: 1, completion: 0 })));
    expect(results.every((result) => result.ok && !result.outcome.duplicate)).toBe(true);
    expect(sent.map((commands) => commands.map((command) => command.userId))).toEqual([[alice, bob, carol], [bob]]);
    expect(sent[1]?.[0]?.idempotencyKeys).toEqual(sent[0]?.[1]?.idempotencyKeys);
    for (const user of [alice, bob, carol]) expect((await inner.readUsage({ userId: user, cycle: CYCLE })).totalTokens).toBe(1);
  });

  it('out of attempts with some records still failing, reports those one by one and the rest as written', async () => {
    const inner = new InMemoryUsageStore();
    const nodeDown = TRANSIENT['MOVED']!() as StoreUnavailableError;
    const batch = inner.recordUsageBatch.bind(inner);
    inner.recordUsageBatch = async (commands) =>
      (await batch(commands)).map((result, i) => (commands[i]?.promptTokens === 2 ? { ok: false as const, error: nodeDown } : result));
    const store = new RetryingUsageStore(inner, { logger: new RecordingLogger(), sleep: async () => undefined, maxAttempts: 3 });
    const results = await store.recordUsageBatch([aUsageRecord({ prompt: 1, completion: 0 }), aUsageRecord({ prompt: 2, completion: 0 })]);
    expect(results[0]).toMatchObject({ ok: true });
    expect(results[1]).toEqual({ ok: false, error: nodeDown });
  });

  it('does not retry records that came back as errors inside a successful batch', async () => {
    const corrupt = toUsageError('recordUsageBatch', new Error('ERR TUR_CORRUPT total_tokens'), 'k');
    const ok: BatchRecordResult = { ok: true, outcome: { duplicate: false, counters: { promptTokens: 1, completionTokens: 0, totalTokens: 1 } } };
    let calls = 0;
    const inner = new InMemoryUsageStore();
    inner.recordUsageBatch = async () => {
      calls += 1;
      return [{ ok: false, error: corrupt }, ok];
    };
    const store = new RetryingUsageStore(inner, { logger: new RecordingLogger(), sleep: async () => undefined });
    expect(await store.recordUsageBatch([aUsageRecord(), aUsageRecord()])).toEqual([{ ok: false, error: corrupt }, ok]);
    expect(calls).toBe(1);
  });
});

describe('RetryingUsageStore: close and timers', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('waits on an unref’d timer by default (fake timers)', async () => {
    vi.useFakeTimers();
    const inner = new FlakyStore();
    inner.failures.push(TRANSIENT['command timeout']!());
    const store = new RetryingUsageStore(inner, { logger: new RecordingLogger(), random: () => 0.5 });
    const read = store.readUsage({ userId: aUserId(), cycle: CYCLE });
    await vi.advanceTimersByTimeAsync(24);
    expect(inner.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(inner.calls).toHaveLength(2);
    await expect(read).resolves.toMatchObject({ totalTokens: 0 });
  });

  it('close() wakes a call waiting to retry: it fails at once with its last error and closes the inner store', async () => {
    vi.useFakeTimers();
    const inner = new FlakyStore();
    const failure = TRANSIENT['command timeout']!();
    inner.failures.push(failure);
    const store = new RetryingUsageStore(inner, { logger: new RecordingLogger(), baseDelayMs: 60_000, maxDelayMs: 60_000, random: () => 0.9 });
    const read = store.readUsage({ userId: aUserId(), cycle: CYCLE });
    const outcome = read.catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(0);
    expect(inner.calls).toHaveLength(1);
    await store.close();
    expect(await outcome).toBe(failure);
    expect(inner.calls).toHaveLength(1);
    expect(inner.closed).toBe(1);
  });

  it('after close nothing is retried', async () => {
    const { inner, store } = setup();
    await store.close();
    inner.failures.push(TRANSIENT['command timeout']!());
    await expect(store.recordUsage(aUsageRecord({ cycle: aCycle() }))).rejects.toThrow('Command timed out');
    expect(inner.calls).toHaveLength(1);
  });
});
