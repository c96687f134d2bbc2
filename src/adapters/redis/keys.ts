import { createHash } from 'node:crypto';
import type { CycleStart } from '../../domain/billing-cycle.js';
import type { IdempotencyKey } from '../../domain/idempotency.js';
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
  /** One claimed idempotency key: `<prefix>:<user>:idem:<sha1 of the key>`. */
  idempotency(user: UserId, key: IdempotencyKey): string;
}

/** The one key builder. All keys of a user share the same `{user}` tag when hash tags are on. */
export function createKeyBuilder(options: KeyOptions): KeyBuilder {
  const { prefix, hashTags } = options;
  const user = hashTags ? (id: UserId) => `${prefix}:{${id}}` : (id: UserId) => `${prefix}:${id}`;
  return {
    cycle: (id, cycle) => `${user(id)}:${cycle}`,
    policy: (id) => `${user(id)}:policy`,
    leases: (id, cycle) => `${user(id)}:${cycle}:leases`,
    idempotency: (id, key) => `${user(id)}:idem:${createHash('sha1').update(key).digest('hex')}`,
  };
}
