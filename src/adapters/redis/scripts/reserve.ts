import { IS_COUNTER_LUA, LIVE_RESERVED_LUA, NOW_MS_LUA } from './lua-helpers.js';
import type { RedisScript } from './script.js';

/** Check-and-reserve in one step: `used + reserved + tokens <= limit`, or no limit, stores the lease. */
export const reserveScript: RedisScript = {
  name: 'turReserveV1',
  numberOfKeys: 3,
  lua: `--[[
  Drops expired leases, then holds tokens for one user's cycle if they fit under the effective limit.
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
${NOW_MS_LUA}
${LIVE_RESERVED_LUA}
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local reserved = live_reserved(KEYS[3], now)
local cycle = redis.call('HMGET', KEYS[1], 'total_tokens', 'usage_limit')
local standing = redis.call('HMGET', KEYS[2], 'usage_limit')
local used = 0
if type(cycle[1]) == 'string' then
  if not is_counter(cycle[1]) then return redis.error_reply('TUR_CORRUPT total_tokens') end
  used = tonumber(cycle[1])
end
local limit = -1
for _, raw in ipairs({cycle[2], standing[1]}) do
  if limit == -1 and type(raw) == 'string' then
    if not is_counter(raw) or string.sub(raw, 1, 1) == '-' then
      return redis.error_reply('TUR_CORRUPT usage_limit')
    end
    if raw ~= '0' then limit = tonumber(raw) end
  end
end
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
