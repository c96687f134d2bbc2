import { IS_COUNTER_LUA, LIVE_RESERVED_LUA, NOW_MS_LUA } from './lua-helpers.js';
import type { RedisScript } from './script.js';

/** Reads a cycle's counters, both limits and its live reservations in one atomic step. */
export const readUsageScript: RedisScript = {
  name: 'turReadUsageV4',
  numberOfKeys: 4,
  lua: `--[[
  Reads one user's cycle counters, the cycle limit, the standing limit and live reservations.
  KEYS[1] cycle hash <prefix>:<user>:<YYYY-MM-DD>
  KEYS[2] policy hash <prefix>:<user>:policy
  KEYS[3] cycle leases zset <prefix>:<user>:<YYYY-MM-DD>:leases
  KEYS[4] running total of KEYS[3]'s tokens <prefix>:<user>:<YYYY-MM-DD>:leases:total
  Reply: {prompt_tokens, completion_tokens, total_tokens, usage_limit (cycle), usage_limit (standing),
    reserved tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens}; all bulk strings or
    nil when absent except reserved tokens, an integer.
]]
${IS_COUNTER_LUA}
${NOW_MS_LUA}
${LIVE_RESERVED_LUA}
local cycle = redis.call('HMGET', KEYS[1], 'prompt_tokens', 'completion_tokens', 'total_tokens', 'usage_limit',
  'cache_read_tokens', 'cache_write_tokens', 'reasoning_tokens')
local standing = redis.call('HMGET', KEYS[2], 'usage_limit')
return {cycle[1], cycle[2], cycle[3], cycle[4], standing[1], live_reserved(KEYS[3], KEYS[4], now_ms()), cycle[5], cycle[6], cycle[7]}
`,
};
