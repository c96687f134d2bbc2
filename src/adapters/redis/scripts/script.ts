/** A Lua script loaded with ioredis `defineCommand` under a versioned name. */
export interface RedisScript {
  /** Versioned command name: change the version whenever the Lua changes. */
  readonly name: string;
  readonly numberOfKeys: number;
  readonly lua: string;
}

/**
 * A script the coalesced batch can run: its source is a header comment, then its helpers, then its
 * body. The batch defines the helpers once per call and runs the body per record, so the body must
 * only read its own KEYS and ARGV and use helpers (never define functions of its own).
 */
export interface BatchableScript extends RedisScript {
  /** Lua chunks that define local functions and constants, shared by value with other scripts. */
  readonly helpers: readonly string[];
  /** The script's code after the helpers; `return`s its reply. */
  readonly body: string;
  /** How many elements its (non-error) reply has. */
  readonly replyWidth: number;
}

/**
 * A call's keys as a script defined with a fixed key count takes them. A call may leave out trailing
 * keys its script does not read for it (the record script's lease and idempotency keys): a batch does
 * not send them at all, and a plain call repeats its first key in their places, the scripts'
 * placeholder for an unused key.
 */
export function paddedKeys(script: RedisScript, keys: readonly string[]): readonly string[] {
  if (keys.length >= script.numberOfKeys) return keys;
  const padded = [...keys];
  while (padded.length < script.numberOfKeys) padded.push(keys[0] ?? '');
  return padded;
}

/** Builds a batchable script: `lua` is the header, the helpers and the body, in that order. */
export function batchableScript(parts: Omit<BatchableScript, 'lua'> & { readonly header: string }): BatchableScript {
  const { header, ...rest } = parts;
  return { ...rest, lua: `--[[\n${header}\n]]\n${[...parts.helpers, parts.body].join('\n')}` };
}

/** The error prefix scripts use for a counter that is not an integer; the field name follows. */
export const CORRUPT_FIELD_ERROR = 'TUR_CORRUPT';

/** The error prefix scripts use when a write would push a counter past 2^53 - 1; the field name follows. */
export const OVERFLOW_FIELD_ERROR = 'TUR_OVERFLOW';
