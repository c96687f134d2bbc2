import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createTokenUsageRepository, CorruptUsageDataError } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { describeRedis, redisUrl, uniquePrefix } from '../support/redis.js';
import { rawRedis } from '../support/redis-store.js';
import { describeUsageHistoryContract } from './usage-history.contract.js';

describeRedis('usage history on real Redis', () => {
  // The fake clock runs in 2027, so the contract keeps data forever (a past retainUntil would expire it at once).
  describeUsageHistoryContract('Redis store', (clock) => ({
    repo: createTokenUsageRepository({
      config: {
        redis: { url: redisUrl, maxConnections: 4 },
        keyPrefix: uniquePrefix(),
        cycle: { policy: 'monthly', timeZone: 'Europe/Berlin', retentionCycles: 0 },
      },
      clock,
      logger: new RecordingLogger(),
    }),
  }));

  describeUsageHistoryContract('Redis store with hash tags', (clock) => ({
    repo: createTokenUsageRepository({
      config: {
        redis: { url: redisUrl },
        keyPrefix: uniquePrefix(),
        hashTags: true,
        cycle: { policy: 'monthly', timeZone: 'Europe/Berlin', retentionCycles: 0 },
      },
      clock,
      logger: new RecordingLogger(),
    }),
  }));

  const prefix = uniquePrefix();
  const repo = createTokenUsageRepository({ config: { redis: { url: redisUrl }, keyPrefix: prefix }, logger: new RecordingLogger() });
  let raw: Redis;
  beforeAll(() => {
    raw = rawRedis();
  });
  afterAll(async () => {
    await repo.close();
    raw.disconnect();
  });

  it('gives the rollup the same expiry as the cycle hash, and a reset deletes it in the same step', async () => {
    await repo.incrementDetailedUsage('ttl-user', 3, 4);
    const cycle = new Date().toISOString().slice(0, 8) + '01';
    const [hashExpiry, dailyExpiry] = await Promise.all([
      raw.call('EXPIRETIME', `${prefix}:ttl-user:${cycle}`),
      raw.call('EXPIRETIME', `${prefix}:ttl-user:${cycle}:daily`),
    ]);
    expect(Number(hashExpiry)).toBeGreaterThan(Date.now() / 1000);
    expect(dailyExpiry).toBe(hashExpiry);
    await repo.resetUsage('ttl-user');
    expect(await raw.exists(`${prefix}:ttl-user:${cycle}:daily`)).toBe(0);
  });

  it('moves the rollup expiry with the cycle hash when a limit is set on an ended cycle later', async () => {
    const clock = new FakeClock(Date.now());
    const late = createTokenUsageRepository({ config: { redis: { url: redisUrl }, keyPrefix: prefix }, clock, logger: new RecordingLogger() });
    try {
      const old = new Date(Date.now() - 70 * 86_400_000).toISOString().slice(0, 8) + '01';
      await late.incrementDetailedUsage('late-limit', 1, 1, old);
      clock.advance(3 * 86_400_000); // the retention of an ended cycle counts from now
      await late.setUsageLimit('late-limit', 500, old);
      const [hashExpiry, dailyExpiry] = await Promise.all([
        raw.call('EXPIRETIME', `${prefix}:late-limit:${old}`),
        raw.call('EXPIRETIME', `${prefix}:late-limit:${old}:daily`),
      ]);
      expect(Number(hashExpiry)).toBeGreaterThan(Date.now() / 1000 + 2 * 86_400);
      expect(dailyExpiry).toBe(hashExpiry);
    } finally {
      await late.close();
    }
  });

  it('refuses to record, writing nothing, when a rollup field is corrupt', async () => {
    const key = `${prefix}:corrupt-user:2024-01-01`;
    await repo.incrementDetailedUsage('corrupt-user', 1, 1, '2024-01-01');
    const fields = await raw.hgetall(`${key}:daily`);
    const [dayField] = Object.keys(fields);
    await raw.hset(`${key}:daily`, dayField as string, 'oops');
    await expect(repo.incrementDetailedUsage('corrupt-user', 5, 5, '2024-01-01')).rejects.toBeInstanceOf(CorruptUsageDataError);
    expect(await repo.getUsageStats('corrupt-user', '2024-01-01')).toEqual({ promptTokens: 1, completionTokens: 1, totalTokens: 2 });
    await expect(repo.usageHistory('corrupt-user', { from: '2024-01-01', to: '2024-01-31' })).rejects.toBeInstanceOf(CorruptUsageDataError);
  });

  it('refuses a record that would push a rollup field past 2^53 (Lua numbers are doubles), writing nothing', async () => {
    const key = `${prefix}:huge-user:2024-01-01`;
    await repo.incrementDetailedUsage('huge-user', 1, 0, '2024-01-01');
    const [dayField] = Object.keys(await raw.hgetall(`${key}:daily`));
    await raw.hset(`${key}:daily`, dayField as string, `${Number.MAX_SAFE_INTEGER}:0:${Number.MAX_SAFE_INTEGER}`);
    await expect(repo.incrementDetailedUsage('huge-user', 1, 0, '2024-01-01')).rejects.toMatchObject({ code: 'USAGE.CORRUPT_DATA', field: 'daily' });
    expect(await repo.getUsageStats('huge-user', '2024-01-01')).toEqual({ promptTokens: 1, completionTokens: 0, totalTokens: 1 });
    expect(await raw.hget(`${key}:daily`, dayField as string)).toBe(`${Number.MAX_SAFE_INTEGER}:0:${Number.MAX_SAFE_INTEGER}`);
  });
});
