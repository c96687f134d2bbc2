import { InMemoryUsageStore } from '../adapters/memory/in-memory-usage-store.js';
import { createRedisClient } from '../adapters/redis/redis-connection.js';
import { RedisUsageStore } from '../adapters/redis/redis-usage-store.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { UsageStore } from '../ports/usage-store.js';
import type { TokenUsageConfig } from './config.js';

/** Builds the configured store. Redis clients connect lazily, on the first command. */
export function createUsageStore(config: TokenUsageConfig, clock: Clock, logger: Logger): UsageStore {
  if (config.store === 'memory') return new InMemoryUsageStore({ clock });
  const redisLogger = logger.child({ component: 'redis' });
  const clients = Array.from({ length: config.redis.maxConnections }, () =>
    createRedisClient(config.redis, redisLogger),
  );
  return new RedisUsageStore({
    clients,
    ownsClients: true,
    prefix: config.keyPrefix,
    hashTags: config.hashTags,
    retryReadsOnTimeout: config.redis.retryOnTimeout,
  });
}
