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

/** The largest counter value: 2^53 - 1, exact as a Lua double. */
export const MAX_COUNTER_LUA = `local MAX_COUNTER = 9007199254740991`;

/**
 * `used_and_limit(cycle_key, policy_key)`: the cycle's `total_tokens` (0 when absent) and its
 * effective limit (the cycle's `usage_limit`, else the standing one; -1 when none, and '0' means none),
 * or, when a field is corrupt, `nil, nil, <field name>`. Needs `is_counter`.
 */
export const USED_AND_LIMIT_LUA = `local function used_and_limit(cycle_key, policy_key)
  local cycle = redis.call('HMGET', cycle_key, 'total_tokens', 'usage_limit')
  local standing = redis.call('HMGET', policy_key, 'usage_limit')
  local used = 0
  if type(cycle[1]) == 'string' then
    if not is_counter(cycle[1]) then return nil, nil, 'total_tokens' end
    used = tonumber(cycle[1])
  end
  local limit = -1
  for _, raw in ipairs({cycle[2], standing[1]}) do
    if limit == -1 and type(raw) == 'string' then
      if not is_counter(raw) then return nil, nil, 'usage_limit' end
      if raw ~= '0' then limit = tonumber(raw) end
    end
  end
  return used, limit, nil
end`;

/** `now_ms()`: the Redis server's clock in ms, the one clock every client's leases agree on. */
export const NOW_MS_LUA = `local function now_ms()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end`;

/** `live_reserved(key, now)`: tokens held by leases (members 'id:tokens') that expire after now. */
export const LIVE_RESERVED_LUA = `local function live_reserved(key, now)
  local sum = 0
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', key, '(' .. now, '+inf')) do
    sum = sum + tonumber(string.match(member, ':(%d+)$'))
  end
  return sum
end`;
