import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryUsageStore } from '../../src/adapters/memory/in-memory-usage-store.js';
import { createTokenUsageRepository, isUsageError } from '../../src/index.js';
import type { TokenUsageRepository, UsageStore } from '../../src/index.js';
import type { AlertSink, UsageAlert } from '../../src/ports/alert-sink.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { hasRedis, uniquePrefix } from '../support/redis.js';
import { rawRedis, realRedisStore } from '../support/redis-store.js';

const MAX = Number.MAX_SAFE_INTEGER;
// A date that is not the start of the current (monthly) cycle: recorded with an explicit cycleStartDate.
const OLD = '2026-10-15';

/** Collects alerts, each delivery finishing a few turns of the event loop later (like a webhook). */
class SlowSink implements AlertSink {
  readonly delivered: UsageAlert[] = [];
  async deliver(alert: UsageAlert): Promise<void> {
    for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve));
    this.delivered.push(alert);
  }
}

interface Backend {
  readonly name: string;
  /** A fresh store, and (where the backend can show it) a reader of a cycle hash's raw prompt_tokens. */
  readonly create: () => { store: UsageStore; rawPromptTokens?: (user: string, cycle: string) => Promise<string | null> };
}

const BACKENDS: Backend[] = [{ name: 'in-memory', create: () => ({ store: new InMemoryUsageStore() }) }];
if (hasRedis) {
  BACKENDS.push({
    name: 'real Redis',
    create: () => {
      const prefix = uniquePrefix();
      return {
        store: realRedisStore({ prefix, hashTags: true }),
        rawPromptTokens: async (user, cycle) => {
          const raw = rawRedis();
          try {
            return await raw.hget(`${prefix}:{${user}}:${cycle}`, 'prompt_tokens');
          } finally {
            raw.disconnect();
          }
        },
      };
    },
  });
}

