import { recordUsageScript } from './record-usage.js';
import { reserveScript } from './reserve.js';
import type { BatchableScript, RedisScript } from './script.js';

/** The scripts a batch can hold, by the one-letter kind the batch script dispatches on. */
export const BATCHABLE: Readonly<Record<string, BatchableScript>> = { r: recordUsageScript, s: reserveScript };

// Each helper chunk once (the scripts share some by value), defined once per batch call, not per record.
const helpers = [...new Set(Object.values(BATCHABLE).flatMap((script) => script.helpers))];
const bodies = Object.entries(BATCHABLE).map(([kind, script]) => `ops['${kind}'] = function(KEYS, ARGV)\n${script.body}\nend`);
const slots = [...new Set(Object.values(BATCHABLE).flatMap((s) => [...s.body.matchAll(/(?:KEYS|ARGV)\[\d+\]/g)].map((m) => m[0])))]
  .sort((x, y) => x.localeCompare(y, 'en', { numeric: true }));

/**
 * Several record (`r`) and reserve (`s`) calls in one EVALSHA, applied in order, each exactly as its
 * own script would (the bodies and helpers are spliced from those scripts, so the two cannot drift
 * apart), with a reply per call. Keys are passed per call, so on a Cluster every call of one batch
 * must share a slot.
 */
export const applyBatchScript: RedisScript = {
  name: 'turApplyBatchV2',
  numberOfKeys: -1, // variable: the caller passes the key count first
  lua: `--[[
  Applies n record or reserve calls in order, each with its own keys and arguments.
  KEYS: the keys of call 1, then of call 2, ... (each call's own KEYS[1], KEYS[2], ... in that order)
  ARGV[1] n, the number of calls; then per call: kind ('r' record, 's' reserve), its key count, its
    argument count, then its arguments (the call's own ARGV[1], ARGV[2], ...)
  Inside each call, KEYS and ARGV are that call's own (${slots.join(', ')}, ...), as documented by
    the record (${recordUsageScript.name}) and reserve (${reserveScript.name}) scripts.
  Reply: one flat list, per call in order either 1 then the elements of its script's reply (as
    many as that script's reply has: record ${recordUsageScript.replyWidth}, reserve ${reserveScript.replyWidth}; an absent one is nil), or 0 then the
    error message of its script; a failed call (e.g. 'TUR_CORRUPT <field>', which writes nothing)
    does not stop the others.
]]
${helpers.join('\n')}
local ops = {}
local WIDTH = {${Object.entries(BATCHABLE).map(([kind, script]) => `${kind} = ${script.replyWidth}`).join(', ')}}
${bodies.join('\n')}
-- One flat reply (nested tables cost Redis a conversion each): per call its status, then its values.
local results, r = {}, 0
local k, a = 1, 2
for i = 1, tonumber(ARGV[1]) do
  local kind, nkeys, nargs = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  local keys, args = {}, {}
  for j = 1, nkeys do keys[j] = KEYS[k]; k = k + 1 end
  for j = 1, nargs do args[j] = ARGV[a]; a = a + 1 end
  local ok, reply = pcall(ops[kind], keys, args)
  if ok and type(reply) == 'table' and reply.err then ok, reply = false, reply.err end
  if ok then
    results[r + 1] = 1
    -- false, not nil, for an absent value: a nil would end the list.
    for j = 1, WIDTH[kind] do
      local value = reply[j]
      if value == nil then value = false end
      results[r + 1 + j] = value
    end
    r = r + 1 + WIDTH[kind]
  else
    if type(reply) == 'table' then reply = reply.err end
    results[r + 1] = 0
    results[r + 2] = tostring(reply)
    r = r + 2
  end
end
return results
`,
};
