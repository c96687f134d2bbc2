import { describe, expect, it } from 'vitest';
import { createLazyTokenUsageRepository, createTokenUsageRepository, InMemoryUsageStore, isUsageError } from '../../src/index.js';
import type { TokenUsageRepository } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { RecordingLogger } from '../support/recording-logger.js';

const D = '2024-01-01';

function memoryRepo(config: Record<string, unknown> = {}): { repo: TokenUsageRepository; store: InMemoryUsageStore } {
  const clock = new FakeClock('2024-01-15T12:00:00Z');
  const store = new InMemoryUsageStore({ clock });
  const repo = createTokenUsageRepository({ config: { store: 'memory', ...config }, store, clock, logger: new RecordingLogger() });
  return { repo, store };
}

/** Calls `action` and returns the `UsageError` code it rejected with (fails the test on anything else). */
async function codeOf(action: () => Promise<unknown>): Promise<string> {
  try {
    await action();
  } catch (error) {
    if (isUsageError(error)) return error.code;
    throw error;
  }
  throw new Error('expected a rejection');
}

/** Every record the store holds for user `u`, as the consistency view sees it. */
function recordsOf(store: InMemoryUsageStore): unknown[] {
  return [...store.inspectRecords()];
}

describe('item 1: the positional increments require every count', () => {
  const calls: ReadonlyArray<[string, (repo: TokenUsageRepository) => Promise<unknown>]> = [
    ['incrementPromptTokens(u, undefined)', (r) => r.incrementPromptTokens('u', undefined as never)],
    ['incrementCompletionTokens(u, undefined)', (r) => r.incrementCompletionTokens('u', undefined as never)],
    ['incrementTotalUsage(u, undefined)', (r) => r.incrementTotalUsage('u', undefined as never)],
    ['incrementDetailedUsage(u, undefined, 1)', (r) => r.incrementDetailedUsage('u', undefined as never, 1)],
    ['incrementDetailedUsage(u, 1, undefined)', (r) => r.incrementDetailedUsage('u', 1, undefined as never)],
  ];
  it.each(calls)('%s is INVALID_TOKEN_COUNT and writes nothing', async (_, call) => {
    const { repo, store } = memoryRepo();
    expect(await codeOf(() => call(repo))).toBe('USAGE.INVALID_TOKEN_COUNT');
    expect(recordsOf(store)).toEqual([]);
  });
});

describe('item 2: a non-object options argument is rejected, never ignored', () => {
  it.each([['resp-123'], [42], [true], [['k']], [new Date(0)]])('incrementTotalUsage(u, 5, D, %j) is INVALID_OPTION', async (options) => {
    const { repo, store } = memoryRepo();
    expect(await codeOf(() => repo.incrementTotalUsage('u', 5, D, options as never))).toBe('USAGE.INVALID_OPTION');
    expect(recordsOf(store)).toEqual([]);
  });

  it('a misspelled option name is rejected (it would silently drop idempotency)', async () => {
    const { repo, store } = memoryRepo();
    expect(await codeOf(() => repo.incrementPromptTokens('u', 5, D, { idempotencykey: 'r' } as never))).toBe('USAGE.INVALID_OPTION');
    expect(await codeOf(() => repo.commit({} as never, {}, { key: 'r' } as never))).toBe('USAGE.INVALID_OPTION');
    expect(recordsOf(store)).toEqual([]);
  });

  it('a provider-named field in commit usage is an error, not 0', async () => {
    const { repo } = memoryRepo();
    const granted = await repo.reserve('u', 10, { cycleStartDate: D });
    if (!granted.granted) throw new Error('expected a grant');
    expect(await codeOf(() => repo.commit(granted.reservation, { prompt_tokens: 5 } as never))).toBe('USAGE.INVALID_TOKEN_COUNT');
    expect(await codeOf(() => repo.commit(granted.reservation, { promptTokens: undefined } as never))).toBe('USAGE.INVALID_TOKEN_COUNT');
    expect((await repo.getUsageStats('u', D)).totalTokens).toBe(0);
  });

  it('null and undefined mean "no options"', async () => {
    const { repo } = memoryRepo();
    await repo.incrementTotalUsage('u', 5, D, undefined);
    await repo.incrementTotalUsage('u', 5, D, null as never);
    expect((await repo.getUsageStats('u', D, null as never)).totalTokens).toBe(10);
  });
});

