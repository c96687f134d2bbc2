import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createTokenUsageRepository } from '../../src/index.js';
import type { TokenUsageRepository } from '../../src/index.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { describeRedis, redisUrl, uniquePrefix } from '../support/redis.js';
import { rawRedis } from '../support/redis-store.js';

describeRedis('cache and reasoning details on real Redis', () => {
  let repo: TokenUsageRepository;
  let raw: Redis;
  const prefix = uniquePrefix();

  beforeAll(() => {
    raw = rawRedis();
    repo = createTokenUsageRepository({ config: { redis: { url: redisUrl }, keyPrefix: prefix }, logger: new RecordingLogger() });
  });

  afterAll(async () => {
    await repo.close();
    raw.disconnect();
  });

  it('keeps the details in their own hash fields, beside the seed fields, and total = prompt + completion + other', async () => {
    const granted = await repo.reserve('ann', 5_000, { cycleStartDate: '2024-01-01' });
    if (!granted.granted) throw new Error('expected a grant');
    await repo.commit(granted.reservation, { promptTokens: 3_000, completionTokens: 500, cacheReadTokens: 2_000, cacheWriteTokens: 600, reasoningTokens: 300 });
    expect(await raw.hgetall(`${prefix}:ann:2024-01-01`)).toEqual({
      prompt_tokens: '3000',
      completion_tokens: '500',
      total_tokens: '3500',
      cache_read_tokens: '2000',
      cache_write_tokens: '600',
      reasoning_tokens: '300',
    });
  });

  it('a corrupt detail field never blocks usage: the counters are recorded, the bad detail is left and not read', async () => {
    await raw.hset(`${prefix}:bea:2024-01-01`, { prompt_tokens: '10', total_tokens: '10', cache_read_tokens: 'garbage' });
    const granted = await repo.reserve('bea', 100, { cycleStartDate: '2024-01-01' });
    if (!granted.granted) throw new Error('expected a grant');
    await repo.commit(granted.reservation, { promptTokens: 20, completionTokens: 5, cacheReadTokens: 8, reasoningTokens: 2 });
    expect(await repo.getUsageStats('bea', '2024-01-01')).toEqual({ promptTokens: 30, completionTokens: 5, totalTokens: 35, reasoningTokens: 2 });
    expect(await raw.hget(`${prefix}:bea:2024-01-01`, 'cache_read_tokens')).toBe('garbage');
  });

  it('resetUsage clears the details with the counters', async () => {
    await repo.resetUsage('ann', '2024-01-01');
    expect(await raw.hgetall(`${prefix}:ann:2024-01-01`)).toEqual({});
  });
});
