import { COUNTER_LUA, NOW_MS_LUA, USED_AND_LIMIT_LUA } from './lua-helpers.js';
import type { RedisScript } from './script.js';

/**
 * Claims newly crossed alert thresholds and re-arms those no longer crossed, in one atomic step, and
 * keeps the user's index of cycles with claimed thresholds (so a standing-limit change re-checks them).
 */
export const syncThresholdsScript: RedisScript = {
  name: 'turSyncThresholdsV5',
  numberOfKeys: 4,
  lua: `--[[
  Brings one user's claimed alert thresholds in line with the cycle's usage and effective limit.
  KEYS[1] cycle hash <prefix>:<user>:<YYYY-MM-DD>
  KEYS[2] policy hash <prefix>:<user>:policy
  KEYS[3] claimed thresholds hash <prefix>:<user>:<YYYY-MM-DD>:alerts (field = threshold ppm)
  KEYS[4] alerted cycles zset <prefix>:<user>:alerted (member = YYYY-MM-DD, score = retain until, ms)
  ARGV[1] retain until, Unix seconds for EXPIREAT of KEYS[3]; '0' leaves the TTL alone (and KEYS[4]
    then keeps the cycle without expiry)
  ARGV[2] the cycle start YYYY-MM-DD (the member in KEYS[4])
  ARGV[3..n] thresholds in parts per million of the limit (800000 = 80 %), each at most 10^7
  Reply: {total_tokens, effective limit (-1 when none), newly claimed thresholds (ppm)...}, or the
    error 'TUR_CORRUPT <field>' when total_tokens or a usage_limit is not an integer from 0 to 2^53 - 1.
]]
${COUNTER_LUA}
${USED_AND_LIMIT_LUA}
${NOW_MS_LUA}
-- a * b as {high, low} in base 2^24, exact for integers a < 2^53 and b < 2^24: every partial product
-- stays below 2^53, so the comparison below is exact where used * 1e6 as a double is not.
local function times(a, b)
  local low = (a % 16777216) * b
  local high = math.floor(a / 16777216) * b + math.floor(low / 16777216)
  return high, low % 16777216
end
local function at_least(a, b, c, d)
  local h1, l1 = times(a, b)
  local h2, l2 = times(c, d)
  return h1 > h2 or (h1 == h2 and l1 >= l2)
end
local used, limit, corrupt = used_and_limit(KEYS[1], KEYS[2])
if corrupt then return redis.error_reply('TUR_CORRUPT ' .. corrupt) end
local reply = {used, limit}
local claimed_any = false
for i = 3, #ARGV do
  local ppm = ARGV[i]
  local crossed = limit ~= -1 and at_least(used, 1000000, tonumber(ppm), limit)
  local claimed = redis.call('HEXISTS', KEYS[3], ppm) == 1
  if crossed and not claimed then
    redis.call('HSET', KEYS[3], ppm, '1')
    reply[#reply + 1] = tonumber(ppm)
    claimed_any = true
  elseif claimed and not crossed then
    redis.call('HDEL', KEYS[3], ppm)
  end
end
if claimed_any and ARGV[1] ~= '0' then
  redis.call('EXPIREAT', KEYS[3], ARGV[1])
end
if claimed_any then
  local until_ms = '+inf'
  if ARGV[1] ~= '0' then until_ms = tonumber(ARGV[1]) * 1000 end
  redis.call('ZADD', KEYS[4], until_ms, ARGV[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. now_ms())
  local last = redis.call('ZRANGE', KEYS[4], -1, -1, 'WITHSCORES')
  if last[2] == 'inf' then
    redis.call('PERSIST', KEYS[4])
  else
    redis.call('PEXPIREAT', KEYS[4], last[2])
  end
elseif redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('ZREM', KEYS[4], ARGV[2])
end
return reply
`,
};
