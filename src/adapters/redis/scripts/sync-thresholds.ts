import { IS_COUNTER_LUA } from './lua-helpers.js';
import type { RedisScript } from './script.js';

/** Claims newly crossed alert thresholds and re-arms those no longer crossed, in one atomic step. */
export const syncThresholdsScript: RedisScript = {
  name: 'turSyncThresholdsV1',
  numberOfKeys: 3,
  lua: `--[[
  Brings one user's claimed alert thresholds in line with the cycle's usage and effective limit.
  KEYS[1] cycle hash <prefix>:<user>:<YYYY-MM-DD>
  KEYS[2] policy hash <prefix>:<user>:policy
  KEYS[3] claimed thresholds hash <prefix>:<user>:<YYYY-MM-DD>:alerts (field = threshold ppm)
  ARGV[1] retain until, Unix seconds for EXPIREAT of KEYS[3]; '0' leaves the TTL alone
  ARGV[2..n] thresholds in parts per million of the limit (800000 = 80 %)
  Reply: {total_tokens, effective limit (-1 when none), newly claimed thresholds (ppm)...}, or the
    error 'TUR_CORRUPT <field>' when total_tokens or a usage_limit is not a non-negative integer.
]]
${IS_COUNTER_LUA}
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
local reply = {used, limit}
local claimed_any = false
for i = 2, #ARGV do
  local ppm = ARGV[i]
  local crossed = limit ~= -1 and used * 1000000 >= tonumber(ppm) * limit
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
return reply
`,
};
