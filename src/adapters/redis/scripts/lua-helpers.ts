/**
 * Lua shared by several scripts, spliced into each script's source (so each script stays one
 * self-contained EVALSHA and its pinned SHA covers the helpers too).
 */

/**
 * `is_counter(value)`: a non-negative integer as this package writes it (no sign, no leading zeros),
 * at most 2^53 - 1 (9007199254740991, compared as a 16-digit string), the most a JavaScript number holds
 * exactly. So every counter a script reads is exact as a Lua double, and a reply never carries a value
 * the client would reject after the script wrote it. A negative counter is corrupt: it would let usage
 * hide under the limit.
 */
export const IS_COUNTER_LUA = `local function is_counter(value)
  if value == '0' then return true end
  local digits = string.match(value, '^([1-9]%d*)$')
  if digits == nil then return false end
  return #digits < 16 or (#digits == 16 and digits <= '9007199254740991')
end`;

/**
 * `counter(value)`: the number a counter string holds, or nil when `is_counter` would refuse it; and
 * `digits_counter(digits)` the same for a string already known to be digits only (or nil). One pattern
 * test and one `tonumber` instead of a capture, a compare and a `tonumber`; the string functions are
 * locals (an upvalue instead of two table lookups per call: about 30 % of a `tonumber` or a `format`),
 * and `format(INT, n)` formats a counter exactly.
 */
export const COUNTER_LUA = `local tonumber, type = tonumber, type
local find, format, match, byte = string.find, string.format, string.match, string.byte
-- How an integer counter is formatted: '%d' in Redis' Lua 5.1 (a 64-bit integer there, exact for every
-- counter, and about 3x cheaper than '%.0f'); '%.0f' elsewhere (ioredis-mock's Lua has 32-bit integers).
local INT = _VERSION == 'Lua 5.1' and '%d' or '%.0f'
local function digits_counter(digits)
  if digits == nil then return nil end
  local n = #digits
  if (n > 1 and byte(digits) == 48) or n > 16 or (n == 16 and digits > '9007199254740991') then return nil end
  return tonumber(digits)
end
local function counter(value)
  if value == '0' then return 0 end
  if find(value, '^[1-9]%d*$') == nil then return nil end
  local n = #value
  if n > 16 or (n == 16 and value > '9007199254740991') then return nil end
  return tonumber(value)
end`;

/** The largest counter value: 2^53 - 1, exact as a Lua double. */
export const MAX_COUNTER_LUA = `local MAX_COUNTER = 9007199254740991`;

/**
 * `used_and_limit(cycle_key, policy_key)`: the cycle's `total_tokens` (0 when absent) and its
 * effective limit (the cycle's `usage_limit`, else the standing one; -1 when none, and '0' means none),
 * or, when a field is corrupt, `nil, nil, <field name>`. Needs `counter` (COUNTER_LUA).
 */
export const USED_AND_LIMIT_LUA = `local function used_and_limit(cycle_key, policy_key)
  local cycle = redis.call('HMGET', cycle_key, 'total_tokens', 'usage_limit')
  local standing = redis.call('HGET', policy_key, 'usage_limit')
  local used = 0
  if type(cycle[1]) == 'string' then
    used = counter(cycle[1])
    if used == nil then return nil, nil, 'total_tokens' end
  end
  -- The cycle's own limit first, then the standing one; a '0' is no limit and falls through.
  local limit = -1
  for _, raw in ipairs({cycle[2], standing}) do
    if limit == -1 and type(raw) == 'string' then
      local value = counter(raw)
      if value == nil then return nil, nil, 'usage_limit' end
      if value ~= 0 then limit = value end
    end
  end
  return used, limit, nil
end`;

/** `now_ms()`: the Redis server's clock in ms, the one clock every client's leases agree on. */
export const NOW_MS_LUA = `local function now_ms()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end`;

/**
 * `now_ms()` read once per script call: the first call reads the server's clock, later ones return the
 * same instant. In a coalesced batch every reserve then sees one instant (one TIME per batch, not per
 * call), as if the batch, which runs atomically, happened at that instant.
 */
export const NOW_MS_ONCE_LUA = `local now_cache = nil
local function now_ms()
  if now_cache == nil then
    local time = redis.call('TIME')
    now_cache = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  end
  return now_cache
end`;

