import type { RedisScript } from './script.js';

/**
 * Compare-and-set repair of one hash: writes the changes only if every compared field still holds
 * the value the verifier read, so a concurrent increment is never overwritten. Pure string work: the
 * new values were computed by the caller (Lua 5.1 numbers are doubles).
 */
export const repairHashScript: RedisScript = {
  name: 'turRepairHashV1',
  numberOfKeys: 1,
  lua: `--[[
  Repairs one cycle or policy hash if it still holds what was read (compare-and-set).
  KEYS[1] cycle hash <prefix>:<user>:<YYYY-MM-DD>, or policy hash <prefix>:<user>:policy
  ARGV[1] n: how many fields are compared
  ARGV[2] m: how many fields are written
  then n pairs: field, expected value as '=' .. value, or '-' when the field was absent
  then m pairs: field, new value as '=' .. value, or '-' to delete the field
  Reply: 1 when every compared field matched and the changes were written; 0 when nothing was
    written because the key is gone, is not a hash, or a compared field changed.
]]
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 0 end
local n = tonumber(ARGV[1])
local m = tonumber(ARGV[2])
for i = 0, n - 1 do
  local current = redis.call('HGET', KEYS[1], ARGV[3 + 2 * i])
  if current then current = '=' .. current else current = '-' end
  if current ~= ARGV[4 + 2 * i] then return 0 end
end
local base = 3 + 2 * n
for i = 0, m - 1 do
  local field = ARGV[base + 2 * i]
  local value = ARGV[base + 1 + 2 * i]
  if value == '-' then
    redis.call('HDEL', KEYS[1], field)
  else
    redis.call('HSET', KEYS[1], field, string.sub(value, 2))
  end
end
return 1
`,
};
