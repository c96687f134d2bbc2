import type { CycleStart } from '../../domain/billing-cycle.js';
import { readOptions } from '../../domain/options.js';
import {
  cycleRefFrom,
  recordBatchFrom,
  recordCommandFrom,
  releaseCommandFrom,
  reserveCommandFrom,
  setLimitCommandFrom,
} from '../../domain/store-commands.js';
import type { UserId } from '../../domain/user-id.js';
import type { Clock } from '../../ports/clock.js';
import type {
  BatchRecordResult,
  CycleRef,
  ReadOptions,
  RecordOutcome,
  RecordUsageCommand,
  ReleaseCommand,
  ReserveCommand,
  ReserveOutcome,
  SetLimitCommand,
  UsageSnapshot,
  UsageStore,
} from '../../ports/usage-store.js';

/** Options of a {@link CachingUsageStore}. */
export interface CachingUsageStoreOptions {
  /** How long a snapshot may be served, in ms, from when its read began. Default 300000 (5 minutes). */
  readonly ttlMs?: number;
  /** Most snapshots kept; the least recently used goes first. Default 10000. */
  readonly maxEntries?: number;
  /** Ages the entries. */
  readonly clock: Clock;
}

interface Entry {
  readonly userId: UserId;
  readonly snapshot: UsageSnapshot;
  readonly expiresAt: number;
  /** Sequence number of the read that produced it; an older read never overwrites a newer one. */
  readonly seq: number;
}

interface PendingRead {
  readonly key: string;
  readonly seq: number;
  /** A write to the cycle finished while the read was in flight: its answer may predate the write. */
  invalidated: boolean;
}

/**
 * A `UsageStore` that answers `readUsage(ref, { allowStale: true })` from a bounded LRU cache of
 * snapshots per user and cycle. Staleness contract:
 *
 * - **Can be stale**: only a read that passes `allowStale: true`. Its snapshot is at most `ttlMs` old
 *   (measured by the clock from when the store read began) and misses what other processes or
 *   clients wrote since, and leases that expired since (`reservedTokens` may be too high).
 * - **Never stale**: a read without `allowStale` (it goes to the inner store and refreshes the cache),
 *   `reserve` and every write (they always go to the inner store), and an `allowStale` read after a
 *   write through this instance to the same cycle has finished: the write drops the cycle's entry
 *   (a standing limit drops every cached cycle of its user), and a read in flight meanwhile is not
 *   cached. A write that failed still drops the entry, as it may have been applied.
 */
export class CachingUsageStore implements UsageStore {
  readonly #inner: UsageStore;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #clock: Clock;
  /** Insertion order is recency order: a hit re-inserts, eviction takes the first. */
  readonly #entries = new Map<string, Entry>();
  readonly #keysByUser = new Map<UserId, Set<string>>();
  readonly #pending = new Set<PendingRead>();
  #seq = 0;

