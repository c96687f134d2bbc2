import { CachingUsageStore } from '../adapters/decorators/caching-usage-store.js';
import { MeteredUsageStore } from '../adapters/decorators/metered-usage-store.js';
import { RetryingUsageStore } from '../adapters/decorators/retrying-usage-store.js';
import { InMemoryUsageStore } from '../adapters/memory/in-memory-usage-store.js';
import { createRedisClient } from '../adapters/redis/redis-connection.js';
import { RedisUsageStore } from '../adapters/redis/redis-usage-store.js';
import { InMemoryUsageInspector } from '../adapters/memory/in-memory-usage-inspector.js';
import { RedisUsageInspector } from '../adapters/redis/redis-usage-inspector.js';
import type { UsageInspector } from '../ports/usage-inspector.js';
import { InMemoryUsageHistoryStore } from '../adapters/memory/in-memory-usage-history-store.js';
import { RedisUsageHistoryStore } from '../adapters/redis/redis-usage-history-store.js';
import type { UsageHistoryStore } from '../ports/usage-history-store.js';
import type { AlertStateStore } from '../ports/alert-state-store.js';
import type { Clock } from '../ports/clock.js';
import type { HealthProbe } from '../ports/health-probe.js';
import type { Logger } from '../ports/logger.js';
import type { Metrics } from '../ports/metrics.js';
import type { UsageStore } from '../ports/usage-store.js';
import type { TokenUsageConfig } from './config.js';

/** The configured adapter and, on the same connections, its inspector (for checks and sweeps). */
export interface Adapters {
  readonly store: UsageStore;
  readonly inspector: UsageInspector;
  readonly history: UsageHistoryStore;
}

/** Builds the configured adapters. Redis clients connect lazily, on the first command. */
export function createAdapters(config: TokenUsageConfig, clock: Clock, logger: Logger): Adapters {
  if (config.store === 'memory') {
    const store = new InMemoryUsageStore({ clock });
    return { store, inspector: new InMemoryUsageInspector(store), history: new InMemoryUsageHistoryStore(store) };
  }
  const redisLogger = logger.child({ component: 'redis' });
  const clients = Array.from({ length: config.redis.maxConnections }, () =>
    createRedisClient(config.redis, redisLogger),
  );
  const keys = { prefix: config.keyPrefix, hashTags: config.hashTags };
  return {
    store: new RedisUsageStore({
      clients,
      ownsClients: true,
      ...keys,
      // With the retrying decorator on, it retries reads; the store's own retry would multiply them.
      retryReadsOnTimeout: config.redis.retryOnTimeout && config.retry.attempts <= 1,
    }),
    inspector: new RedisUsageInspector({ clients, ...keys }),
    history: new RedisUsageHistoryStore({ clients, ...keys }),
  };
}

/** The inspector of a host-provided store, when we know how to build one. */
export function inspectorOf(store: UsageStore): UsageInspector | undefined {
  return store instanceof InMemoryUsageStore ? new InMemoryUsageInspector(store) : undefined;
}

/** The daily-rollup reader of a host-provided store, when we know how to build one. */
export function historyOf(store: UsageStore): UsageHistoryStore | undefined {
  if (store instanceof RedisUsageStore) return store.historyStore();
  return store instanceof InMemoryUsageStore ? new InMemoryUsageHistoryStore(store) : undefined;
}

/**
 * The decorator stack around an adapter, read from the outside in: metrics count each logical call
 * once; the cache (when `cache.ttlMs` > 0) answers only reads that allow staleness, before any retry;
 * retries (when `retry.attempts` > 1) sit next to the adapter, so each attempt is one store call.
 */
export function composeStore(
  base: UsageStore,
  config: TokenUsageConfig,
  dependencies: { readonly metrics: Metrics; readonly clock: Clock; readonly logger: Logger },
): UsageStore {
  const { metrics, clock, logger } = dependencies;
  const retrying = (inner: UsageStore): UsageStore =>
    config.retry.attempts > 1
      ? new RetryingUsageStore(inner, {
          maxAttempts: config.retry.attempts,
          baseDelayMs: config.retry.baseDelayMs,
          maxDelayMs: config.retry.maxDelayMs,
          logger: logger.child({ component: 'retry' }),
        })
      : inner;
  const caching = (inner: UsageStore): UsageStore =>
    config.cache.ttlMs > 0
      ? new CachingUsageStore(inner, { ttlMs: config.cache.ttlMs, maxEntries: config.cache.maxEntries, clock })
      : inner;
  return new MeteredUsageStore(caching(retrying(base)), metrics);
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
