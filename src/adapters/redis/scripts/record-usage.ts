import { COUNTER_LUA, IS_COUNTER_LUA, LEASE_TOTAL_LUA, MAX_COUNTER_LUA, UNPACK_LUA } from './lua-helpers.js';
import { type BatchableScript, batchableScript } from './script.js';

// The cycle hash's counter fields, by ARGV position, and its detail fields (built once per script call).
const RECORD_FIELDS_LUA = `local RECORD_FIELDS = {'prompt_tokens', 'completion_tokens', 'other_tokens', 'total_tokens'}
local DETAIL_FIELDS = {'cache_read_tokens', 'cache_write_tokens', 'reasoning_tokens'}
local DAY = INT .. ':' .. INT .. ':' .. INT`;

/**
 * Adds token counts to one cycle hash, claims idempotency keys and frees a lease, atomically;
 * a claimed key makes it a no-op (that still claims the other key), and a corrupt counter or one
 * the record would push past 2^53 - 1 makes it refuse, writing nothing.
 */
export const recordUsageScript: BatchableScript = batchableScript({
  name: 'turRecordUsageV10',
  replyWidth: 4,
  numberOfKeys: 6,
  header: `  Records usage into one user's cycle. The keys and arguments a record does not need come last and
  may be left out: 2 keys and 6 arguments for a record without a lease to free, idempotency keys or
  details (a fixed-key-count caller repeats KEYS[1] in place of the keys it leaves out).
  KEYS[1] cycle hash <prefix>:<user>:<YYYY-MM-DD>
  KEYS[2] cycle daily rollup hash <prefix>:<user>:<YYYY-MM-DD>:daily, field '<day>' = 'prompt:completion:total'
    (and 'retain_until', the ARGV[5] last applied)
  KEYS[3] cycle leases zset <prefix>:<user>:<YYYY-MM-DD>:leases (read only when ARGV[7] names a lease)
  KEYS[4] running total of KEYS[3]'s tokens <prefix>:<user>:<YYYY-MM-DD>:leases:total (the same)
  KEYS[5] first idempotency key <prefix>:<user>:idem:<sha1> (read only when ARGV[8] is 1 or 2)
  KEYS[6] second idempotency key (read only when ARGV[8] is 2)
  ARGV[1] prompt tokens to add (decimal integer >= 0)
  ARGV[2] completion tokens to add
  ARGV[3] other tokens to add (not broken down into prompt and completion)
  ARGV[4] total tokens to add: ARGV[1] + ARGV[2] + ARGV[3], summed by the caller (exact, < 2^53)
  ARGV[5] retain until, Unix seconds for EXPIREAT of KEYS[1] and KEYS[2], set only when it differs from
    KEYS[2]'s field 'retain_until' (then written too) or KEYS[1] has no total_tokens yet; '0' leaves
    the TTL alone
  ARGV[6] rollup day YYYY-MM-DD: prompt, completion and total are added to its field in KEYS[2]
  ARGV[7] optional: lease member 'id:tokens' to remove from KEYS[3] (and KEYS[4]), even for a
    duplicate; '' or absent for none
  ARGV[8] optional: how many idempotency keys are real: 0 (or absent), 1 or 2
  ARGV[9] optional: dedupe window in ms (PX of each claimed key; needed when ARGV[8] is not 0)
  ARGV[10], ARGV[11], ARGV[12] optional (then ARGV[7] to ARGV[9] are present too): cache read, cache
    write, reasoning tokens to add (details of prompt and completion, kept in their own fields and NOT
    added to the total; a corrupt one, or one that would pass 2^53 - 1, is skipped)
  Reply: {duplicate (0 or 1), prompt_tokens, completion_tokens, total_tokens} after the update (a
    duplicate writes no usage but frees its lease and claims its keys not yet claimed; each counter an
    integer, or for a duplicate a bulk string or nil), or, writing nothing: the error 'TUR_CORRUPT <field>' when a
    counter is not an integer from 0 to 2^53 - 1, 'TUR_OVERFLOW <field>' when the record would
    push it past 2^53 - 1, or 'TUR_CORRUPT daily' when the day's rollup is not three such integers.`,
  helpers: [COUNTER_LUA, IS_COUNTER_LUA, MAX_COUNTER_LUA, LEASE_TOTAL_LUA, UNPACK_LUA, RECORD_FIELDS_LUA],
  body: `local key = KEYS[1]
local lease = #ARGV >= 7 and ARGV[7] or ''
local claims = (#ARGV >= 8 and ARGV[8] ~= '0') and tonumber(ARGV[8]) or 0
local duplicate = false
for i = 1, claims do
  if redis.call('EXISTS', KEYS[4 + i]) == 1 then duplicate = true end
end
if duplicate then
  if lease ~= '' then
    drop_lease(KEYS[3], KEYS[4], lease)
  end
  -- The other key names the same usage: claim it too, or a later write carrying only it counts again.
  for i = 1, claims do
    redis.call('SET', KEYS[4 + i], '1', 'PX', ARGV[9], 'NX')
  end
  local current = redis.call('HMGET', key, 'prompt_tokens', 'completion_tokens', 'total_tokens')
  return {1, current[1], current[2], current[3]}
end
-- Every read and check comes before the first write, so a refusal, or a key of the wrong type, is
-- raised with nothing written.
local details = #ARGV >= 10
local current
if details then
  current = redis.call('HMGET', key, 'prompt_tokens', 'completion_tokens', 'other_tokens', 'total_tokens',
    'cache_read_tokens', 'cache_write_tokens', 'reasoning_tokens')
else
  current = redis.call('HMGET', key, 'prompt_tokens', 'completion_tokens', 'other_tokens', 'total_tokens')
end
-- The record's own numbers, each parsed once ('0', the usual other_tokens, without a tonumber).
local add = {tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '0' and 0 or tonumber(ARGV[3]), tonumber(ARGV[4])}
local sums = {}
for i = 1, 4 do
  local value = current[i]
  local sum = add[i]
  -- (Absent values are tested with type(): ioredis-mock's Lua gets a non-nil object for them.)
  if type(value) == 'string' then
    local stored = counter(value)
    if stored == nil then return redis.error_reply('TUR_CORRUPT ' .. RECORD_FIELDS[i]) end
    -- Both terms are at most 2^53 - 1, so the double sum exceeds MAX_COUNTER exactly when the true one does.
    sum = sum + stored
    if sum > MAX_COUNTER then return redis.error_reply('TUR_OVERFLOW ' .. RECORD_FIELDS[i]) end
  end
  sums[i] = sum
end
-- The day's rollup is one field 'prompt:completion:total': one HMGET and one HSET per record.
local rollup = redis.call('HMGET', KEYS[2], ARGV[6], 'retain_until')
local packed = rollup[1]
-- The retention is set when the cycle's retain-until instant differs from the one last set (kept in
-- the rollup hash), or the cycle hash is new: once per cycle for current cycles, on every late write
-- into an ended one (its instant moves with the clock), never on every record.
local retain = ARGV[5] ~= '0' and (rollup[2] ~= ARGV[5] or type(current[4]) ~= 'string')
local day
if type(packed) == 'string' then
  local p, c, t = match(packed, '^(%d+):(%d+):(%d+)$')
  p, c, t = digits_counter(p), digits_counter(c), digits_counter(t)
  if not (p and c and t) then return redis.error_reply('TUR_CORRUPT daily') end
  p, c, t = p + add[1], c + add[2], t + add[4]
  -- Lua numbers are doubles: past 2^53 the sum would be rounded (JavaScript could not read it either).
  if p > MAX_COUNTER or c > MAX_COUNTER or t > MAX_COUNTER then return redis.error_reply('TUR_CORRUPT daily') end
  day = format(DAY, p, c, t)
else
  day = ARGV[1] .. ':' .. ARGV[2] .. ':' .. ARGV[4]
end
-- The writes. drop_lease's ZREM is the first and the only one that can still fail (a :leases key of
-- the wrong type; every other key's type was checked by a read above).
if lease ~= '' then
  drop_lease(KEYS[3], KEYS[4], lease)
end
-- One HSET of the new values (read above, inside this script) instead of an HINCRBY per field; a
-- field the record adds nothing to is not written, as before.
if ARGV[3] == '0' and ARGV[1] ~= '0' and ARGV[2] ~= '0' then
  redis.call('HSET', key, 'prompt_tokens', format(INT, sums[1]), 'completion_tokens', format(INT, sums[2]),
    'total_tokens', format(INT, sums[4]))
else
  local writes = {}
  for i = 1, 4 do
    if ARGV[i] ~= '0' then
      writes[#writes + 1] = RECORD_FIELDS[i]
      writes[#writes + 1] = format(INT, sums[i])
    end
  end
  if #writes > 0 then redis.call('HSET', key, unpack_list(writes)) end
end
if details then
  for i = 1, 3 do
    local amount = 9 + i <= #ARGV and ARGV[9 + i] or nil
    local value = current[4 + i]
    -- A corrupt detail, or one that would pass 2^53 - 1, is left as it is: details are informational
    -- and never block the usage itself.
    local stored = 0
    if type(value) == 'string' then stored = counter(value) end
    if amount ~= nil and amount ~= '0' and stored ~= nil then
      local sum = tonumber(amount) + stored
      if sum <= MAX_COUNTER then redis.call('HSET', key, DETAIL_FIELDS[i], format(INT, sum)) end
    end
  end
end
if retain then
  redis.call('HSET', KEYS[2], ARGV[6], day, 'retain_until', ARGV[5])
  redis.call('EXPIREAT', key, ARGV[5])
  redis.call('EXPIREAT', KEYS[2], ARGV[5])
else
  redis.call('HSET', KEYS[2], ARGV[6], day)
end
for i = 1, claims do
  redis.call('SET', KEYS[4 + i], '1', 'PX', ARGV[9])
end
return {0, sums[1], sums[2], sums[4]}
`,
});
