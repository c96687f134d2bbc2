import type { CycleStart } from '../../domain/billing-cycle.js';
import type { UserId } from '../../domain/user-id.js';

/** How keys are named. */
export interface KeyOptions {
  /** First segment of every key; the seed uses `token_usage`. */
  readonly prefix: string;
  /** Wrap the user id in `{}` so every key of one user lands in one Redis Cluster slot. */
  readonly hashTags: boolean;
}

/** Builds every Redis key this package uses; nothing else names a key. */
export interface KeyBuilder {
  /** The seed's per-cycle hash: `<prefix>:<user>:<YYYY-MM-DD>`. */
  cycle(user: UserId, cycle: CycleStart): string;
  /** The user's policy hash (standing limit): `<prefix>:<user>:policy`. */
  policy(user: UserId): string;
}

/** The one key builder. All keys of a user share the same `{user}` tag when hash tags are on. */
export function createKeyBuilder(options: KeyOptions): KeyBuilder {
  const { prefix, hashTags } = options;
  const user = hashTags ? (id: UserId) => `${prefix}:{${id}}` : (id: UserId) => `${prefix}:${id}`;
  return {
    cycle: (id, cycle) => `${user(id)}:${cycle}`,
    policy: (id) => `${user(id)}:policy`,
  };
}