describe.each(BACKENDS)('hardening on $name', (backend) => {
  const open: TokenUsageRepository[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((repo) => repo.close().catch(() => undefined)));
  });

  function repository(config: Record<string, unknown> = {}): {
    repo: TokenUsageRepository;
    sink: SlowSink;
    rawPromptTokens?: (user: string, cycle: string) => Promise<string | null>;
  } {
    const sink = new SlowSink();
    const { store, rawPromptTokens } = backend.create();
    const repo = createTokenUsageRepository({
      config: { store: 'memory', ...config },
      store,
      alertSinks: [sink],
      logger: new RecordingLogger(),
    });
    open.push(repo);
    return rawPromptTokens === undefined ? { repo, sink } : { repo, sink, rawPromptTokens };
  }

  it('item 8: a record that would pass 2^53 - 1 is refused before anything is written', async () => {
    const { repo, rawPromptTokens } = repository();
    const user = `big-${uniquePrefix()}`;
    await repo.incrementPromptTokens(user, MAX, OLD);
    const error = await repo.incrementPromptTokens(user, 1, OLD).catch((e: unknown) => e);
    expect(isUsageError(error, 'USAGE.CORRUPT_DATA')).toBe(true);
    expect(await repo.getUsageStats(user, OLD)).toEqual({ promptTokens: MAX, completionTokens: 0, totalTokens: MAX });
    if (rawPromptTokens !== undefined) expect(await rawPromptTokens(user, OLD)).toBe(String(MAX));
    // Other counters are refused too when the total would overflow.
    await expect(repo.incrementCompletionTokens(user, 1, OLD)).rejects.toMatchObject({ code: 'USAGE.CORRUPT_DATA', field: 'total_tokens' });
    expect((await repo.checkUsageLimit(user, OLD)).currentUsage).toBe(MAX);
  });

  it('item 9: a commit that was a duplicate by the caller key claims the reservation too', async () => {
    const { repo } = repository();
    const user = `dup-${uniquePrefix()}`;
    await repo.incrementDetailedUsage(user, 10, 5, OLD, { idempotencyKey: 'resp-1' });
    const held = await repo.reserve(user, 100, { cycleStartDate: OLD });
    if (!held.granted) throw new Error('expected a grant');
    expect((await repo.commit(held.reservation, { promptTokens: 10, completionTokens: 5 }, { idempotencyKey: 'resp-1' })).duplicate).toBe(true);
    expect((await repo.commit(held.reservation, { promptTokens: 10, completionTokens: 5 })).duplicate).toBe(true);
    expect((await repo.getUsageStats(user, OLD)).totalTokens).toBe(15);
  });

  it('item 10: after close(), every write rejects with StoreUnavailableError, recordBuffered included', async () => {
    const { repo } = repository({ enforcement: { failurePolicy: 'fail-open' } });
    await repo.close();
    const writes: Array<() => Promise<unknown>> = [
      () => repo.recordBuffered({ userId: 'u', promptTokens: 1 }),
      () => repo.incrementPromptTokens('u', 1),
      () => repo.setUsageLimit('u', 10),
      () => repo.resetUsage('u'),
      () => repo.reserve('u', 1),
      () => repo.guard('u', { estimateTokens: 1 }, async () => 1),
    ];
    for (const write of writes) await expect(write()).rejects.toMatchObject({ code: 'USAGE.STORE_UNAVAILABLE' });
    expect(await repo.healthCheck()).toMatchObject({ status: 'unhealthy' });
  });

  it('item 11: close() waits for the alerts of the final buffered flush', async () => {
    const { repo, sink } = repository({ alerts: { enabled: true }, buffer: { flushIntervalMs: 60_000 } });
    const user = `flush-${uniquePrefix()}`;
    await repo.setUsageLimit(user, 100);
    await repo.recordBuffered({ userId: user, promptTokens: 85 });
    await repo.close();
    expect(sink.delivered.map((alert) => alert.level)).toEqual(['info']);
  });

  it('item 12: raising the standing limit re-arms the thresholds of a cycle recorded with an explicit date', async () => {
    const { repo, sink } = repository({ alerts: { enabled: true } });
    const user = `rearm-${uniquePrefix()}`;
    await repo.setUsageLimit(user, 1_000);
    expect((await repo.incrementTotalUsage(user, 800, OLD))?.alerts.map((a) => a.level)).toEqual(['info']);
    await repo.setUsageLimit(user, 2_000); // 800 of 2,000 is 40 %: info is no longer crossed there
    expect((await repo.incrementTotalUsage(user, 800, OLD))?.alerts.map((a) => a.level)).toEqual(['info']);
    await repo.alertsIdle();
    expect(sink.delivered.filter((alert) => alert.cycleStartDate === OLD)).toHaveLength(2);
  });

  it('item 12: lowering the standing limit fires in the cycles that already had alerts', async () => {
    const { repo } = repository({ alerts: { enabled: true } });
    const user = `lower-${uniquePrefix()}`;
    await repo.setUsageLimit(user, 1_000);
    await repo.incrementTotalUsage(user, 850, OLD);
    await repo.setUsageLimit(user, 880); // 850 of 880 is 96.6 %: warning
    const after = await repo.incrementTotalUsage(user, 1, OLD);
    expect(after?.alerts).toEqual([]); // warning was claimed by the limit change itself
  });

  it('item 13: thresholds compare exactly at counters near 2^53 (95 % of MAX_SAFE_INTEGER)', async () => {
    const { repo } = repository({ alerts: { enabled: true } });
    const user = `exact-${uniquePrefix()}`;
    await repo.setUsageLimit(user, MAX);
    // ceil(0.95 * MAX) = 8556839292003942; one below it, doubles would already say "crossed".
    const justBelow = 8_556_839_292_003_941;
    expect((await repo.incrementTotalUsage(user, justBelow, OLD))?.alerts.map((a) => a.level)).toEqual(['info']);
    expect((await repo.incrementTotalUsage(user, 1, OLD))?.alerts.map((a) => a.level)).toEqual(['warning']);
    const oneBelowMax = MAX - 1 - (justBelow + 1);
    expect((await repo.incrementTotalUsage(user, oneBelowMax, OLD))?.alerts).toEqual([]);
    expect((await repo.incrementTotalUsage(user, 1, OLD))?.alerts.map((a) => a.level)).toEqual(['critical']);
  });
});
