import { createHash } from 'node:crypto';
import { cycleStart } from '../../domain/billing-cycle.js';
import type { CycleStart } from '../../domain/billing-cycle.js';
import type { IdempotencyKey } from '../../domain/idempotency.js';
import { userId } from '../../domain/user-id.js';
import { ConfigError } from '../../domain/errors.js';
import type { UserId } from '../../domain/user-id.js';

/** How keys are named. */
export interface KeyOptions {
  /** First segment of every key; the seed uses `token_usage`. */
  readonly prefix: string;
  /** Wrap the user id in `{}` so every key of one user lands in one Redis Cluster slot. */
  readonly hashTags: boolean;
}

/**
 * Builds every Redis key this package uses; nothing else names a key. User ids may contain `:`, so
 * each kind of key ends in a suffix of fixed shape, which keeps all kinds and all users apart.
 */
export interface KeyBuilder {
  /** The seed's per-cycle hash: `<prefix>:<user>:<YYYY-MM-DD>`. */
  cycle(user: UserId, cycle: CycleStart): string;
  /** The user's policy hash (standing limit): `<prefix>:<user>:policy`. */
  policy(user: UserId): string;
  /** A cycle's reservation leases (sorted set): `<prefix>:<user>:<YYYY-MM-DD>:leases`. */
  leases(user: UserId, cycle: CycleStart): string;
  /** A cycle's claimed alert thresholds (hash): `<prefix>:<user>:<YYYY-MM-DD>:alerts`. */
  alerts(user: UserId, cycle: CycleStart): string;
  /** A cycle's daily rollups (hash, field `<YYYY-MM-DD>` = `prompt:completion:total`): `<prefix>:<user>:<YYYY-MM-DD>:daily`. */
  daily(user: UserId, cycle: CycleStart): string;
  /** The health-check key, shared by all users and touching none: `<prefix>:__health__`. */
  health(): string;
  /** One claimed idempotency key: `<prefix>:<user>:idem:<sha1 of the key>`. */
  idempotency(user: UserId, key: IdempotencyKey): string;
  /**
   * SCAN MATCH pattern of the cycle hashes of one cycle, or of every cycle (any `YYYY-MM-DD`). It
   * matches no other kind of key, since every other kind ends in a different suffix.
   */
  cyclePattern(cycle?: CycleStart): string;
  /** The user and cycle of a cycle hash key in this layout, or `null` for any other key. */
  parseCycleKey(key: string): { readonly userId: UserId; readonly cycle: CycleStart } | null;
}

/**
 * The one key builder. All keys of a user share the same `{user}` tag when hash tags are on; inside the
 * tag `%`, `{` and `}` are percent-encoded, because Redis ends a tag at the first `}` (a user id starting
 * with `}` would give an empty tag, and that user's keys would scatter over slots).
 */
export function createKeyBuilder(options: KeyOptions): KeyBuilder {
  const { prefix, hashTags } = options;
  if (!PREFIX.test(prefix)) {
    throw new ConfigError('keyPrefix', 'must be 1-64 characters of letters, digits, _ . - (no : or braces)');
  }
  const user = hashTags ? (id: UserId) => `${prefix}:{${encodeTag(id)}}` : (id: UserId) => `${prefix}:${id}`;
  return {
    cycle: (id, cycle) => `${user(id)}:${cycle}`,
    policy: (id) => `${user(id)}:policy`,
    leases: (id, cycle) => `${user(id)}:${cycle}:leases`,
    alerts: (id, cycle) => `${user(id)}:${cycle}:alerts`,
    daily: (id, cycle) => `${user(id)}:${cycle}:daily`,
    health: () => `${prefix}:__health__`,
    idempotency: (id, key) => `${user(id)}:idem:${createHash('sha1').update(key).digest('hex')}`,
    // The prefix holds no glob metacharacter (checked above), so it matches itself literally.
    cyclePattern: (cycle) => `${prefix}:${hashTags ? '{*}' : '*'}:${cycle ?? ANY_DATE_GLOB}`,
    parseCycleKey: (key) => parseCycleKey(key, options),
  };
}

// No ':' (prefix "a" with user "b:x" would meet prefix "a:b" with user "x") and no braces (the tag).
const PREFIX = /^[\w.-]{1,64}$/;

/** `%` → `%25`, `{` → `%7B`, `}` → `%7D`: one-to-one, and the result holds no brace. */
function encodeTag(id: string): string {
  return id.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

function decodeTag(tag: string): string {
  return tag.replace(/%(25|7B|7D)/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

const ANY_DATE_GLOB = '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]';
const CYCLE_SUFFIX = /:(\d{4}-\d{2}-\d{2})$/;

/** Strips `<prefix>:` and `:<YYYY-MM-DD>` (and the tag braces); both parts must pass validation. */
function parseCycleKey(key: string, options: KeyOptions): { userId: UserId; cycle: CycleStart } | null {
  const head = `${options.prefix}:`;
  if (!key.startsWith(head)) return null;
  const suffix = CYCLE_SUFFIX.exec(key);
  if (suffix === null) return null;
  let user = key.slice(head.length, suffix.index);
  if (options.hashTags) {
    if (user.length < 2 || !user.startsWith('{') || !user.endsWith('}')) return null;
    const tag = user.slice(1, -1);
    if (/[{}]/.test(tag) || /%(?!25|7B|7D)/.test(tag)) return null; // not written by this builder
    user = decodeTag(tag);
  }
  try {
    return { userId: userId(user), cycle: cycleStart(suffix[1]) };
  } catch {
    return null; // not a key this package wrote (e.g. an impossible date or an over-long user id)
  }
}
