import { COUNTER_LUA, IS_COUNTER_LUA, LEASE_TOTAL_LUA, NOW_MS_LUA } from './lua-helpers.js';
import type { RedisScript } from './script.js';

/** Frees a lease; says whether it was still live. */
export const releaseLeaseScript: RedisScript = {
  name: 'turReleaseLeaseV4',
  numberOfKeys: 2,
  lua: `--[[
  Frees one lease without recording usage, and takes its tokens off the running total.
  KEYS[1] cycle leases zset <prefix>:<user>:<YYYY-MM-DD>:leases
  KEYS[2] running total of KEYS[1]'s tokens <prefix>:<user>:<YYYY-MM-DD>:leases:total
  ARGV[1] lease member 'id:tokens'
  Reply: 1 when the lease was there and not yet expired, else 0.
]]
${COUNTER_LUA}
${IS_COUNTER_LUA}
${NOW_MS_LUA}
${LEASE_TOTAL_LUA}
local expires_at = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expires_at then return 0 end
drop_lease(KEYS[1], KEYS[2], ARGV[1])
if tonumber(expires_at) > now_ms() then return 1 end
return 0
`,
};
