import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createTokenUsageRepository, StoreUnavailableError } from '../../src/index.js';
import type { FailurePolicy, TokenUsageRepository } from '../../src/index.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { describeRedis, redisUrl, uniquePrefix } from '../support/redis.js';
import { rawRedis } from '../support/redis-store.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const target = (): { host: string; port: number } => {
  const url = new URL(redisUrl);
  return { host: url.hostname, port: Number(url.port) };
};

describeRedis('quota enforcement on real Redis', () => {
  const prefix = uniquePrefix();
  const repos: TokenUsageRepository[] = [];
  let raw: Redis;

  const repository = (overrides: { url?: string; failurePolicy?: FailurePolicy; commandTimeoutMs?: number } = {}) => {
    const repo = createTokenUsageRepository({
      config: {
        redis: { url: overrides.url ?? redisUrl, commandTimeoutMs: overrides.commandTimeoutMs ?? 5_000, connectTimeoutMs: 500 },
        keyPrefix: prefix,
        hashTags: true,
        enforcement: { failurePolicy: overrides.failurePolicy ?? 'fail-closed' },
      },
      logger: new RecordingLogger(),
    });
    repos.push(repo);
    return repo;
  };

  beforeAll(() => {
    raw = rawRedis();
  });

  afterAll(async () => {
    await Promise.all(repos.map((repo) => repo.close()));
    raw.disconnect();
  });

  it('zero overspend: 2,000 concurrent reserves from 8 connections grant exactly floor(L / k)', async () => {
    const [limit, k] = [10_000, 7];
    const clients = Array.from({ length: 8 }, () => repository());
    await clients[0]?.setUsageLimit('hot', limit);
    const results = await Promise.all(
      Array.from({ length: 2_000 }, (_, i) => (clients[i % clients.length] as TokenUsageRepository).reserve('hot', k)),
    );
    const grants = results.filter((result) => result.granted).length;
    expect(grants).toBe(Math.floor(limit / k));
    expect(await clients[0]?.canConsume('hot', 0)).toMatchObject({ reserved: grants * k, remaining: limit % k });
  });

  it('for contrast, the seed pattern (check, then increment) overspends under the same load', async () => {
    const [limit, k] = [10_000, 7];
    const clients = Array.from({ length: 8 }, () => repository());
    await clients[0]?.setUsageLimit('naive', limit);
    let grants = 0;
    await Promise.all(
      Array.from({ length: 2_000 }, async (_, i) => {
        const client = clients[i % clients.length] as TokenUsageRepository;
        const check = await client.checkUsageLimit('naive');
        if (check.currentUsage + k > check.limit) return;
        grants += 1;
        await client.incrementTotalUsage('naive', k);
      }),
    );
    expect(grants).toBeGreaterThan(Math.floor(limit / k));
    expect((await clients[0]?.getUsageStats('naive'))?.totalTokens).toBeGreaterThan(limit);
  });

  it('keeps leases, daily rollups and idempotency keys under the user hash tag, each with a TTL', async () => {
    const repo = repository();
    const result = await repo.reserve('tagged', 5, { cycleStartDate: '2024-01-01' });
    await repo.incrementTotalUsage('tagged', 1, '2024-01-01', { idempotencyKey: 'resp_42' });
    expect(result.granted).toBe(true);
    const keys = (await raw.keys(`${prefix}:{tagged}:*`)).sort();
    expect(keys).toHaveLength(4);
    expect(keys[0]).toBe(`${prefix}:{tagged}:2024-01-01`);
    expect(keys[1]).toBe(`${prefix}:{tagged}:2024-01-01:daily`);
    expect(keys[2]).toBe(`${prefix}:{tagged}:2024-01-01:leases`);
    expect(keys[3]).toMatch(new RegExp(`^${prefix}:\\{tagged\\}:idem:[0-9a-f]{40}$`));
    for (const key of keys) expect(await raw.pttl(key)).toBeGreaterThan(0);
  });

  it('when Redis goes away mid-test each failure policy does what it says, and nothing recorded is lost', async () => {
    const proxy = new TcpProxy(target());
    await proxy.start();
    const url = `redis://127.0.0.1:${proxy.port}`;
    const closed = repository({ url, failurePolicy: 'fail-closed', commandTimeoutMs: 500 });
    const open = repository({ url, failurePolicy: 'fail-open', commandTimeoutMs: 500 });
    const throwing = repository({ url, failurePolicy: 'throw', commandTimeoutMs: 500 });
    await closed.setUsageLimit('outage', 1_000);
    await closed.incrementDetailedUsage('outage', 60, 40);
    await open.getUsageStats('outage');
    await throwing.getUsageStats('outage');

    await proxy.stop();
    expect(await closed.reserve('outage', 10)).toMatchObject({ granted: false, reason: 'store-unavailable', currentUsage: null });
    expect(await closed.canConsume('outage', 10)).toMatchObject({ allowed: false, reason: 'store-unavailable' });
    const degraded = await open.reserve('outage', 10);
    expect(degraded).toMatchObject({ granted: true, reason: 'store-unavailable', reservation: { degraded: true } });
    expect(await open.canConsume('outage', 10)).toMatchObject({ allowed: true, reason: 'store-unavailable' });
    await expect(throwing.reserve('outage', 10)).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(closed.getUsageStats('outage')).rejects.toBeInstanceOf(StoreUnavailableError);

    await proxy.start();
    await eventually(() => closed.getUsageStats('outage'));
    expect(await closed.getUsageStats('outage')).toEqual({ promptTokens: 60, completionTokens: 40, totalTokens: 100 });
    if (degraded.granted) {
      await eventually(() => open.commit(degraded.reservation, { promptTokens: 5, completionTokens: 5 }));
    }
    expect((await closed.getUsageStats('outage')).totalTokens).toBe(110);
    await proxy.stop();
  });
});

/** Retries `action` until it resolves (ioredis reconnects with backoff), for at most ~10 s. */
async function eventually<T>(action: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await action();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
