import { IS_COUNTER_LUA } from './lua-helpers.js';
import type { RedisScript } from './script.js';

/**
 * Adds token counts to one cycle hash, claims idempotency keys and frees a lease, atomically;
 * a claimed key makes it a no-op, and a corrupt counter makes it refuse, writing nothing.
 */
export const recordUsageScript: RedisScript = {
  name: 'turRecordUsageV6',
  numberOfKeys: 5,
  lua: `--[[
  Records usage into one user's cycle.
  KEYS[1] cycle hash <prefix>:<user>:<YYYY-MM-DD>
  KEYS[2] cycle leases zset <prefix>:<user>:<YYYY-MM-DD>:leases
  KEYS[3] first idempotency key <prefix>:<user>:idem:<sha1> (KEYS[1] as a placeholder when unused)
  KEYS[4] second idempotency key (KEYS[1] as a placeholder when unused)
  KEYS[5] cycle daily rollup hash <prefix>:<user>:<YYYY-MM-DD>:daily, field '<day>' = 'prompt:completion:total'
  ARGV[1] prompt tokens to add (decimal integer >= 0)
  ARGV[2] completion tokens to add
  ARGV[3] other tokens to add (not broken down into prompt and completion)
  ARGV[4] total tokens to add: ARGV[1] + ARGV[2] + ARGV[3], summed by the caller (exact, < 2^53)
  ARGV[5] retain until, Unix seconds for EXPIREAT; '0' leaves the TTL alone
  ARGV[6] lease member 'id:tokens' to remove from KEYS[2], even for a duplicate; '' for none
  ARGV[7] how many idempotency keys are real: 0, 1 or 2
  ARGV[8] dedupe window in ms (PX of each claimed key)
  ARGV[9] rollup day YYYY-MM-DD: prompt, completion and total are added to its field in KEYS[5]
  Reply: {duplicate (0 or 1), prompt_tokens, completion_tokens, total_tokens} after the update (a
    duplicate writes nothing but frees its lease; each counter an integer, a bulk string or nil), or
    the error 'TUR_CORRUPT <field>' when a counter is not a non-negative integer, or 'TUR_CORRUPT daily'
    when the day's rollup is not three of them (or would pass 2^53); then nothing is written.
]]
${IS_COUNTER_LUA}
local key = KEYS[1]
local fields = {'prompt_tokens', 'completion_tokens', 'other_tokens', 'total_tokens'}
local claims = tonumber(ARGV[7])
for i = 1, claims do
  if redis.call('EXISTS', KEYS[2 + i]) == 1 then
    if ARGV[6] ~= '' then
      redis.call('ZREM', KEYS[2], ARGV[6])
    end
    local current = redis.call('HMGET', key, fields[1], fields[2], fields[4])
    return {1, current[1], current[2], current[3]}
  end
end
local current = redis.call('HMGET', key, fields[1], fields[2], fields[3], fields[4])
for i = 1, 4 do
  local value = current[i]
  if type(value) == 'string' and not is_counter(value) then
    return redis.error_reply('TUR_CORRUPT ' .. fields[i])
  end
end
-- The day's rollup is one field 'prompt:completion:total': one HGET and one HSET per record.
local packed = redis.call('HGET', KEYS[5], ARGV[9]) or '0:0:0'
local day = {string.match(packed, '^(%d+):(%d+):(%d+)$')}
if #day ~= 3 then
  return redis.error_reply('TUR_CORRUPT daily')
end
for i, arg in ipairs({ARGV[1], ARGV[2], ARGV[4]}) do
  if not is_counter(day[i]) then
    return redis.error_reply('TUR_CORRUPT daily')
  end
  day[i] = tonumber(day[i]) + tonumber(arg)
  -- Lua numbers are doubles: past 2^53 the sum would be rounded (JavaScript could not read it either).
  if day[i] > 9007199254740991 then
    return redis.error_reply('TUR_CORRUPT daily')
  end
end
for i = 1, 4 do
  if ARGV[i] ~= '0' then
    current[i] = redis.call('HINCRBY', key, fields[i], ARGV[i])
  end
end
redis.call('HSET', KEYS[5], ARGV[9], string.format('%.0f:%.0f:%.0f', day[1], day[2], day[3]))
if ARGV[5] ~= '0' then
  redis.call('EXPIREAT', key, ARGV[5])
  redis.call('EXPIREAT', KEYS[5], ARGV[5])
end
if ARGV[6] ~= '' then
  redis.call('ZREM', KEYS[2], ARGV[6])
end
for i = 1, claims do
  redis.call('SET', KEYS[2 + i], '1', 'PX', ARGV[8])
end
return {0, current[1], current[2], current[4]}
`,
};
