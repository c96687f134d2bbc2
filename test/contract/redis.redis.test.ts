import { describeRedis } from '../support/redis.js';
import { realRedisStore } from '../support/redis-store.js';
import { describeUsageStoreContract } from './usage-store.contract.js';

describeRedis('real Redis', () => {
  describeUsageStoreContract('Redis (seed layout)', () => realRedisStore());
  describeUsageStoreContract('Redis (hash tags, 3 connections)', () =>
    realRedisStore({ hashTags: true, connections: 3 }),
  );
});