describe('item 3: guard options are type-checked', () => {
  it.each([
    [{ estimateTokens: 10, signal: 'abort' }],
    [{ estimateTokens: 10, signal: {} }],
    [{ estimateTokens: 10, extractUsage: 'x' }],
    [{ estimateTokens: 10, leaseMs: '5' }],
    [{ estimateTokens: 10, estimate: 5 }],
  ])('guard(u, %j, fn) is INVALID_OPTION without calling fn', async (options) => {
    const { repo, store } = memoryRepo();
    let called = false;
    const call = async (): Promise<string> => {
      called = true;
      return 'x';
    };
    expect(await codeOf(() => repo.guard('u', options as never, call))).toBe('USAGE.INVALID_OPTION');
    expect(called).toBe(false);
    expect(recordsOf(store)).toEqual([]);
  });
});

describe('item 4: recordBuffered validates its input object', () => {
  it.each([[null], [undefined], ['u'], [[]]])('recordBuffered(%j) is INVALID_OPTION', async (input) => {
    const { repo } = memoryRepo();
    expect(await codeOf(() => repo.recordBuffered(input as never))).toBe('USAGE.INVALID_OPTION');
    await repo.close();
  });

  it('a present but undefined count is INVALID_TOKEN_COUNT', async () => {
    const { repo, store } = memoryRepo();
    expect(await codeOf(() => repo.recordBuffered({ userId: 'u', promptTokens: undefined } as never))).toBe('USAGE.INVALID_TOKEN_COUNT');
    await repo.close();
    expect(recordsOf(store)).toEqual([]);
  });
});

describe('item 5: verifyConsistency and sweepAlerts options: booleans must be booleans', () => {
  it.each([
    [{ repair: 'false' }],
    [{ repair: 1 }],
    [{ onProgress: 42 }],
    [{ treatExcessAsUnattributed: 'no' }],
    [{ allCycles: 'yes' }],
    [{ batchSize: '10' }],
    [{ repairs: true }],
    ['repair'],
  ])('verifyConsistency(%j) is INVALID_OPTION', async (options) => {
    const { repo } = memoryRepo();
    await repo.incrementTotalUsage('u', 5, D);
    expect(await codeOf(() => repo.verifyConsistency(options as never))).toBe('USAGE.INVALID_OPTION');
  });

  it('verifyConsistency(null) is a dry run of the current cycle', async () => {
    const { repo } = memoryRepo();
    expect((await repo.verifyConsistency(null as never)).mode).toBe('dry-run');
  });

  it('{ repair: "false" } does not repair', async () => {
    const clock = new FakeClock('2024-01-15T12:00:00Z');
    const store = new InMemoryUsageStore({ clock });
    const repo = createTokenUsageRepository({ config: { store: 'memory' }, store, clock, logger: new RecordingLogger() });
    await repo.incrementTotalUsage('u', 5, D);
    await expect(repo.verifyConsistency({ repair: 'false' } as never)).rejects.toMatchObject({ code: 'USAGE.INVALID_OPTION' });
    expect(await repo.getUsageStats('u', D)).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 5 });
  });

  it.each([[{ allowStale: 'yes' }], [{ allowstale: true }], [1]])('getUsageStats / checkUsageLimit read options %j are INVALID_OPTION', async (options) => {
    const { repo } = memoryRepo({ cache: { ttlMs: 1000 } });
    expect(await codeOf(() => repo.getUsageStats('u', D, options as never))).toBe('USAGE.INVALID_OPTION');
    expect(await codeOf(() => repo.checkUsageLimit('u', D, options as never))).toBe('USAGE.INVALID_OPTION');
  });

  it.each([[{ onProgress: 42 }], [{ batchSize: 0 }], ['x']])('sweepAlerts(D, %j) is INVALID_OPTION', async (options) => {
    const { repo } = memoryRepo({ alerts: { enabled: true } });
    expect(await codeOf(() => repo.sweepAlerts(D, options as never))).toBe('USAGE.INVALID_OPTION');
  });

  it('close({ timeoutMs: "1" }) is INVALID_OPTION and leaves the repository open', async () => {
    const { repo } = memoryRepo();
    expect(await codeOf(() => repo.close({ timeoutMs: '1' } as never))).toBe('USAGE.INVALID_OPTION');
    await repo.incrementTotalUsage('u', 1, D);
    await repo.close();
  });
});

