import { NOW_MS_LUA } from './lua-helpers.js';
import type { RedisScript } from './script.js';

/** Frees a lease; says whether it was still live. */
export const releaseLeaseScript: RedisScript = {
  name: 'turReleaseLeaseV1',
  numberOfKeys: 1,
  lua: `--[[
  Frees one lease without recording usage.
  KEYS[1] cycle leases zset <prefix>:<user>:<YYYY-MM-DD>:leases
  ARGV[1] lease member 'id:tokens'
  Reply: 1 when the lease was there and not yet expired, else 0.
]]
${NOW_MS_LUA}
local expires_at = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expires_at then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
if tonumber(expires_at) > now_ms() then return 1 end
return 0
`,
};
