import RedisMock from 'ioredis-mock';
import type { Redis } from 'ioredis';
import { RedisUsageStore } from '../../src/adapters/redis/redis-usage-store.js';
import { uniquePrefix } from '../support/redis.js';
import { describeUsageStoreContract } from './usage-store.contract.js';

// ioredis-mock runs the scripts on Lua 5.3, not Redis' 5.1: it proves the wiring, real Redis proves the
// Lua. Its TIME is not the wall clock, so lease expiries are not comparable with Date.now(), and its Lua
// has no redis.error_reply, so the refusals (corrupt data, overflow) are proven on real Redis only.
describeUsageStoreContract(
  'Redis on ioredis-mock',
  () =>
    new RedisUsageStore({
      clients: [new RedisMock() as unknown as Redis],
      ownsClients: true,
      prefix: uniquePrefix(),
      hashTags: false,
      // ioredis-mock's defineCommand has no variable key count, which the coalesced batch script needs.
      coalesceMaxBatch: 1,
    }),
  { wallClock: false, errorReplies: false },
);
