import { MeteredUsageStore } from '../adapters/decorators/metered-usage-store.js';
import { InMemoryUsageStore } from '../adapters/memory/in-memory-usage-store.js';
import { createRedisClient } from '../adapters/redis/redis-connection.js';
import { RedisUsageStore } from '../adapters/redis/redis-usage-store.js';
import type { AlertStateStore } from '../ports/alert-state-store.js';
import type { Clock } from '../ports/clock.js';
import type { HealthProbe } from '../ports/health-probe.js';
import type { Logger } from '../ports/logger.js';
import type { Metrics } from '../ports/metrics.js';
import type { UsageStore } from '../ports/usage-store.js';
import type { TokenUsageConfig } from './config.js';

/** Builds the configured adapter. Redis clients connect lazily, on the first command. */
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

/** The decorator stack around an adapter, read from the outside in. */
export function composeStore(base: UsageStore, _config: TokenUsageConfig, metrics: Metrics): UsageStore {
  return new MeteredUsageStore(base, metrics);
}

/** The adapter's own threshold claims, when it has them (our Redis and in-memory stores do). */
export function alertStateOf(store: UsageStore): AlertStateStore | undefined {
  const candidate = store as Partial<AlertStateStore>;
  return typeof candidate.syncThresholds === 'function' ? (candidate as AlertStateStore) : undefined;
}

/** The adapter's own health probe, or a read of a reserved, user-less id through the store. */
export function healthProbeOf(store: UsageStore): HealthProbe {
  const candidate = store as Partial<HealthProbe>;
  if (typeof candidate.probe === 'function') return candidate as HealthProbe;
  return {
    probe: async () => {
      await store.readUsage({ userId: '__health__' as never, cycle: '1970-01-01' as never });
      return { store: store.constructor.name, version: 'unknown' };
    },
  };
}