/**
 * `live_reserved(key, total_key, now)`: tokens held by leases (members 'id:tokens') that expire after
 * now, read-only: the running total minus the expired leases not yet pruned, or, without a readable
 * total, the sum over the live leases. Needs `is_counter`.
 */
export const LIVE_RESERVED_LUA = `local function live_reserved(key, total_key, now)
  local raw = redis.call('GET', total_key)
  if type(raw) == 'string' and is_counter(raw) and redis.call('EXISTS', key) == 1 then
    local total = tonumber(raw)
    for _, member in ipairs(redis.call('ZRANGEBYSCORE', key, '-inf', now)) do
      total = total - tonumber(string.match(member, ':(%d+)$'))
    end
    return total
  end
  local sum = 0
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', key, '(' .. now, '+inf')) do
    sum = sum + tonumber(string.match(member, ':(%d+)$'))
  end
  return sum
end`;

/**
 * The running reserved total kept beside a cycle's leases zset (a string key holding the sum of the
 * tokens of every member, expired ones included until they are pruned), so a reserve costs O(1) in the
 * number of live leases. Invariant: the total equals the sum over the zset's members; every helper
 * keeps it, and `lease_total` rebuilds it (one O(n) pass) when the key is missing or unreadable, e.g.
 * for leases written before the total existed. Needs `is_counter` and `counter` (COUNTER_LUA).
 *
 * - `lease_tokens(member)`: the tokens of a member 'id:tokens'.
 * - `lease_total(leases, total_key)`: the total (0 and no key when the zset is empty or gone), and
 *   whether the zset is empty.
 * - `prune_leases(leases, total_key, now, max)`: removes up to `max` expired leases (the oldest first) and
 *   subtracts them; returns the new total and whether more expired leases may remain.
 * - `drop_lease(leases, total_key, member)`: removes one lease, keeps the total; 1 when it was there. Its
 *   first write is the ZREM, so a key of the wrong type fails it before anything is written.
 */
export const LEASE_TOTAL_LUA = `local function lease_tokens(member)
  return tonumber(string.match(member, ':(%d+)$'))
end
local function lease_total(leases, total_key)
  if redis.call('ZCARD', leases) == 0 then
    redis.call('DEL', total_key)
    return 0, true
  end
  local raw = redis.call('GET', total_key)
  local total = type(raw) == 'string' and counter(raw) or nil
  if total ~= nil then return total, false end
  local sum = 0
  for _, member in ipairs(redis.call('ZRANGE', leases, 0, -1)) do sum = sum + lease_tokens(member) end
  redis.call('SET', total_key, string.format('%d', sum))
  local ttl = redis.call('PTTL', leases)
  if ttl > 0 then redis.call('PEXPIRE', total_key, ttl) end
  return sum, false
end
local function prune_leases(leases, total_key, now, max)
  local total, empty = lease_total(leases, total_key)
  -- Expired leases are rare (a lease is normally committed or released first): counting them, one
  -- integer reply, costs Redis about half of an empty range read.
  if empty or redis.call('ZCOUNT', leases, '-inf', now) == 0 then return total, false end
  local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, max)
  if #expired == 0 then return total, false end
  local freed = 0
  for _, member in ipairs(expired) do freed = freed + lease_tokens(member) end
  redis.call('ZREM', leases, (unpack or table.unpack)(expired)) -- Redis has Lua 5.1; the mock 5.3
  total = total - freed
  if redis.call('EXISTS', leases) == 0 then
    redis.call('DEL', total_key)
  else
    redis.call('DECRBY', total_key, string.format('%d', freed))
  end
  return total, #expired == max
end
local function drop_lease(leases, total_key, member)
  -- Read before the first write: a total of the wrong type fails here, with nothing written.
  local raw = redis.call('GET', total_key)
  if redis.call('ZREM', leases, member) == 0 then return 0 end
  if redis.call('EXISTS', leases) == 0 then
    redis.call('DEL', total_key)
  else
    -- Never an error half-way through a script: a total that is not a counter is dropped and rebuilt.
    if type(raw) == 'string' and is_counter(raw) then
      redis.call('DECRBY', total_key, lease_tokens(member))
    elseif raw then
      redis.call('DEL', total_key)
    end
  end
  return 1
end`;

/** `unpack_list(t)`: the elements of a list as multiple values (Redis runs Lua 5.1, ioredis-mock 5.3). */
export const UNPACK_LUA = `local unpack_list = unpack or table.unpack`;