describe('item 6: ill-formed UTF-16 user ids and idempotency keys are rejected', () => {
  it.each(['lone\uD800', 'lone\uDFFF', '\uDC00x', 'x\uD800\uD800'])('user id %j is INVALID_USER_ID', async (id) => {
    const { repo, store } = memoryRepo();
    expect(await codeOf(() => repo.incrementTotalUsage(id, 5, D))).toBe('USAGE.INVALID_USER_ID');
    expect(await codeOf(() => repo.getUsageStats(id, D))).toBe('USAGE.INVALID_USER_ID');
    expect(recordsOf(store)).toEqual([]);
  });

  it('a well-formed id with U+FFFD or a surrogate pair is accepted, and is its own user', async () => {
    const { repo } = memoryRepo();
    await repo.incrementTotalUsage('lone\uFFFD', 5, D);
    await repo.incrementTotalUsage('pair\uD83D\uDE00', 7, D);
    expect((await repo.getUsageStats('lone\uFFFD', D)).totalTokens).toBe(5);
    expect((await repo.getUsageStats('pair\uD83D\uDE00', D)).totalTokens).toBe(7);
  });

  it("idempotency key 'resp-\\uD800' is INVALID_IDEMPOTENCY_KEY; 'resp-\\uFFFD' still counts once", async () => {
    const { repo } = memoryRepo();
    await repo.incrementTotalUsage('u', 5, D, { idempotencyKey: 'resp-\uFFFD' });
    expect(await codeOf(() => repo.incrementTotalUsage('u', 5, D, { idempotencyKey: 'resp-\uD800' }))).toBe(
      'USAGE.INVALID_IDEMPOTENCY_KEY',
    );
    expect(await codeOf(() => repo.guard('u', { estimateTokens: 1, idempotencyKey: 'resp-\uDFFF' }, async () => 1))).toBe(
      'USAGE.INVALID_IDEMPOTENCY_KEY',
    );
    expect((await repo.getUsageStats('u', D)).totalTokens).toBe(5);
  });
});

describe('item 7: one rule for error codes', () => {
  it('a bad leaseMs is INVALID_OPTION (an option out of range), in reserve and in guard', async () => {
    const { repo } = memoryRepo();
    for (const leaseMs of [0, -1, 1.5, '1000', 86_400_001]) {
      expect(await codeOf(() => repo.reserve('u', 1, { leaseMs } as never))).toBe('USAGE.INVALID_OPTION');
      expect(await codeOf(() => repo.guard('u', { estimateTokens: 1, leaseMs } as never, async () => 1))).toBe('USAGE.INVALID_OPTION');
    }
  });

  it('a value keeps its own code wherever it appears: a count in an options object is INVALID_TOKEN_COUNT', async () => {
    const { repo } = memoryRepo();
    expect(await codeOf(() => repo.guard('u', { estimateTokens: -1 }, async () => 1))).toBe('USAGE.INVALID_TOKEN_COUNT');
    expect(await codeOf(() => repo.reserve('u', 1, { cycleStartDate: '2024-13-01' }))).toBe('USAGE.INVALID_CYCLE_DATE');
    expect(await codeOf(() => repo.recordBuffered({ userId: 5 } as never))).toBe('USAGE.INVALID_USER_ID');
    await repo.close();
  });
});

describe('item 10: a lazy instance closed before its first call', () => {
  it('never builds (or connects) its services: writes reject, healthCheck is unhealthy, metrics are empty', async () => {
    // A bad configuration would throw ConfigError if the services were ever built.
    const repo = createLazyTokenUsageRepository({ env: { TOKEN_STATS_DEFAULT_CYCLE: 'yearly' } });
    await repo.close();
    expect(await codeOf(() => repo.incrementPromptTokens('u', 1))).toBe('USAGE.STORE_UNAVAILABLE');
    expect(await codeOf(() => repo.recordBuffered({ userId: 'u', promptTokens: 1 }))).toBe('USAGE.STORE_UNAVAILABLE');
    expect(await repo.healthCheck()).toMatchObject({ status: 'unhealthy', error: 'the repository is closed' });
    expect(await repo.metrics()).toBe('');
  });
});
