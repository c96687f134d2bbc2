import { recordUsageScript } from './record-usage.js';
import { reserveScript } from './reserve.js';
import type { RedisScript } from './script.js';

/** The scripts a batch can hold, by the one-letter kind the batch script dispatches on. */
export const BATCHABLE: Readonly<Record<string, RedisScript>> = { r: recordUsageScript, s: reserveScript };

/** A script's Lua without its leading header comment: the body the batch wraps in a function. */
function body(script: RedisScript): string {
  return script.lua.replace(/^--\[\[[^]*?\]\]\n/, '');
}

const bodies = Object.entries(BATCHABLE).map(
  ([kind, script]) => `ops['${kind}'] = function(KEYS, ARGV)\n${body(script)}\nend`,
);
const slots = [...new Set(Object.values(BATCHABLE).flatMap((s) => [...body(s).matchAll(/(?:KEYS|ARGV)\[\d+\]/g)].map((m) => m[0])))]
  .sort((x, y) => x.localeCompare(y, 'en', { numeric: true }));

/**
 * Several record (`r`) and reserve (`s`) calls in one EVALSHA, applied in order, each exactly as its
 * own script would (the bodies are spliced from those scripts, so the two cannot drift apart), with a
 * reply per call. Keys are passed per call, so on a Cluster every call of one batch must share a slot.
 */
export const applyBatchScript: RedisScript = {
  name: 'turApplyBatchV1',
  numberOfKeys: -1, // variable: the caller passes the key count first
  lua: `--[[
  Applies n record or reserve calls in order, each with its own keys and arguments.
  KEYS: the keys of call 1, then of call 2, ... (each call's own KEYS[1], KEYS[2], ... in that order)
  ARGV[1] n, the number of calls; then per call: kind ('r' record, 's' reserve), its key count, its
    argument count, then its arguments (the call's own ARGV[1], ARGV[2], ...)
  Inside each call, KEYS and ARGV are that call's own (${slots.join(', ')}, ...), as documented by
    the record (${recordUsageScript.name}) and reserve (${reserveScript.name}) scripts.
  Reply: per call, {1, the reply of its script} or {0, the error message of its script}; a failed
    call (e.g. 'TUR_CORRUPT <field>', which writes nothing) does not stop the others.
]]
local ops = {}
${bodies.join('\n')}
local results = {}
local k, a = 1, 2
for i = 1, tonumber(ARGV[1]) do
  local kind, nkeys, nargs = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  local keys, args = {}, {}
  for j = 1, nkeys do keys[j] = KEYS[k]; k = k + 1 end
  for j = 1, nargs do args[j] = ARGV[a]; a = a + 1 end
  local ok, reply = pcall(ops[kind], keys, args)
  if not ok then
    if type(reply) == 'table' then reply = reply.err end
    results[i] = {0, tostring(reply)}
  elseif type(reply) == 'table' and reply.err then
    results[i] = {0, reply.err}
  else
    results[i] = {1, reply}
  end
end
return results
`,
};
