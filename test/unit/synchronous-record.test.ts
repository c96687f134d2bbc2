import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CachingUsageStore } from '../../src/adapters/decorators/caching-usage-store.js';
import { MeteredUsageStore } from '../../src/adapters/decorators/metered-usage-store.js';
import { RetryingUsageStore } from '../../src/adapters/decorators/retrying-usage-store.js';
import { InMemoryUsageStore } from '../../src/adapters/memory/in-memory-usage-store.js';
import { PrometheusMetrics } from '../../src/adapters/metrics/prometheus-metrics.js';
import { resolveConfig } from '../../src/application/config.js';
import { composeStore } from '../../src/application/create-store.js';
import { createTokenUsageRepository } from '../../src/application/di/create.js';
import type { TokenUsageRepository } from '../../src/application/token-usage-repository.js';
import { systemClock } from '../../src/adapters/system-clock.js';
import { cycleStart } from '../../src/domain/billing-cycle.js';
import { isUsageError, StoreUnavailableError, ValidationError } from '../../src/domain/errors.js';
import { RECORD_NOW, recordsNow } from '../../src/domain/synchronous-record.js';
import type { UsageStore } from '../../src/ports/usage-store.js';
import { FakeClock } from '../support/fake-clock.js';
import { countLike, dateLike, maybe, userIdLike } from '../support/fuzz-values.js';
import { aCycle, aUsageRecord } from '../support/mothers.js';
import { RecordingLogger } from '../support/recording-logger.js';

/*
 * The in-memory store and the metered decorator around it record synchronously (`RECORD_NOW`), and
 * the facade takes that path when the whole stack offers it. It must be the same step as
 * `recordUsage`: same outcomes, same errors, same writes, same metrics.
 */

/** The store as a host would write it: only the port's promise-returning methods, so the facade takes the async path. */
function asyncOnly(inner: UsageStore): UsageStore {
  return {
    recordUsage: (command) => inner.recordUsage(command),
    recordUsageBatch: (commands) => inner.recordUsageBatch(commands),
    readUsage: (ref, options) => inner.readUsage(ref, options),
    resetUsage: (ref) => inner.resetUsage(ref),
    setLimit: (command) => inner.setLimit(command),
    reserve: (command) => inner.reserve(command),
    releaseLease: (command) => inner.releaseLease(command),
    close: () => inner.close(),
  };
}

/** What a call did: its outcome, or its error's class, code, field and message. */
async function settle(run: () => Promise<unknown>): Promise<unknown> {
  try {
    return { ok: await run() };
  } catch (error) {
    if (!isUsageError(error)) throw error;
    return { name: error.name, code: error.code, field: (error as ValidationError).field, message: error.message };
  }
}

/** The exposition without what depends on elapsed time (duration buckets and sums); the counts stay. */
async function countedMetrics(repo: TokenUsageRepository): Promise<string[]> {
  return (await repo.metrics()).split('\n').filter((line) => !/_duration_seconds_(bucket|sum)/.test(line));
}

