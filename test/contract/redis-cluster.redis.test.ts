import { Cluster } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { RedisUsageStore } from '../../src/adapters/redis/redis-usage-store.js';
import { describeRedis, uniquePrefix } from '../support/redis.js';
import { RedisProcess } from '../support/redis-process.js';
import { describeUsageStoreContract } from './usage-store.contract.js';

// A real (one-node) Redis Cluster: every script must keep its keys in one slot, which hash tags do.
describeRedis('Redis Cluster', () => {
  const server = new RedisProcess({ cluster: true });

  beforeAll(async () => {
    await server.start();
    await server.assignAllSlots();
  });

  afterAll(() => server.destroy());

  describeUsageStoreContract('Redis Cluster (hash tags)', () => {
    const cluster = new Cluster([{ host: '127.0.0.1', port: server.port }], {
      lazyConnect: true,
      redisOptions: { commandTimeout: 5_000, maxRetriesPerRequest: 1 },
    });
    return new RedisUsageStore({ clients: [cluster], ownsClients: true, prefix: uniquePrefix(), hashTags: true });
  });
});
