/**
 * Lua shared by several scripts, spliced into each script's source (so each script stays one
 * self-contained EVALSHA and its pinned SHA covers the helpers too).
 */

/** `is_counter(value)`: an integer HINCRBY accepts (no leading zeros), with at most 18 digits so that
 * adding a safe integer (< 2^53) cannot overflow int64 and fail half-way through a script. */
export const IS_COUNTER_LUA = `local function is_counter(value)
  local digits = string.match(value, '^%-?([1-9]%d*)$')
  return value == '0' or (digits ~= nil and #digits <= 18)
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
