import { COUNTER_LUA, IS_COUNTER_LUA, LEASE_TOTAL_LUA, MAX_COUNTER_LUA, NOW_MS_ONCE_LUA, USED_AND_LIMIT_LUA } from './lua-helpers.js';
import { type BatchableScript, batchableScript } from './script.js';

/** Check-and-reserve in one step: `used + reserved + tokens <= limit`, or no limit, stores the lease. */
export const reserveScript: BatchableScript = batchableScript({
  name: 'turReserveV8',
  replyWidth: 5,
  numberOfKeys: 4,
  header: `  Prunes up to 100 expired leases, then holds tokens for one user's cycle if they fit under the
  effective limit. Reads the reserved tokens from the running total, so the cost does not grow with
  the live leases; a request that would be denied while expired leases remain prunes all of them
  first, so an expired lease never causes a denial. A lease already held (same member) is checked as
  if it were not there and refreshed when granted.
  KEYS[1] cycle hash <prefix>:<user>:<YYYY-MM-DD>
  KEYS[2] policy hash <prefix>:<user>:policy
  KEYS[3] cycle leases zset <prefix>:<user>:<YYYY-MM-DD>:leases (member 'id:tokens', score = expiry ms)
  KEYS[4] running total of KEYS[3]'s tokens <prefix>:<user>:<YYYY-MM-DD>:leases:total (same TTL; both
    are extended to twice ARGV[3] when the lease would outlive them)
  ARGV[1] lease member 'id:tokens'
  ARGV[2] tokens to hold (decimal integer >= 0, the tokens in ARGV[1])
  ARGV[3] lease duration in ms
  Reply: {granted (0 or 1), total_tokens, tokens held by other live leases, effective limit (-1 when
    none), lease expiry in ms by the server clock (0 when denied)}, or the error
    'TUR_CORRUPT <field>' when total_tokens or a usage_limit is not an integer from 0 to 2^53 - 1, or
    'TUR_OVERFLOW reserved' when, without a limit, used + reserved + tokens would pass 2^53 - 1.`,
  helpers: [COUNTER_LUA, IS_COUNTER_LUA, MAX_COUNTER_LUA, USED_AND_LIMIT_LUA, NOW_MS_ONCE_LUA, LEASE_TOTAL_LUA],
  body: `local now = now_ms()
local used, limit, corrupt = used_and_limit(KEYS[1], KEYS[2])
if corrupt then return redis.error_reply('TUR_CORRUPT ' .. corrupt) end
local reserved, more = prune_leases(KEYS[3], KEYS[4], now, 100)
local tokens = tonumber(ARGV[2])
while more and limit ~= -1 and used + reserved + tokens > limit do
  reserved, more = prune_leases(KEYS[3], KEYS[4], now, 1000)
end
-- The same lease again (a retry whose first attempt was granted) does not count against itself. Its
-- ZSCORE is only read when it could change the answer (a denial or an overflow); a grant learns it from
-- ZADD instead, so the reply's reserved never includes the lease itself.
local own_checked = false
if (limit ~= -1 and used + reserved + tokens > limit) or used + reserved + tokens > MAX_COUNTER then
  own_checked = true
  if redis.call('ZSCORE', KEYS[3], ARGV[1]) then reserved = reserved - tokens end
end
if limit ~= -1 and used + reserved + tokens > limit then
  return {0, used, reserved, limit, 0}
end
-- Only reachable without a limit (a limit is at most 2^53 - 1); keeps every reply sum exact.
if used + reserved + tokens > MAX_COUNTER then
  return redis.error_reply('TUR_OVERFLOW reserved')
end
local lease_ms = tonumber(ARGV[3])
local expires_at = now + lease_ms
if redis.call('ZADD', KEYS[3], expires_at, ARGV[1]) == 1 then
  redis.call('INCRBY', KEYS[4], ARGV[2])
elseif not own_checked then
  reserved = reserved - tokens
end
-- The total keeps the zset's TTL. Both are extended together, only when this lease would outlive the
-- zset, and then to twice the lease duration: a steady stream of leases extends them once per lease
-- duration, not on every reserve (the keys outlive their last lease by at most one duration).
if redis.call('PTTL', KEYS[3]) < lease_ms then
  redis.call('PEXPIRE', KEYS[3], lease_ms * 2)
  redis.call('PEXPIRE', KEYS[4], lease_ms * 2)
end
return {1, used, reserved, limit, expires_at}
`,
});
