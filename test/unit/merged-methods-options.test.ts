import { describe, expect, it } from 'vitest';
import { createTokenUsageRepository, InMemoryUsageStore, isUsageError } from '../../src/index.js';
import type { StreamMeter, TokenUsageRepository } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { RecordingLogger } from '../support/recording-logger.js';

/**
 * The methods merged in after issue 8's hardening (guardStream, usageHistory, top, usagePages) read
 * their options like every other method: a plain object of known names, each of its type. Before,
 * a typo was silently dropped and a `null` query or a non-function `onPage` threw a bare TypeError.
 */

function memoryRepo(): { repo: TokenUsageRepository; store: InMemoryUsageStore } {
  const clock = new FakeClock('2024-01-15T12:00:00Z');
  const store = new InMemoryUsageStore({ clock });
  return { repo: createTokenUsageRepository({ config: { store: 'memory' }, store, clock, logger: new RecordingLogger() }), store };
}

async function rejection(action: () => Promise<unknown>): Promise<{ code: string; field: unknown }> {
  try {
    await action();
  } catch (error) {
    if (isUsageError(error)) return { code: error.code, field: (error as { field?: unknown }).field };
    throw error;
  }
  throw new Error('expected a rejection');
}

const meter: StreamMeter<string> = { observe: () => undefined, finalUsage: () => ({ promptTokens: 1 }), partialUsage: () => undefined, responseId: () => undefined };
const start = async (): Promise<AsyncIterable<string>> => (async function* () { yield 'a'; })();

describe('options of the merged-in facade methods', () => {
  const cases: ReadonlyArray<[string, (repo: TokenUsageRepository) => Promise<unknown>, string]> = [
    ['guardStream: unknown option', (r) => r.guardStream('u', { estimateTokens: 5, idempotencyKy: 'k' } as never, start, meter), 'USAGE.INVALID_OPTION'],
    ['guardStream: signal not an AbortSignal', (r) => r.guardStream('u', { estimateTokens: 5, signal: {} } as never, start, meter), 'USAGE.INVALID_OPTION'],
    ['guardStream: promptTokens set to undefined', (r) => r.guardStream('u', { estimateTokens: 5, promptTokens: undefined } as never, start, meter), 'USAGE.INVALID_TOKEN_COUNT'],
    ['guardStream: leaseMs out of range', (r) => r.guardStream('u', { estimateTokens: 5, leaseMs: 0 }, start, meter), 'USAGE.INVALID_OPTION'],
    ['usageHistory: unknown option', (r) => r.usageHistory('u', { granulariy: 'cycle' } as never), 'USAGE.INVALID_OPTION'],
    ['usageHistory: query not an object', (r) => r.usageHistory('u', 'day' as never), 'USAGE.INVALID_OPTION'],
    ['top: unknown option', (r) => r.top(undefined, 5, { byy: 'limit' } as never), 'USAGE.INVALID_OPTION'],
    ['top: n inside the options', (r) => r.top(undefined, undefined, { n: 5 } as never), 'USAGE.INVALID_OPTION'],
    ['top: onPage not a function', (r) => r.top(undefined, 5, { onPage: [] } as never), 'USAGE.INVALID_OPTION'],
    ['top: options not an object', (r) => r.top(undefined, 5, 'limit' as never), 'USAGE.INVALID_OPTION'],
    ['usagePages: unknown option', async (r) => r.usagePages(undefined, { batchSiz: 10 } as never), 'USAGE.INVALID_OPTION'],
  ];
  it.each(cases)('%s is a ValidationError and writes nothing', async (_, call, code) => {
    const { repo, store } = memoryRepo();
    await repo.incrementDetailedUsage('u', 3, 4);
    const before = [...store.inspectRecords()];
    expect((await rejection(() => call(repo))).code).toBe(code);
    expect([...store.inspectRecords()]).toEqual(before);
    await repo.close();
  });

  it('null and undefined still mean "no options", and the valid forms still answer', async () => {
    const { repo } = memoryRepo();
    await repo.incrementDetailedUsage('u', 3, 4);
    expect((await repo.usageHistory('u', null as never)).length).toBeGreaterThan(0);
    expect((await repo.top(undefined, 5, null as never)).users.map((u) => u.userId)).toEqual(['u']);
    const pages = repo.usagePages(undefined, null as never);
    const rows = [];
    for await (const page of pages.pages) rows.push(...page);
    expect(rows.map((row) => row.totalTokens)).toEqual([7]);
    const stream = await repo.guardStream('u', { estimateTokens: 5, promptTokens: 1 }, start, meter);
    for await (const _ of stream) void _;
    expect((await stream.settled).action).toBe('committed');
    await repo.close();
  });
});
