import { recordUsageScript } from './record-usage.js';
import { reserveScript } from './reserve.js';
import type { BatchableScript, RedisScript } from './script.js';

/** The scripts a batch can hold, by the one-letter kind the batch script dispatches on. */
export const BATCHABLE: Readonly<Record<string, BatchableScript>> = { r: recordUsageScript, s: reserveScript };

/**
 * A script body as a function of the batch: its `KEYS[x]` and `ARGV[x]` become the batch's own
 * `KEYS[KB + x]` and `ARGV[AB + x]` (KB and AB: the offsets of the call's first key and argument, minus
 * one) and `#ARGV` its argument count, so a call reads its keys and arguments in place instead of
 * from tables copied per call (about 2 µs of Redis per call in a batch of 64). A body that used KEYS
 * or ARGV any other way (e.g. `ipairs(ARGV)`) could not be rewritten: that is an error here, at load.
 */
export function batchBody(body: string): string {
  const rewritten = body
    .replace(/\bKEYS\[([^\]]+)\]/g, 'KEYS[KB + $1]')
    .replace(/\bARGV\[([^\]]+)\]/g, 'ARGV[AB + $1]')
    .replace(/#ARGV\b/g, 'NARGS');
  const left = rewritten.replace(/\b(KEYS|ARGV)\[(KB|AB) \+ /g, '');
  if (/\b(KEYS|ARGV)\b/.test(left)) throw new Error('a batchable body may use KEYS and ARGV only as KEYS[...], ARGV[...] and #ARGV');
  return `function(KB, AB, NARGS)\n${rewritten}\nend`;
}

/** The shape of one call in a batch: its kind, key count and argument count, as the batch script reads it. */
export function callShape(kind: string, keyCount: number, argCount: number): string {
  return `${kind}:${keyCount}:${argCount}`;
}

// Each helper chunk once (the scripts share some by value), defined once per batch call, not per record.
const helpers = [...new Set(Object.values(BATCHABLE).flatMap((script) => script.helpers))];
const bodies = Object.entries(BATCHABLE).map(([kind, script]) => `ops['${kind}'] = ${batchBody(script.body)}`);
const slots = [...new Set(Object.values(BATCHABLE).flatMap((s) => [...s.body.matchAll(/(?:KEYS|ARGV)\[\d+\]/g)].map((m) => m[0])))]
  .sort((x, y) => x.localeCompare(y, 'en', { numeric: true }));

/**
 * Several record (`r`) and reserve (`s`) calls in one EVALSHA, applied in order, each exactly as its
 * own script would (the bodies and helpers are spliced from those scripts, so the two cannot drift
 * apart), with a reply per call. Keys are passed per call, so on a Cluster every call of one batch
 * must share a slot.
 */
export const applyBatchScript: RedisScript = {
  name: 'turApplyBatchV3',
  numberOfKeys: -1, // variable: the caller passes the key count first
  lua: `--[[
  Applies n record or reserve calls in order, each with its own keys and arguments.
  KEYS: the keys of call 1, then of call 2, ... (each call's own KEYS[1], KEYS[2], ... in that order)
  ARGV[1] n, the number of calls; then per call: its shape '<kind>:<key count>:<argument count>'
    (kind 'r' record, 's' reserve), then its arguments (the call's own ARGV[1], ARGV[2], ...)
  Inside each call, KEYS and ARGV are that call's own (${slots.join(', ')}, ...), as documented by
    the record (${recordUsageScript.name}) and reserve (${reserveScript.name}) scripts.
  Reply: one flat list, per call in order either 1 then the elements of its script's reply (as
    many as that script's reply has: record ${recordUsageScript.replyWidth}, reserve ${reserveScript.replyWidth}; an absent one is nil), or 0 then the
    error message of its script; a failed call (e.g. 'TUR_CORRUPT <field>', which writes nothing)
    does not stop the others. A batch whose shapes cannot be read, or whose counts do not add up
    to its KEYS and ARGV, is refused whole before anything is written: 'TUR_BATCH bad ...'.
]]
${helpers.join('\n')}
local ops = {}
local WIDTH = {${Object.entries(BATCHABLE).map(([kind, script]) => `${kind} = ${script.replyWidth}`).join(', ')}}
${bodies.join('\n')}
-- First every call's shape is read (each distinct one parsed once: {body, key count, argument
-- count, reply width}) and the counts checked against KEYS and ARGV, so a malformed batch is refused
-- before any of its calls wrote anything.
local n = tonumber(ARGV[1])
if n == nil then return redis.error_reply('TUR_BATCH bad count') end
local shapes, plan = {}, {}
local kb, ab = 0, 1
for i = 1, n do
  local name = ARGV[ab + 1]
  local shape = shapes[name or '']
  if shape == nil then
    local kind, nkeys, nargs = string.match(name or '', '^(%a):(%d+):(%d+)$')
    if kind == nil or ops[kind] == nil then return redis.error_reply('TUR_BATCH bad shape ' .. tostring(name)) end
    shape = {ops[kind], tonumber(nkeys), tonumber(nargs), WIDTH[kind]}
    shapes[name] = shape
  end
  plan[i] = shape
  kb, ab = kb + shape[2], ab + 1 + shape[3]
end
if kb ~= #KEYS or ab ~= #ARGV then return redis.error_reply('TUR_BATCH bad shape: the counts do not add up') end
-- One flat reply (nested tables cost Redis a conversion each): per call its status, then its values.
local results, r = {}, 0
kb, ab = 0, 1
for i = 1, n do
  local shape = plan[i]
  local nargs = shape[3]
  local ok, reply = pcall(shape[1], kb, ab + 1, nargs)
  kb, ab = kb + shape[2], ab + 1 + nargs
  if ok and type(reply) == 'table' and reply.err then ok, reply = false, reply.err end
  if ok then
    results[r + 1] = 1
    -- false, not nil, for an absent value: a nil would end the list.
    local width = shape[4]
    for j = 1, width do
      local value = reply[j]
      if value == nil then value = false end
      results[r + 1 + j] = value
    end
    r = r + 1 + width
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
