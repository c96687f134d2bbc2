import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createTokenUsageRepository } from '../../src/application/di/create.js';
import { freeLoopbackPort } from '../support/free-port.js';
import { redisUrl, uniquePrefix } from '../support/redis.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const BASE_TAG = 'token-usage-node:local';
const TAG = 'token-usage-server:test';
const KEY = 'docker-test-record-key-01';

async function dockerWorks(): Promise<boolean> {
  try {
    await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

// An official Node >= 22 binary for the local base image: NODE_BINARY, else the one running the tests.
const nodeBinary = process.env['NODE_BINARY'] ?? (Number(process.versions.node.split('.')[0]) >= 22 ? process.execPath : undefined);
const required = process.env['REQUIRE_DOCKER'] === '1';
const why = !(await dockerWorks())
  ? 'Docker is not reachable'
  : nodeBinary === undefined
    ? 'no Node >= 22 binary (set NODE_BINARY)'
    : redisUrl === ''
      ? 'no real Redis for this run'
      : undefined;
if (why !== undefined && required) throw new Error(`REQUIRE_DOCKER=1 but ${why}`);
const describeDocker = why === undefined ? describe : describe.skip;
const containers: string[] = [];

afterAll(async () => {
  for (const id of containers) await run('docker', ['rm', '-f', id]).catch(() => undefined);
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, attempts = 120): Promise<T> {
  for (let i = 0; i < attempts; i += 1) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((done) => setTimeout(done, 500));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describeDocker(`the Docker image${why === undefined ? '' : ` [SKIPPED: ${why}]`}`, () => {
  it('builds without pulling, runs as non-root under tini, serves /readyz on Redis, and flushes on docker stop', async () => {
    await run(resolve(ROOT, 'scripts/node-image.sh'), [BASE_TAG], { env: { ...process.env, NODE_BINARY: nodeBinary }, timeout: 120_000 });
    await run('docker', ['build', '--network', 'host', '--build-arg', `NODE_IMAGE=${BASE_TAG}`, '-t', TAG, ROOT], { timeout: 900_000, maxBuffer: 64 << 20 });

    const port = await freeLoopbackPort();
    const prefix = uniquePrefix();
    const { stdout } = await run('docker', [
      'run', '-d', '--network', 'host', '--health-interval', '1s', '--health-start-period', '1s',
      '-e', 'TOKEN_USAGE_HOST=127.0.0.1', '-e', `TOKEN_USAGE_PORT=${port}`,
      '-e', `REDIS_URL=${redisUrl}`, '-e', `TOKEN_STATS_KEY_PREFIX=${prefix}`,
      '-e', `TOKEN_USAGE_API_KEYS=app:record:${KEY}`, '-e', 'TOKEN_STATS_FLUSH_INTERVAL_MS=3600000',
      TAG,
    ]);
    const id = stdout.trim();
    containers.push(id);
    const base = `http://127.0.0.1:${port}`;
    const ready = await until('/readyz', async () => {
      const reply = await fetch(`${base}/readyz`);
      return reply.status === 200 ? ((await reply.json()) as { store: string }) : undefined;
    });
    expect(ready.store).toBe('redis');

    const inspect = async (format: string) => (await run('docker', ['inspect', '--format', format, id])).stdout.trim();
    expect(await inspect('{{.Config.User}}')).toBe('node');
    expect(await until('a healthy HEALTHCHECK', async () => ((await inspect('{{.State.Health.Status}}')) === 'healthy' ? true : undefined))).toBe(true);
    // PID 1 of the container (its first process) is the init, with node as its child.
    const top = (await run('docker', ['top', id, '-o', 'pid,args'])).stdout.split('\n').slice(1).filter(Boolean);
    expect(top[0]).toMatch(/^\s*\d+\s+tini -- node dist\/service\/main\.js/);

    const record = await fetch(`${base}/v1/usage`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'docker-user', promptTokens: 11, completionTokens: 4, buffered: true }),
    });
    expect(record.status).toBe(202);
    await run('docker', ['stop', '--time', '20', id]);
    expect((await run('docker', ['wait', id])).stdout.trim()).toBe('0');
    const reader = createTokenUsageRepository({ config: { redis: { url: redisUrl }, keyPrefix: prefix, logLevel: 'silent' } });
    expect(await reader.getUsageStats('docker-user')).toEqual({ promptTokens: 11, completionTokens: 4, totalTokens: 15 });
    await reader.close();
  }, 1_000_000);
});
