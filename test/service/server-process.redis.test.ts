import { afterEach, expect, it } from 'vitest';
import { createTokenUsageRepository } from '../../src/application/di/create.js';
import { freeLoopbackPort } from '../support/free-port.js';
import { describeRedis, redisUrl, uniquePrefix } from '../support/redis.js';
import { spawnServer } from '../support/server-process.js';
import type { ServerProcess } from '../support/server-process.js';

const KEY = 'spawned-record-key-0123';
let server: ServerProcess | undefined;
afterEach(async () => {
  if (server !== undefined && server.child.exitCode === null && server.child.signalCode === null) {
    server.child.kill('SIGKILL');
    await server.exited;
  }
  server = undefined;
});

const auth = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };

describeRedis('token-usage-server as a process, on real Redis', () => {
  it('SIGTERM drains, flushes every acknowledged buffered record to Redis, closes and exits 0', async () => {
    const prefix = uniquePrefix();
    server = await spawnServer({
      REDIS_URL: redisUrl,
      TOKEN_STATS_KEY_PREFIX: prefix,
      TOKEN_USAGE_API_KEYS: `app:record+read:${KEY}`,
      TOKEN_USAGE_RESERVATION_SECRET: 'spawned-reservation-secret-01',
      // Nothing flushes on its own during the test: only the shutdown can write the buffered records.
      TOKEN_STATS_FLUSH_INTERVAL_MS: '3600000',
      TOKEN_STATS_BATCH_SIZE: '100000',
    });
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'healthy', store: 'redis' });

    const acknowledged = { u1: 0, u2: 0 };
    const posts = Array.from({ length: 120 }, async (_, i) => {
      const userId = i % 2 === 0 ? 'u1' : 'u2';
      const tokens = (i % 7) + 1;
      const reply = await fetch(`${server!.url}/v1/usage`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ userId, promptTokens: tokens, completionTokens: 1, buffered: true }),
      });
      if (reply.status === 202) acknowledged[userId] += tokens + 1;
      return reply.status;
    });
    expect(new Set(await Promise.all(posts))).toEqual(new Set([202]));
    const direct = await fetch(`${server.url}/v1/usage`, { method: 'POST', headers: auth, body: JSON.stringify({ userId: 'u1', totalTokens: 5 }) });
    expect(direct.status).toBe(200);
    acknowledged.u1 += 5;

    // Buffered records are not in Redis yet (the flush interval is an hour).
    const reader = createTokenUsageRepository({ config: { redis: { url: redisUrl }, keyPrefix: prefix, logLevel: 'silent' } });
    expect((await reader.getUsageStats('u2')).totalTokens).toBe(0);

    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(server.lines.some((line) => line.includes('closed cleanly'))).toBe(true);
    expect((await reader.getUsageStats('u1')).totalTokens).toBe(acknowledged.u1);
    expect((await reader.getUsageStats('u2')).totalTokens).toBe(acknowledged.u2);
    await reader.close();
  });

  it('a Redis outage makes /readyz 503 while /livez stays 200 and the process keeps serving', async () => {
    const deadPort = await freeLoopbackPort();
    server = await spawnServer({
      REDIS_URL: `redis://127.0.0.1:${deadPort}`,
      REDIS_CONNECT_TIMEOUT_MS: '300',
      TOKEN_STATS_HEALTH_TIMEOUT_MS: '500',
      TOKEN_USAGE_API_KEYS: `app:record+read:${KEY}`,
    });
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'unhealthy' });
    expect((await fetch(`${server.url}/livez`)).status).toBe(200);
    const read = await fetch(`${server.url}/v1/users/u1/usage`, { headers: auth });
    expect(read.status).toBe(503);
    expect(read.headers.get('content-type')).toMatch(/problem\+json/);
    expect(server.child.exitCode).toBeNull();
  });

  it('runs embedded on the in-memory store, warning loudly, when no store is configured', async () => {
    server = await spawnServer({ TOKEN_USAGE_API_KEYS: `app:record+read:${KEY}` });
    expect(server.lines.some((line) => line.includes('EMBEDDED IN-MEMORY STORE'))).toBe(true);
    const ready = await (await fetch(`${server.url}/readyz`)).json();
    expect(ready).toMatchObject({ status: 'healthy', store: 'memory' });
  });

  it('refuses to start on a bad setting, naming the variable', async () => {
    await expect(spawnServer({ TOKEN_USAGE_API_KEYS: 'app:write:short' })).rejects.toThrow(/TOKEN_USAGE_API_KEYS/);
  });
});
