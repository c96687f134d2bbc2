import type { RedisScript } from './script.js';

/** Sets or removes the `usage_limit` field of a cycle hash or a policy hash. */
export const setLimitScript: RedisScript = {
  name: 'turSetLimitV2',
  numberOfKeys: 2,
  lua: `--[[
  Sets or removes a usage limit.
  KEYS[1] cycle hash <prefix>:<user>:<YYYY-MM-DD>, or policy hash <prefix>:<user>:policy
  KEYS[2] the cycle's daily rollup <prefix>:<user>:<YYYY-MM-DD>:daily, which keeps the cycle hash's
    expiry (KEYS[1] again for a policy hash)
  ARGV[1] limit in tokens (decimal integer >= 0); '0' removes the field
  ARGV[2] retain until, Unix seconds for EXPIREAT; '0' leaves the TTL alone
  Reply: 1
]]
if ARGV[1] == '0' then
  redis.call('HDEL', KEYS[1], 'usage_limit')
  return 1
end
redis.call('HSET', KEYS[1], 'usage_limit', ARGV[1])
if ARGV[2] ~= '0' then
  redis.call('EXPIREAT', KEYS[1], ARGV[2])
  redis.call('EXPIREAT', KEYS[2], ARGV[2])
end
return 1
`,
};
