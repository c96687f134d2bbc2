import { createHash } from 'node:crypto';
import { cycleStart } from '../../domain/billing-cycle.js';
import type { CycleStart } from '../../domain/billing-cycle.js';
import type { IdempotencyKey } from '../../domain/idempotency.js';
import { userId } from '../../domain/user-id.js';
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

/** The one key builder. All keys of a user share the same `{user}` tag when hash tags are on. */
export function createKeyBuilder(options: KeyOptions): KeyBuilder {
  const { prefix, hashTags } = options;
  const user = hashTags ? (id: UserId) => `${prefix}:{${id}}` : (id: UserId) => `${prefix}:${id}`;
  return {
    cycle: (id, cycle) => `${user(id)}:${cycle}`,
    policy: (id) => `${user(id)}:policy`,
    leases: (id, cycle) => `${user(id)}:${cycle}:leases`,
    alerts: (id, cycle) => `${user(id)}:${cycle}:alerts`,
    health: () => `${prefix}:__health__`,
    idempotency: (id, key) => `${user(id)}:idem:${createHash('sha1').update(key).digest('hex')}`,
    cyclePattern: (cycle) => `${globEscape(prefix)}:${hashTags ? '{*}' : '*'}:${cycle ?? ANY_DATE_GLOB}`,
    parseCycleKey: (key) => parseCycleKey(key, options),
  };
}

const ANY_DATE_GLOB = '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]';
const CYCLE_SUFFIX = /:(\d{4}-\d{2}-\d{2})$/;

/** Escapes Redis glob metacharacters, so a prefix always matches itself literally. */
function globEscape(text: string): string {
  return text.replace(/[\\*?[\]]/g, '\\$&');
}

/** Strips `<prefix>:` and `:<YYYY-MM-DD>` (and the tag braces); both parts must pass validation. */
function parseCycleKey(key: string, options: KeyOptions): { userId: UserId; cycle: CycleStart } | null {
  const head = `${options.prefix}:`;
  if (!key.startsWith(head)) return null;
  const suffix = CYCLE_SUFFIX.exec(key);
  if (suffix === null) return null;
  let user = key.slice(head.length, suffix.index);
  if (options.hashTags) {
    if (user.length < 2 || !user.startsWith('{') || !user.endsWith('}')) return null;
    user = user.slice(1, -1);
  }
  try {
    return { userId: userId(user), cycle: cycleStart(suffix[1]) };
  } catch {
    return null; // not a key this package wrote (e.g. an impossible date or an over-long user id)
  }
}
