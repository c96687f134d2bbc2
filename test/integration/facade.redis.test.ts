import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createTokenUsageRepository, CorruptUsageDataError, StoreUnavailableError } from '../../src/index.js';
import type { TokenUsageRepository } from '../../src/index.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { describeRedis, redisUrl, uniquePrefix } from '../support/redis.js';
import { rawRedis } from '../support/redis-store.js';
import { freeLoopbackPort } from '../support/free-port.js';

describeRedis('the facade on real Redis', () => {
  let repo: TokenUsageRepository;
  let raw: Redis;
  const prefix = uniquePrefix();

  beforeAll(() => {
    raw = rawRedis();
    repo = createTokenUsageRepository({
      config: { redis: { url: redisUrl, maxConnections: 4 }, keyPrefix: prefix },
      logger: new RecordingLogger(),
    });
  });

  afterAll(async () => {
    await repo.close();
    raw.disconnect();
  });

  it('gives exact totals after 1,000 concurrent incrementDetailedUsage calls', async () => {
    await Promise.all(
      Array.from({ length: 1_000 }, (_, i) => repo.incrementDetailedUsage('hot-user', 3, i % 2, '2024-01-01')),
    );
    expect(await repo.getUsageStats('hot-user', '2024-01-01')).toEqual({
      promptTokens: 3_000,
      completionTokens: 500,
      totalTokens: 3_500,
    });
  });

  it('refuses to add to a corrupt hash and writes nothing to any field', async () => {
    const key = `${prefix}:corrupt:2024-01-01`;
    await raw.hset(key, { prompt_tokens: '10', completion_tokens: 'abc', total_tokens: '10' });
    const error = await repo.incrementDetailedUsage('corrupt', 5, 5, '2024-01-01').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptUsageDataError);
    expect(error).toMatchObject({ code: 'USAGE.CORRUPT_DATA', field: 'completion_tokens', key });
    expect(await raw.hgetall(key)).toEqual({ prompt_tokens: '10', completion_tokens: 'abc', total_tokens: '10' });
    await expect(repo.getUsageStats('corrupt', '2024-01-01')).rejects.toBeInstanceOf(CorruptUsageDataError);
  });

  it('treats a negative counter as corrupt: no read reports it, no reservation is granted against it', async () => {
    await raw.hset(`${prefix}:negative:2024-01-01`, { total_tokens: '-500', usage_limit: '100' });
    await expect(repo.getUsageStats('negative', '2024-01-01')).rejects.toBeInstanceOf(CorruptUsageDataError);
    await expect(repo.reserve('negative', 600, { cycleStartDate: '2024-01-01' })).rejects.toMatchObject({
      code: 'USAGE.CORRUPT_DATA',
      field: 'total_tokens',
    });
    await expect(repo.incrementTotalUsage('negative', 1, '2024-01-01')).rejects.toBeInstanceOf(CorruptUsageDataError);
    expect(await raw.hget(`${prefix}:negative:2024-01-01`, 'total_tokens')).toBe('-500');
  });

  it('treats a key of the wrong type as corrupt data, never as zero usage', async () => {
    await raw.set(`${prefix}:wrongtype:2024-01-01`, 'not a hash');
    await expect(repo.getUsageStats('wrongtype', '2024-01-01')).rejects.toBeInstanceOf(CorruptUsageDataError);
    await expect(repo.incrementTotalUsage('wrongtype', 1, '2024-01-01')).rejects.toBeInstanceOf(CorruptUsageDataError);
  });
});

describeRedis('when Redis cannot be reached', () => {
  let blackHole: Server;
  let blackHolePort = 0;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    // Accepts connections and never answers: every command must time out.
    blackHole = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    blackHolePort = (blackHole.address() as { port: number }).port;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => blackHole.close(resolve));
  });



  it('reads and writes fail with StoreUnavailableError (never zeros) against a closed port', async () => {
    const logger = new RecordingLogger();
    const repo = createTokenUsageRepository({
      config: { redis: { url: `redis://:hunter2-secret@127.0.0.1:${await freeLoopbackPort()}`, connectTimeoutMs: 500 } },
      logger,
    });
    const started = Date.now();
    await expect(repo.getUsageStats('u')).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(repo.checkUsageLimit('u')).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(repo.incrementDetailedUsage('u', 1, 1)).rejects.toBeInstanceOf(StoreUnavailableError);
    // Bounded: a generous ceiling that only catches "waits forever in the offline queue".
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(logger.lines.some((line) => line.level === 'error')).toBe(true);
    expect(logger.text()).not.toContain('hunter2-secret');
    await repo.close();
  });

  it('a command that gets no reply fails after the command timeout, for reads and writes', async () => {
    const repo = createTokenUsageRepository({
      config: { redis: { port: blackHolePort, host: '127.0.0.1', commandTimeoutMs: 300, retryOnTimeout: false } },
      logger: new RecordingLogger(),
    });
    const read = await repo.getUsageStats('u').catch((e: unknown) => e);
    expect(read).toBeInstanceOf(StoreUnavailableError);
    expect((read as Error).message).toContain('timed out');
    await expect(repo.incrementTotalUsage('u', 1)).rejects.toBeInstanceOf(StoreUnavailableError);
    await repo.close();
  });
});
