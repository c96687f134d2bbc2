import type { RedisScript } from './script.js';

/** Adds token counts to one cycle hash atomically; refuses (writing nothing) if a counter is corrupt. */
export const recordUsageScript: RedisScript = {
  name: 'turRecordUsageV1',
  numberOfKeys: 1,
  lua: `--[[
  Adds token counts to one user's cycle hash.
  KEYS[1] cycle hash <prefix>:<user>:<YYYY-MM-DD>
  ARGV[1] prompt tokens to add (decimal integer >= 0)
  ARGV[2] completion tokens to add
  ARGV[3] total tokens to add (prompt + completion + tokens not broken down)
  ARGV[4] retain until, Unix seconds for EXPIREAT; '0' leaves the TTL alone
  Reply: {prompt_tokens, completion_tokens, total_tokens} after the update (bulk strings or nil),
    or the error 'TUR_CORRUPT <field>' when a counter is not an integer; then nothing is written.
]]
local key = KEYS[1]
local fields = {'prompt_tokens', 'completion_tokens', 'total_tokens'}
-- An integer Redis accepts for HINCRBY (no leading zeros) with at most 18 digits, so adding a
-- safe integer (< 2^53) cannot overflow int64 and fail half-way through the script.
local function is_counter(value)
  local digits = string.match(value, '^%-?([1-9]%d*)$')
  return value == '0' or (digits ~= nil and #digits <= 18)
end
local current = redis.call('HMGET', key, fields[1], fields[2], fields[3])
for i = 1, 3 do
  local value = current[i]
  if type(value) == 'string' and not is_counter(value) then
    return redis.error_reply('TUR_CORRUPT ' .. fields[i])
  end
end
for i = 1, 3 do
  if ARGV[i] ~= '0' then
    redis.call('HINCRBY', key, fields[i], ARGV[i])
  end
end
if ARGV[4] ~= '0' then
  redis.call('EXPIREAT', key, ARGV[4])
end
return redis.call('HMGET', key, fields[1], fields[2], fields[3])
`,
};
