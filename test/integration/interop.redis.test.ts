import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenUsageRepository } from '../../src/index.js';
import type { TokenUsageRepository } from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { describeRedis, redisUrl } from '../support/redis.js';
import { rawRedis } from '../support/redis-store.js';

// These tests use the seed's literal prefix `token_usage`, so user ids are random instead.
const user = (): string => `interop-${randomBytes(5).toString('hex')}`;

describeRedis('interop with the Python original (seed layout on real Redis)', () => {
  let raw: Redis;
  let repo: TokenUsageRepository;
  let tagged: TokenUsageRepository;

  beforeAll(() => {
    raw = rawRedis();
    const clock = new FakeClock(Date.now());
    const logger = new RecordingLogger();
    repo = createTokenUsageRepository({ config: { redis: { url: redisUrl } }, clock, logger });
    tagged = createTokenUsageRepository({ config: { redis: { url: redisUrl }, hashTags: true }, clock, logger });
  });

  afterAll(async () => {
    await repo.close();
    await tagged.close();
    raw.disconnect();
  });

  it('reads a hash the Python original wrote with raw commands', async () => {
    const id = user();
    await raw.hset(`token_usage:${id}:2024-01-01`, {
      prompt_tokens: '150',
      completion_tokens: '75',
      total_tokens: '225',
      usage_limit: '10000',
    });
    expect(await repo.getUsageStats(id, '2024-01-01')).toEqual({
      promptTokens: 150,
      completionTokens: 75,
      totalTokens: 225,
    });
    expect(await repo.checkUsageLimit(id, '2024-01-01')).toEqual({
      exceeded: false,
      currentUsage: 225,
      limit: 10_000,
      remaining: 9_775,
    });
  });

  it('adds to a hash the Python original wrote, and Python can read ours field by field', async () => {
    const id = user();
    const key = `token_usage:${id}:2024-01-01`;
    await raw.hset(key, { prompt_tokens: '1', total_tokens: '1' });
    await repo.incrementDetailedUsage(id, 150, 75, '2024-01-01');
    await repo.setUsageLimit(id, 10_000, '2024-01-01');
    expect(await raw.hgetall(key)).toEqual({
      prompt_tokens: '151',
      completion_tokens: '75',
      total_tokens: '226',
      usage_limit: '10000',
    });
  });

  it('keeps tokens that are not broken down in other_tokens, so total = prompt + completion + other', async () => {
    const id = user();
    await repo.incrementDetailedUsage(id, 10, 5, '2024-01-01');
    await repo.incrementTotalUsage(id, 100, '2024-01-01');
    expect(await raw.hgetall(`token_usage:${id}:2024-01-01`)).toEqual({
      prompt_tokens: '10',
      completion_tokens: '5',
      other_tokens: '100',
      total_tokens: '115',
    });
  });

  it('treats a usage_limit of 0 written by Python as no cycle limit', async () => {
    const id = user();
    await raw.hset(`token_usage:${id}:2024-01-01`, { total_tokens: '5', usage_limit: '0' });
    expect(await repo.checkUsageLimit(id, '2024-01-01')).toMatchObject({ limit: 0, exceeded: false });
  });

  it('keeps the standing limit outside the cycle hash, so resetting or deleting a cycle never loses it', async () => {
    const id = user();
    await repo.setUsageLimit(id, 777);
    expect(await raw.hgetall(`token_usage:${id}:policy`)).toEqual({ usage_limit: '777' });
    expect(await raw.ttl(`token_usage:${id}:policy`)).toBe(-1);
    await raw.del(`token_usage:${id}:2024-01-01`);
    expect((await repo.checkUsageLimit(id, '2024-01-01')).limit).toBe(777);
  });

  it('gives cycle keys a TTL from the retention policy (default: 3 monthly cycles after the cycle ends)', async () => {
    const id = user();
    await repo.incrementTotalUsage(id, 1);
    const ttl = await raw.ttl(`token_usage:${id}:${new Date().toISOString().slice(0, 7)}-01`);
    expect(ttl).toBeGreaterThan(3 * 31 * 86_400);
    expect(ttl).toBeLessThanOrEqual((1 + 1 + 3) * 31 * 86_400);
  });

  it('with hash tags, writes token_usage:{user}:date and token_usage:{user}:policy (one Cluster slot)', async () => {
    const id = user();
    await tagged.incrementDetailedUsage(id, 1, 2, '2024-01-01');
    await tagged.setUsageLimit(id, 50);
    expect(await raw.hgetall(`token_usage:{${id}}:2024-01-01`)).toEqual({
      prompt_tokens: '1',
      completion_tokens: '2',
      total_tokens: '3',
    });
    expect(await raw.hget(`token_usage:{${id}}:policy`, 'usage_limit')).toBe('50');
    expect(await raw.exists(`token_usage:${id}:2024-01-01`)).toBe(0);
  });
});

describe('retention turned off', () => {
  it.runIf(redisUrl !== '')('leaves keys without a TTL, like the Python original', async () => {
    const raw = rawRedis();
    const repo = createTokenUsageRepository({
      config: { redis: { url: redisUrl }, cycle: { retentionCycles: 0 } },
      logger: new RecordingLogger(),
    });
    const id = user();
    await repo.incrementTotalUsage(id, 1, '2024-01-01');
    expect(await raw.ttl(`token_usage:${id}:2024-01-01`)).toBe(-1);
    await repo.close();
    raw.disconnect();
  });
});
