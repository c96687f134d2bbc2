import { IS_COUNTER_LUA, LIVE_RESERVED_LUA, NOW_MS_LUA, USED_AND_LIMIT_LUA } from './lua-helpers.js';
import type { RedisScript } from './script.js';

/** Check-and-reserve in one step: `used + reserved + tokens <= limit`, or no limit, stores the lease. */
export const reserveScript: RedisScript = {
  name: 'turReserveV4',
  numberOfKeys: 3,
  lua: `--[[
  Drops expired leases, then holds tokens for one user's cycle if they fit under the effective limit;
  a lease already held (same member) is checked as if it were not there and refreshed when granted.
  KEYS[1] cycle hash <prefix>:<user>:<YYYY-MM-DD>
  KEYS[2] policy hash <prefix>:<user>:policy
  KEYS[3] cycle leases zset <prefix>:<user>:<YYYY-MM-DD>:leases (member 'id:tokens', score = expiry ms)
  ARGV[1] lease member 'id:tokens'
  ARGV[2] tokens to hold (decimal integer >= 0)
  ARGV[3] lease duration in ms
  Reply: {granted (0 or 1), total_tokens, tokens held by other live leases, effective limit (-1 when
    none), lease expiry in ms by the server clock (0 when denied)}, or the error
    'TUR_CORRUPT <field>' when total_tokens or a usage_limit is not a non-negative integer.
]]
${IS_COUNTER_LUA}
${USED_AND_LIMIT_LUA}
${NOW_MS_LUA}
${LIVE_RESERVED_LUA}
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local reserved = live_reserved(KEYS[3], now)
-- The same lease again (a retry whose first attempt was granted) does not count against itself.
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then reserved = reserved - tonumber(ARGV[2]) end
local used, limit, corrupt = used_and_limit(KEYS[1], KEYS[2])
if corrupt then return redis.error_reply('TUR_CORRUPT ' .. corrupt) end
if limit ~= -1 and used + reserved + tonumber(ARGV[2]) > limit then
  return {0, used, reserved, limit, 0}
end
local lease_ms = tonumber(ARGV[3])
local expires_at = now + lease_ms
redis.call('ZADD', KEYS[3], expires_at, ARGV[1])
if redis.call('PTTL', KEYS[3]) < lease_ms then
  redis.call('PEXPIRE', KEYS[3], lease_ms)
end
return {1, used, reserved, limit, expires_at}
`,
};
