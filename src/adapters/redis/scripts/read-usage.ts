import type { RedisScript } from './script.js';

/** Reads a cycle's counters and both limits in one atomic step. */
export const readUsageScript: RedisScript = {
  name: 'turReadUsageV1',
  numberOfKeys: 2,
  lua: `--[[
  Reads one user's cycle counters, the cycle limit and the standing limit.
  KEYS[1] cycle hash <prefix>:<user>:<YYYY-MM-DD>
  KEYS[2] policy hash <prefix>:<user>:policy
  Reply: {prompt_tokens, completion_tokens, total_tokens, usage_limit (cycle), usage_limit (standing)},
    each a bulk string or nil when absent.
]]
local cycle = redis.call('HMGET', KEYS[1], 'prompt_tokens', 'completion_tokens', 'total_tokens', 'usage_limit')
local standing = redis.call('HMGET', KEYS[2], 'usage_limit')
return {cycle[1], cycle[2], cycle[3], cycle[4], standing[1]}
`,
};