  constructor(inner: UsageStore, options: CachingUsageStoreOptions) {
    this.#inner = inner;
    this.#ttlMs = options.ttlMs ?? 300_000;
    this.#maxEntries = options.maxEntries ?? 10_000;
    if (!(this.#ttlMs >= 0 && Number.isFinite(this.#ttlMs))) throw new RangeError(`ttlMs must be >= 0, got ${this.#ttlMs}`);
    if (!Number.isSafeInteger(this.#maxEntries) || this.#maxEntries < 1) {
      throw new RangeError(`maxEntries must be an integer >= 1, got ${this.#maxEntries}`);
    }
    this.#clock = options.clock;
  }

  /** How many snapshots are cached now (never more than `maxEntries`). */
  get size(): number {
    return this.#entries.size;
  }

  async readUsage(cycleRef: CycleRef, readOptionsArgument?: ReadOptions): Promise<UsageSnapshot> {
    const options = readOptions(readOptionsArgument);
    const ref = cycleRefFrom(cycleRef);
    const key = cacheKey(ref.userId, ref.cycle);
    const startedAt = this.#clock.now();
    if (options.allowStale === true) {
      const hit = this.#entries.get(key);
      if (hit !== undefined && startedAt < hit.expiresAt) {
        this.#entries.delete(key);
        this.#entries.set(key, hit);
        return hit.snapshot;
      }
    }
    const pending: PendingRead = { key, seq: ++this.#seq, invalidated: false };
    this.#pending.add(pending);
    try {
      const snapshot = await this.#inner.readUsage(ref, options);
      if (!pending.invalidated) this.#store(ref.userId, pending, Object.freeze({ ...snapshot }), startedAt);
      return snapshot;
    } finally {
      this.#pending.delete(pending);
    }
  }

  // Each write validates its command first: the cache is keyed by it, even when the write fails.
  async recordUsage(recordCommand: RecordUsageCommand): Promise<RecordOutcome> {
    const command = recordCommandFrom(recordCommand);
    return this.#write(this.#inner.recordUsage(command), () => this.#invalidate(command.userId, command.cycle.start));
  }

  async recordUsageBatch(batch: readonly RecordUsageCommand[]): Promise<BatchRecordResult[]> {
    const commands = recordBatchFrom(batch);
    return this.#write(this.#inner.recordUsageBatch(commands), () => {
      for (const command of commands) this.#invalidate(command.userId, command.cycle.start);
    });
  }

  async resetUsage(cycleRef: CycleRef): Promise<void> {
    const ref = cycleRefFrom(cycleRef);
    return this.#write(this.#inner.resetUsage(ref), () => this.#invalidate(ref.userId, ref.cycle));
  }

  async setLimit(setLimitCommand: SetLimitCommand): Promise<void> {
    const command = setLimitCommandFrom(setLimitCommand);
    return this.#write(this.#inner.setLimit(command), () =>
      command.cycle === null ? this.#invalidateUser(command.userId) : this.#invalidate(command.userId, command.cycle.start),
    );
  }

  async reserve(reserveCommand: ReserveCommand): Promise<ReserveOutcome> {
    const command = reserveCommandFrom(reserveCommand);
    return this.#write(this.#inner.reserve(command), () => this.#invalidate(command.userId, command.cycle.start));
  }

  async releaseLease(releaseCommand: ReleaseCommand): Promise<boolean> {
    const command = releaseCommandFrom(releaseCommand);
    return this.#write(this.#inner.releaseLease(command), () => this.#invalidate(command.userId, command.cycle));
  }

  /** Drops the cache and closes the inner store. */
  async close(): Promise<void> {
    this.#entries.clear();
    this.#keysByUser.clear();
    for (const pending of this.#pending) pending.invalidated = true;
    await this.#inner.close();
  }

  /** Invalidates after the write settles, failed or not (a failed write may have been applied). */
  async #write<T>(write: Promise<T>, invalidate: () => void): Promise<T> {
    try {
      return await write;
    } finally {
      invalidate();
    }
  }

  #store(user: UserId, read: PendingRead, snapshot: UsageSnapshot, startedAt: number): void {
    const current = this.#entries.get(read.key);
    if (current !== undefined && current.seq > read.seq) return;
    this.#entries.delete(read.key);
    this.#entries.set(read.key, { userId: user, snapshot, expiresAt: startedAt + this.#ttlMs, seq: read.seq });
    let keys = this.#keysByUser.get(user);
    if (keys === undefined) this.#keysByUser.set(user, (keys = new Set()));
    keys.add(read.key);
    while (this.#entries.size > this.#maxEntries) {
      const [oldest, entry] = this.#entries.entries().next().value as [string, Entry];
      this.#drop(oldest, entry.userId);
    }
  }

  #invalidate(user: UserId, cycle: CycleStart): void {
    const key = cacheKey(user, cycle);
    this.#drop(key, user);
    for (const pending of this.#pending) if (pending.key === key) pending.invalidated = true;
  }

  #invalidateUser(user: UserId): void {
    for (const key of [...(this.#keysByUser.get(user) ?? [])]) this.#drop(key, user);
    const prefix = cacheKey(user, '' as CycleStart);
    for (const pending of this.#pending) if (pending.key.startsWith(prefix)) pending.invalidated = true;
  }

  #drop(key: string, user: UserId): void {
    this.#entries.delete(key);
    const keys = this.#keysByUser.get(user);
    keys?.delete(key);
    if (keys?.size === 0) this.#keysByUser.delete(user);
  }
}

// User ids cannot contain control characters, so NUL separates user and cycle unambiguously.
function cacheKey(user: UserId, cycle: CycleStart): string {
  return `${user}\u0000${cycle}`;
}
