import { IS_COUNTER_LUA } from './lua-helpers.js';
import type { RedisScript } from './script.js';

/**
 * Adds token counts to one cycle hash, claims idempotency keys and frees a lease, atomically;
 * a claimed key makes it a no-op, and a corrupt counter makes it refuse, writing nothing.
 */
export const recordUsageScript: RedisScript = {
  name: 'turRecordUsageV3',
  numberOfKeys: 4,
  lua: `--[[
  Records usage into one user's cycle.
  KEYS[1] cycle hash <prefix>:<user>:<YYYY-MM-DD>
  KEYS[2] cycle leases zset <prefix>:<user>:<YYYY-MM-DD>:leases
  KEYS[3] first idempotency key <prefix>:<user>:idem:<sha1> (KEYS[1] as a placeholder when unused)
  KEYS[4] second idempotency key (KEYS[1] as a placeholder when unused)
  ARGV[1] prompt tokens to add (decimal integer >= 0)
  ARGV[2] completion tokens to add
  ARGV[3] other tokens to add (not broken down into prompt and completion)
  ARGV[4] retain until, Unix seconds for EXPIREAT; '0' leaves the TTL alone
  ARGV[5] lease member 'id:tokens' to remove from KEYS[2], even for a duplicate; '' for none
  ARGV[6] how many idempotency keys are real: 0, 1 or 2
  ARGV[7] dedupe window in ms (PX of each claimed key)
  Writes: prompt_tokens += ARGV[1], completion_tokens += ARGV[2], other_tokens += ARGV[3], and
    total_tokens += each of the three (integer strings throughout: no float arithmetic).
  Reply: {duplicate (0 or 1), prompt_tokens, completion_tokens, total_tokens} (counters as bulk
    strings or nil, after the update; a duplicate writes nothing but frees its lease), or the error
    'TUR_CORRUPT <field>' when a counter is not a non-negative integer; then nothing is written.
]]
${IS_COUNTER_LUA}
local key = KEYS[1]
local fields = {'prompt_tokens', 'completion_tokens', 'other_tokens', 'total_tokens'}
local claims = tonumber(ARGV[6])
for i = 1, claims do
  if redis.call('EXISTS', KEYS[2 + i]) == 1 then
    if ARGV[5] ~= '' then
      redis.call('ZREM', KEYS[2], ARGV[5])
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
for i = 1, 3 do
  if ARGV[i] ~= '0' then
    redis.call('HINCRBY', key, fields[i], ARGV[i])
    redis.call('HINCRBY', key, 'total_tokens', ARGV[i])
  end
end
if ARGV[4] ~= '0' then
  redis.call('EXPIREAT', key, ARGV[4])
end
if ARGV[5] ~= '' then
  redis.call('ZREM', KEYS[2], ARGV[5])
end
for i = 1, claims do
  redis.call('SET', KEYS[2 + i], '1', 'PX', ARGV[7])
end
local after = redis.call('HMGET', key, fields[1], fields[2], fields[4])
return {0, after[1], after[2], after[3]}
`,
};
