import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import { createHmac } from 'node:crypto';
import { resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTokenUsageRepository } from '../../src/index.js';
import type { TokenUsageRepository } from '../../src/index.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { describeRedis, redisUrl, uniquePrefix } from '../support/redis.js';
import { rawRedis } from '../support/redis-store.js';

describeRedis('monitoring on real Redis, through the facade', () => {
  const prefix = uniquePrefix();
  const received: { headers: IncomingMessage['headers']; body: string }[] = [];
  let server: Server;
  let webhookUrl = '';
  let raw: Redis;
  let repo: TokenUsageRepository;

  beforeAll(async () => {
    server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        received.push({ headers: request.headers, body });
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    webhookUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/alerts`;
    raw = rawRedis();
    repo = createTokenUsageRepository({
      env: {
        REDIS_URL: redisUrl,
        TOKEN_STATS_KEY_PREFIX: prefix,
        TOKEN_STATS_HASH_TAGS: 'true',
        TOKEN_STATS_ALERT_WEBHOOK_URL: webhookUrl,
        TOKEN_STATS_ALERT_WEBHOOK_SECRET: 'whsec',
      },
      logger: new RecordingLogger(),
    });
  });

  afterAll(async () => {
    await repo.close();
    raw.disconnect();
    await new Promise((done) => server.close(done));
  });

  it('a threshold crossing is POSTed once to the configured webhook, signed', async () => {
    await repo.setUsageLimit('hooked', 100, '2024-01-01');
    await repo.incrementDetailedUsage('hooked', 50, 35, '2024-01-01');
    await repo.incrementDetailedUsage('hooked', 1, 0, '2024-01-01');
    await repo.alertsIdle();
    expect(received).toHaveLength(1);
    const [delivery] = received;
    const alert = JSON.parse(delivery?.body ?? '{}') as Record<string, unknown>;
    expect(alert).toMatchObject({ userId: 'hooked', cycleStartDate: '2024-01-01', level: 'info', currentUsage: 85, limit: 100 });
    const timestamp = delivery?.headers['x-token-usage-timestamp'] as string;
    const expected = createHmac('sha256', 'whsec').update(`${timestamp}.${delivery?.body}`).digest('hex');
    expect(delivery?.headers['x-token-usage-signature']).toBe(`sha256=${expected}`);
  });

  it('a sweep catches crossings written by someone else (the Python original) and fires each once', async () => {
    const cycle = new Date().toISOString().slice(0, 8) + '01';
    await raw.hset(`${prefix}:{py-user}:${cycle}`, { total_tokens: '960', usage_limit: '1000' });
    await raw.hset(`${prefix}:{quiet-user}:${cycle}`, { total_tokens: '10', usage_limit: '1000' });
    const progress: number[] = [];
    const report = await repo.sweepAlerts(undefined, { batchSize: 1, onProgress: (p) => progress.push(p.scanned) });
    expect(report.alerts.map((alert) => [alert.userId, alert.level])).toEqual([
      ['py-user', 'info'],
      ['py-user', 'warning'],
    ]);
    expect(progress.at(-1)).toBe(report.scanned);
    expect((await repo.sweepAlerts()).alerts).toEqual([]);
  });

  it('verifyConsistency finds a deflated total and repairs it', async () => {
    const key = `${prefix}:{broken}:2024-01-01`;
    await raw.hset(key, { prompt_tokens: '10', completion_tokens: '5', total_tokens: '3' });
    const dryRun = await repo.verifyConsistency({ userId: 'broken', cycleStartDate: '2024-01-01' });
    expect(dryRun.findings.map((finding) => finding.kind)).toEqual(['total-mismatch']);
    expect(await raw.hget(key, 'total_tokens')).toBe('3');
    await repo.verifyConsistency({ userId: 'broken', cycleStartDate: '2024-01-01', repair: true });
    expect(await raw.hget(key, 'total_tokens')).toBe('15');
    expect((await repo.verifyConsistency({ cycleStartDate: '2024-01-01' })).findings).toEqual([]);
  });

  it('healthCheck is healthy with the Redis version, and unhealthy (not thrown) when Redis is unreachable', async () => {
    const healthy = await repo.healthCheck();
    expect(healthy).toMatchObject({ status: 'healthy', store: 'redis' });
    expect(healthy.storeVersion).toMatch(/^\d+\.\d+\.\d+/);
    const down = createTokenUsageRepository({
      config: { redis: { url: 'redis://127.0.0.1:1', connectTimeoutMs: 200 }, healthTimeoutMs: 1_000 },
      logger: new RecordingLogger(),
    });
    const report = await down.healthCheck();
    expect(report.status).toBe('unhealthy');
    expect(report.error).toBeTruthy();
    await down.close();
  });

  it('on SIGTERM, the installed hooks flush buffered records before the process exits', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', resolve(import.meta.dirname, '../fixtures/buffered-child.ts'), redisUrl, `${prefix}-child`, '700'],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: resolve(import.meta.dirname, '../..') },
    );
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    await new Promise<void>((ready, fail) => {
      const check = setInterval(() => {
        if (output.includes('ready')) {
          clearInterval(check);
          ready();
        }
      }, 20);
      child.once('exit', () => fail(new Error(`child exited early: ${output}`)));
    });
    expect(await raw.keys(`${prefix}-child:*`)).toEqual([]); // all still buffered
    child.kill('SIGTERM');
    const [, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((done) => child.once('exit', (code, sig) => done([code, sig])));
    expect(signal).toBe('SIGTERM');
    expect(output).toContain('flushed');
    let total = 0;
    for (let i = 0; i < 7; i += 1) total += Number(await raw.hget(`${prefix}-child:u${i}:2024-01-01`, 'total_tokens'));
    expect(total).toBe(700 * 3);
  }, 60_000);
});
