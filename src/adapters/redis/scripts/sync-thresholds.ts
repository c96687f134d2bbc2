import { IS_COUNTER_LUA, USED_AND_LIMIT_LUA } from './lua-helpers.js';
import type { RedisScript } from './script.js';

/** Claims newly crossed alert thresholds and re-arms those no longer crossed, in one atomic step. */
export const syncThresholdsScript: RedisScript = {
  name: 'turSyncThresholdsV3',
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
${USED_AND_LIMIT_LUA}
local used, limit, corrupt = used_and_limit(KEYS[1], KEYS[2])
if corrupt then return redis.error_reply('TUR_CORRUPT ' .. corrupt) end
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
