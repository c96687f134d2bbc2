import { IS_COUNTER_LUA, LEASE_TOTAL_LUA, MAX_COUNTER_LUA } from './lua-helpers.js';
import type { RedisScript } from './script.js';

/**
 * Adds token counts to one cycle hash, claims idempotency keys and frees a lease, atomically;
 * a claimed key makes it a no-op (that still claims the other key), and a corrupt counter or one
 * the record would push past 2^53 - 1 makes it refuse, writing nothing.
 */
export const recordUsageScript: RedisScript = {
  name: 'turRecordUsageV7',
  numberOfKeys: 6,
  lua: `--[[
  Records usage into one user's cycle.
  KEYS[1] cycle hash <prefix>:<user>:<YYYY-MM-DD>
  KEYS[2] cycle leases zset <prefix>:<user>:<YYYY-MM-DD>:leases
  KEYS[3] running total of KEYS[2]'s tokens <prefix>:<user>:<YYYY-MM-DD>:leases:total
  KEYS[4] first idempotency key <prefix>:<user>:idem:<sha1> (KEYS[1] as a placeholder when unused)
  KEYS[5] second idempotency key (KEYS[1] as a placeholder when unused)
  KEYS[6] cycle daily rollup hash <prefix>:<user>:<YYYY-MM-DD>:daily, field '<day>' = 'prompt:completion:total'
  ARGV[1] prompt tokens to add (decimal integer >= 0)
  ARGV[2] completion tokens to add
  ARGV[3] other tokens to add (not broken down into prompt and completion)
  ARGV[4] total tokens to add: ARGV[1] + ARGV[2] + ARGV[3], summed by the caller (exact, < 2^53)
  ARGV[5] retain until, Unix seconds for EXPIREAT; '0' leaves the TTL alone
  ARGV[6] lease member 'id:tokens' to remove from KEYS[2] (and KEYS[3]), even for a duplicate; '' for none
  ARGV[7] how many idempotency keys are real: 0, 1 or 2
  ARGV[8] dedupe window in ms (PX of each claimed key)
  ARGV[9] rollup day YYYY-MM-DD: prompt, completion and total are added to its field in KEYS[6]
  ARGV[10..12] optional: cache read, cache write, reasoning tokens to add (details of prompt and
    completion, kept in their own fields and NOT added to the total; a corrupt one is skipped)
  Reply: {duplicate (0 or 1), prompt_tokens, completion_tokens, total_tokens} after the update (a
    duplicate writes no usage but frees its lease and claims its keys not yet claimed; each counter an
    integer, a bulk string or nil), or, writing nothing: the error 'TUR_CORRUPT <field>' when a
    counter is not an integer from 0 to 2^53 - 1, 'TUR_OVERFLOW <field>' when the record would
    push it past 2^53 - 1, or 'TUR_CORRUPT daily' when the day's rollup is not three such integers.
]]
${IS_COUNTER_LUA}
${MAX_COUNTER_LUA}
${LEASE_TOTAL_LUA}
local key = KEYS[1]
local fields = {'prompt_tokens', 'completion_tokens', 'other_tokens', 'total_tokens'}
local claims = tonumber(ARGV[7])
local duplicate = false
for i = 1, claims do
  if redis.call('EXISTS', KEYS[3 + i]) == 1 then duplicate = true end
end
if duplicate then
  -- The other key names the same usage: claim it too, or a later write carrying only it counts again.
  for i = 1, claims do
    redis.call('SET', KEYS[3 + i], '1', 'PX', ARGV[8], 'NX')
  end
  if ARGV[6] ~= '' then
    drop_lease(KEYS[2], KEYS[3], ARGV[6])
  end
  local current = redis.call('HMGET', key, fields[1], fields[2], fields[4])
  return {1, current[1], current[2], current[3]}
end
local current = redis.call('HMGET', key, fields[1], fields[2], fields[3], fields[4])
for i = 1, 4 do
  local value = current[i]
  if type(value) == 'string' and not is_counter(value) then
    return redis.error_reply('TUR_CORRUPT ' .. fields[i])
  end
end
-- Both terms are at most 2^53 - 1, so the double sum exceeds MAX_COUNTER exactly when the true one does.
for i = 1, 4 do
  if (tonumber(current[i]) or 0) + tonumber(ARGV[i]) > MAX_COUNTER then
    return redis.error_reply('TUR_OVERFLOW ' .. fields[i])
  end
end
-- The day's rollup is one field 'prompt:completion:total': one HGET and one HSET per record.
local packed = redis.call('HGET', KEYS[6], ARGV[9]) or '0:0:0'
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
  if day[i] > MAX_COUNTER then
    return redis.error_reply('TUR_CORRUPT daily')
  end
end
local details = {'cache_read_tokens', 'cache_write_tokens', 'reasoning_tokens'}
local detail_values = redis.call('HMGET', key, details[1], details[2], details[3])
for i = 1, 4 do
  if ARGV[i] ~= '0' then
    current[i] = redis.call('HINCRBY', key, fields[i], ARGV[i])
  end
end
redis.call('HSET', KEYS[6], ARGV[9], string.format('%.0f:%.0f:%.0f', day[1], day[2], day[3]))
for i = 1, 3 do
  local amount = ARGV[9 + i]
  local value = detail_values[i]
  -- A corrupt detail is left as it is: details are informational and never block the usage itself.
  if amount ~= nil and amount ~= '0' and (type(value) ~= 'string' or is_counter(value)) then
    redis.call('HINCRBY', key, details[i], amount)
  end
end
if ARGV[5] ~= '0' then
  redis.call('EXPIREAT', key, ARGV[5])
  redis.call('EXPIREAT', KEYS[6], ARGV[5])
end
if ARGV[6] ~= '' then
  drop_lease(KEYS[2], KEYS[3], ARGV[6])
end
for i = 1, claims do
  redis.call('SET', KEYS[3 + i], '1', 'PX', ARGV[8])
end
return {0, current[1], current[2], current[4]}
`,
};
