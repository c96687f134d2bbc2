import { Redis } from 'ioredis';
import { RedisUsageStore } from '../../src/adapters/redis/redis-usage-store.js';
import type { RedisUsageStoreOptions } from '../../src/adapters/redis/redis-usage-store.js';
import { redisUrl, uniquePrefix } from './redis.js';

/** A raw ioredis client on the test Redis, for seeding and inspecting keys directly. */
export function rawRedis(): Redis {
  return new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
}

/** A store on the test Redis with its own clients and a unique key prefix. */
export function realRedisStore(options: Partial<RedisUsageStoreOptions> & { connections?: number } = {}): RedisUsageStore {
  const clients = Array.from(
    { length: options.connections ?? 1 },
    () => new Redis(redisUrl, { lazyConnect: true, commandTimeout: 5_000, maxRetriesPerRequest: 1 }),
  );
  return new RedisUsageStore({
    clients,
    ownsClients: true,
    prefix: options.prefix ?? uniquePrefix(),
    hashTags: options.hashTags ?? false,
    ...(options.retryReadsOnTimeout === undefined ? {} : { retryReadsOnTimeout: options.retryReadsOnTimeout }),
  });
}
