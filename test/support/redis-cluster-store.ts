import type { Cluster } from 'ioredis';
import { createRedisClusterClient } from '../../src/adapters/redis/redis-connection.js';
import { RedisUsageStore } from '../../src/adapters/redis/redis-usage-store.js';
import type { RedisUsageStoreOptions } from '../../src/adapters/redis/redis-usage-store.js';
import { RecordingLogger } from './recording-logger.js';
import { redisClusterNodes, uniquePrefix } from './redis.js';

/** An ioredis `Cluster` as the library's factory builds it (no re-send of writes), on the given seeds. */
export function clusterClient(
  seeds: readonly { host: string; port: number }[] = redisClusterNodes,
  timeouts: { commandTimeoutMs?: number } = {},
): Cluster {
  return createRedisClusterClient(
    seeds,
    { host: '', port: 0, db: 0, tls: false, connectTimeoutMs: 2_000, commandTimeoutMs: timeouts.commandTimeoutMs ?? 15_000 },
    new RecordingLogger(),
  );
}

/** A store on a Redis Cluster (the shared one by default) with its own client and a unique prefix. */
export function realClusterStore(
  options: Partial<RedisUsageStoreOptions> & { seeds?: readonly { host: string; port: number }[]; commandTimeoutMs?: number } = {},
): RedisUsageStore {
  const client = clusterClient(options.seeds, options);
  return new RedisUsageStore({ clients: [client], ownsClients: true, prefix: options.prefix ?? uniquePrefix(), hashTags: true });
}