describe('synchronous records (RECORD_NOW)', () => {
  it('are offered by the in-memory store and by the metered decorator over it, and by nothing asynchronous', () => {
    const memory = new InMemoryUsageStore();
    const metrics = new PrometheusMetrics();
    expect(recordsNow(memory)).toBe(memory);
    expect(recordsNow(new MeteredUsageStore(memory, metrics))).toBeDefined();
    for (const store of [
      asyncOnly(memory),
      new MeteredUsageStore(asyncOnly(memory), metrics),
      new MeteredUsageStore(new CachingUsageStore(memory, { clock: new FakeClock() }), metrics),
      new MeteredUsageStore(new RetryingUsageStore(memory, { logger: new RecordingLogger() }), metrics),
    ]) {
      expect(recordsNow(store)).toBeUndefined();
    }
  });

  it('are refused where recordUsage is not the one they mirror: a subclass override or a proxy keeps its own', async () => {
    const seen: string[] = [];
    class Logging extends InMemoryUsageStore {
      override async recordUsage(command: Parameters<UsageStore['recordUsage']>[0]) {
        seen.push('subclass');
        return super.recordUsage(command);
      }
    }
    const inner = new InMemoryUsageStore();
    const proxy = new Proxy(inner, {
      get: (target, name, receiver) =>
        name === 'recordUsage'
          ? (command: Parameters<UsageStore['recordUsage']>[0]) => (seen.push('proxy'), target.recordUsage(command))
          : Reflect.get(target, name, receiver),
    });
    for (const store of [new Logging(), proxy]) {
      expect(recordsNow(store)).toBeUndefined();
      expect(recordsNow(new MeteredUsageStore(store, new PrometheusMetrics()))).toBeUndefined();
      const repo = createTokenUsageRepository({ config: { store: 'memory', logLevel: 'silent' }, store });
      await repo.incrementDetailedUsage('alice', 10, 5);
    }
    expect(seen).toEqual(['subclass', 'proxy']);
  });

  it('are what the composed stack offers for the memory store unless a cache or retries sit in it', () => {
    const deps = { metrics: new PrometheusMetrics(), clock: new FakeClock(), logger: new RecordingLogger() };
    const compose = (input: Parameters<typeof resolveConfig>[0]): UsageStore =>
      composeStore(new InMemoryUsageStore(), resolveConfig({ store: 'memory', ...input }), deps);
    expect(recordsNow(compose({}))).toBeDefined();
    expect(recordsNow(compose({ cache: { ttlMs: 1_000 } }))).toBeUndefined();
    expect(recordsNow(compose({ retry: { attempts: 3 } }))).toBeUndefined();
  });

  it('check an unmarked command fully and throw at once, writing nothing', () => {
    const store = new InMemoryUsageStore();
    expect(() => store[RECORD_NOW]({ ...aUsageRecord(), promptTokens: -1 } as never, systemClock, Date.now())).toThrow(ValidationError);
    expect([...store.inspectRecords()]).toEqual([]);
  });

  it("take the caller's clock reading only when it is a reading of the store's own clock", () => {
    const clock = new FakeClock('2024-01-15T12:00:00Z');
    const store = new InMemoryUsageStore({ clock });
    const record = aUsageRecord({ cycle: aCycle(cycleStart('2024-01-01'), clock.now() + 1_000), prompt: 1, completion: 0 });
    store[RECORD_NOW](record, clock, clock.now());
    const later = clock.now() + 1_000; // the cycle's data is past its retention then
    // Another clock's reading says nothing about the store's clock: the record adds to the live cycle.
    expect(store[RECORD_NOW](record, new FakeClock(later), later).counters.totalTokens).toBe(2);
    // The store's own clock read at `later`: the expired cycle is dropped first, so the record starts it anew.
    expect(store[RECORD_NOW](record, clock, later).counters.totalTokens).toBe(1);
  });

  it('count like recordUsage in the metered decorator: tokens unless duplicate, and store errors by kind', async () => {
    const clock = new FakeClock('2024-01-15T12:00:00Z');
    const [syncMetrics, asyncMetrics] = [new PrometheusMetrics(), new PrometheusMetrics()];
    const syncStore = new InMemoryUsageStore({ clock });
    const asyncStore = new InMemoryUsageStore({ clock });
    const sync = new MeteredUsageStore(syncStore, syncMetrics);
    const reference = new MeteredUsageStore(asyncOnly(asyncStore), asyncMetrics);
    const record = aUsageRecord({ prompt: 7, completion: 3 });
    for (let i = 0; i < 2; i++) expect(sync[RECORD_NOW]?.(record, clock, clock.now())).toEqual(await reference.recordUsage(record));
    await syncStore.close();
    await asyncStore.close();
    expect(() => sync[RECORD_NOW]?.(record, clock, clock.now())).toThrow(StoreUnavailableError);
    await expect(reference.recordUsage(record)).rejects.toThrow(StoreUnavailableError);
    expect(await syncMetrics.exposition()).toEqual(await asyncMetrics.exposition());
  });

  it('give the facade the same answers, errors, writes and metrics as the asynchronous path', async () => {
    const options = maybe(fc.record({ idempotencyKey: maybe(fc.constantFrom('resp-1', 'resp-2')) }, { requiredKeys: [] }));
    const call = fc.oneof(
      fc.record({ kind: fc.constant('detailed' as const), user: userIdLike, a: countLike, b: countLike, date: dateLike, options }),
      fc.record({ kind: fc.constant('prompt' as const), user: userIdLike, a: countLike, date: dateLike, options }),
      fc.record({ kind: fc.constant('total' as const), user: userIdLike, a: countLike, date: dateLike, options }),
      { arbitrary: fc.record({ kind: fc.constant('close-store' as const) }), weight: 1 },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(call, { minLength: 1, maxLength: 12 }), async (calls) => {
        const clock = new FakeClock('2026-10-20T08:00:00Z');
        const config = { store: 'memory', logLevel: 'silent' } as const;
        const syncStore = new InMemoryUsageStore({ clock });
        const asyncStore = new InMemoryUsageStore({ clock });
        const fast = createTokenUsageRepository({ config, clock, store: syncStore });
        const reference = createTokenUsageRepository({ config, clock, store: asyncOnly(asyncStore) });
        const run = (repo: TokenUsageRepository, c: (typeof calls)[number]): Promise<unknown> => {
          const opts = c.kind === 'close-store' ? undefined : (c.options as never);
          switch (c.kind) {
            case 'detailed':
              return repo.incrementDetailedUsage(c.user as string, c.a as number, c.b as number, c.date as string, opts);
            case 'prompt':
              return repo.incrementPromptTokens(c.user as string, c.a as number, c.date as string, opts);
            case 'total':
              return repo.incrementTotalUsage(c.user as string, c.a as number, c.date as string, opts);
            case 'close-store':
              return Promise.all([syncStore.close(), asyncStore.close()]);
          }
        };
        for (const c of calls) {
          if (c.kind === 'close-store') {
            await run(fast, c);
            continue;
          }
          const expected = await settle(() => run(reference, c));
          expect(await settle(() => run(fast, c))).toEqual(expected);
          clock.advance(1_000);
        }
        expect([...syncStore.inspectRecords()]).toEqual([...asyncStore.inspectRecords()]);
        expect(await countedMetrics(fast)).toEqual(await countedMetrics(reference));
      }),
      { numRuns: 300 },
    );
  });
});
