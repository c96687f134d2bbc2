import { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { createTokenUsageRepository } from '../../src/index.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { describeRedis, redisUrl, uniquePrefix } from '../support/redis.js';
import { RedisProcess } from '../support/redis-process.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const CYCLE = '2024-01-01';

async function totalOf(url: string, prefix: string, users: number): Promise<number> {
  const raw = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  let total = 0;
  for (let i = 0; i < users; i += 1) total += Number((await raw.hget(`${prefix}:u${i}:${CYCLE}`, 'total_tokens')) ?? 0);
  raw.disconnect();
  return total;
}

describeRedis('the buffered recorder on real Redis', () => {
  const target = (): { host: string; port: number } => ({ host: '127.0.0.1', port: Number(new URL(redisUrl).port) });

  it('keeps and retries its batch while Redis is unreachable; nothing is lost, nothing doubled', async () => {
    const proxy = new TcpProxy(target());
    await proxy.start();
    const prefix = uniquePrefix();
    const logger = new RecordingLogger();
    const repo = createTokenUsageRepository({
      config: {
        redis: { url: `redis://127.0.0.1:${proxy.port}`, commandTimeoutMs: 300, connectTimeoutMs: 300 },
        keyPrefix: prefix,
        buffer: { flushIntervalMs: 50, maxBatchRecords: 100, highWaterMark: 20 },
      },
      logger,
    });
    await repo.recordBuffered({ userId: 'u0', promptTokens: 1, cycleStartDate: CYCLE });
    await repo.flush();
    await proxy.stop();
    // 20 distinct users fill the high-water mark; the 21st must wait for Redis (backpressure).
    for (let i = 0; i < 20; i += 1) await repo.recordBuffered({ userId: `u${i}`, promptTokens: 2, cycleStartDate: CYCLE });
    let accepted = false;
    const blocked = repo.recordBuffered({ userId: 'u20', promptTokens: 2, cycleStartDate: CYCLE }).then(() => (accepted = true));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(accepted).toBe(false);
    expect(logger.lines.some((line) => line.level === 'warn' && String(line.message).includes('retrying'))).toBe(true);
    await proxy.start();
    await blocked;
    await repo.close();
    expect(await totalOf(redisUrl, prefix, 21)).toBe(1 + 21 * 2);
    await proxy.stop();
  }, 60_000);

  it('resumes after Redis restarts mid-stream (AOF on) and the totals are exact', async () => {
    const server = new RedisProcess();
    await server.start();
    const prefix = uniquePrefix();
    const repo = createTokenUsageRepository({
      config: {
        redis: { url: server.url, commandTimeoutMs: 500, connectTimeoutMs: 500 },
        keyPrefix: prefix,
        buffer: { flushIntervalMs: 20, maxBatchRecords: 50, highWaterMark: 1_000 },
      },
      logger: new RecordingLogger(),
    });
    const records = 5_000;
    let restarted = false;
    for (let i = 0; i < records; i += 1) {
      await repo.recordBuffered({ userId: `u${i % 25}`, promptTokens: 3, completionTokens: 1, cycleStartDate: CYCLE });
      if (i === 2_000) {
        await server.stop(); // mid-stream, with buffered and in-flight records
        setTimeout(() => void server.start().then(() => (restarted = true)), 300);
      }
    }
    await repo.close();
    expect(restarted).toBe(true);
    expect(await totalOf(server.url, prefix, 25)).toBe(records * 4);
    await server.destroy();
  }, 120_000);
});

