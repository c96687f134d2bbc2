/// <reference path="./provided-context.d.ts" />
/**
 * Helpers for suites that need a real Redis (name them `*.redis.test.ts`).
 *
 * The Redis instance is started once per run by test/setup/redis.global.ts
 * (testcontainers, else a `redis-server` binary) and its URL is injected here.
 *
 *   import { describeRedis, redisUrl, uniquePrefix } from '../support/redis.js';
 *   describeRedis('my repository', () => { ... new Redis(redisUrl) ... });
 */
import { randomBytes } from 'node:crypto';
import { describe, inject } from 'vitest';

/** `redis://127.0.0.1:PORT`, or '' when no real Redis is available. */
export const redisUrl: string = inject('redisUrl') ?? '';

/** 'testcontainers' | 'redis-server-binary' | 'none'. */
export const redisSource: string = inject('redisSource') ?? 'none';

/** Docker container id when running under testcontainers, else ''. */
export const redisContainerId: string = inject('redisContainerId') ?? '';

export const hasRedis: boolean = redisUrl !== '';

/** `describe` when a real Redis is available, otherwise `describe.skip` (name suffixed). */
export function describeRedis(name: string, fn: () => void): void {
  if (hasRedis) {
    describe(name, fn);
  } else {
    describe.skip(`${name} [SKIPPED: no real Redis]`, fn);
  }
}

/** A random key prefix (`tur-test-<hex>`) so concurrent tests never share keys. */
export function uniquePrefix(): string {
  return `tur-test-${randomBytes(6).toString('hex')}`;
}

/** The shared Redis Cluster's nodes as `{ host, port }` (ioredis `Cluster` seeds), or [] when none. */
export const redisClusterNodes: { host: string; port: number }[] = (inject('redisClusterNodes') ?? []).map((node) => {
  const [host = '127.0.0.1', port = '0'] = node.split(':');
  return { host, port: Number(port) };
});

export const hasRedisCluster: boolean = redisClusterNodes.length > 0;

/** `describe` when the shared Redis Cluster runs, otherwise `describe.skip` (name suffixed). */
export function describeRedisCluster(name: string, fn: () => void): void {
  if (hasRedisCluster) {
    describe(name, fn);
  } else {
    describe.skip(`${name} [SKIPPED: no Redis Cluster]`, fn);
  }
}
