import type { BillingCycle, CycleStart } from '../domain/billing-cycle.js';
import type { UsageError } from '../domain/errors.js';
import type { IdempotencyKey } from '../domain/idempotency.js';
import type { TokenCount, UsageLimit } from '../domain/token-count.js';
import type { UserId } from '../domain/user-id.js';

/** The three counters of one user's billing cycle. */
export interface UsageCounters {
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** Always >= promptTokens + completionTokens: it also holds tokens recorded as a total only. */
  readonly totalTokens: number;
}

/** Counters, limits and outstanding reservations of one user's cycle, read in one atomic step. */
export interface UsageSnapshot extends UsageCounters {
  /** The limit set for this cycle only, or `null`. */
  readonly cycleLimit: number | null;
  /** The user's standing limit that applies to every cycle, or `null`. */
  readonly standingLimit: number | null;
  /** Tokens held by reservations whose lease has not expired. */
  readonly reservedTokens: number;
}

/** Identifies one user's billing cycle. */
export interface CycleRef {
  readonly userId: UserId;
  readonly cycle: CycleStart;
}

/** A reservation's lease in the store: its id and the tokens it holds. */
export interface LeaseRef {
  readonly id: string;
  readonly tokens: TokenCount;
}

/**
 * Usage to add to one user's cycle. The total grows by prompt + completion + other (the domain has
 * checked that the sum is a safe integer), so `total = prompt + completion + other` holds.
 */
export interface RecordUsageCommand {
  readonly userId: UserId;
  readonly cycle: BillingCycle;
  readonly promptTokens: TokenCount;
  readonly completionTokens: TokenCount;
  /** Tokens not broken down into prompt and completion (kept in `other_tokens`). */
  readonly otherTokens: TokenCount;
  /**
   * Up to two keys claimed in the same atomic step as the increment. If any was claimed within the
   * dedupe window, nothing is written and the outcome says `duplicate`.
   */
  readonly idempotencyKeys: readonly IdempotencyKey[];
  /** How long a claimed idempotency key stays claimed, in ms. */
  readonly dedupeWindowMs: number;
  /** A lease this record frees in the same step (a reservation's commit), even when it is a duplicate; or `null`. */
  readonly releaseLease: LeaseRef | null;
  /** The day of the cycle's daily rollup the usage is added to, in the same atomic step (see `CycleCalendar.rollupDay`). */
  readonly rollupDay: CycleStart;
}

/** What a record did. */
export interface RecordOutcome {
  /** True when an idempotency key was already claimed: nothing was written. */
  readonly duplicate: boolean;
  /** The counters after the record (unchanged when `duplicate`). */
  readonly counters: UsageCounters;
}

/** How fresh a read must be. */
export interface ReadOptions {
  /**
   * The caller accepts an answer that may be up to a cache's TTL old (dashboards, alert sweeps).
   * Stores without a cache ignore it; enforcement never sets it.
   */
  readonly allowStale?: boolean;
}

/** The result of one record of a batch. */
export type BatchRecordResult =
  | { readonly ok: true; readonly outcome: RecordOutcome }
  | { readonly ok: false; readonly error: UsageError };

/** A limit to set (limit > 0) or remove (limit 0). */
export interface SetLimitCommand {
  readonly userId: UserId;
  readonly limit: UsageLimit;
  /** The cycle the limit overrides; `null` sets the user's standing limit for every cycle. */
  readonly cycle: BillingCycle | null;
}

/** A request to hold tokens against the effective limit. */
export interface ReserveCommand {
  readonly userId: UserId;
  readonly cycle: BillingCycle;
  readonly lease: LeaseRef;
  /** How long the lease holds the tokens, in ms. */
  readonly leaseMs: number;
}

/** The facts of a reservation attempt, read and (when granted) written in one atomic step. */
export interface ReserveOutcome {
  /** True when `used + reserved + tokens <= limit`, or no limit applies; then the lease was stored. */
  readonly granted: boolean;
  /** The cycle's total tokens. */
  readonly currentUsage: number;
  /** Tokens held by other live leases (not counting this request). */
  readonly reservedTokens: number;
  /** The effective limit, or `null` when none applies. */
  readonly limit: number | null;
  /** When a granted lease expires, epoch ms by the store's clock; 0 when denied. */
  readonly expiresAt: number;
}

/** A lease to free without recording usage. */
export interface ReleaseCommand extends CycleRef {
  readonly lease: LeaseRef;
}

/**
 * Where usage lives. Every method is one atomic step against the store: a multi-field update is
 * never seen half-applied, and concurrent callers never lose each other's increments.
 */
export interface UsageStore {
  /** Adds usage, claims idempotency keys and frees a lease in one atomic step, or does nothing for a duplicate. */
  recordUsage(command: RecordUsageCommand): Promise<RecordOutcome>;
  /**
   * Applies many records in one round trip; each is atomic on its own (as `recordUsage`), and the
   * results come back in order, a failed record (e.g. corrupt data) as an error beside the others.
   * If the round trip itself fails it rejects, and any subset may have been applied: retry with the
   * same idempotency keys.
   */
  recordUsageBatch(commands: readonly RecordUsageCommand[]): Promise<BatchRecordResult[]>;
  /** Reads a cycle's counters, both limits and live reservations, atomically. */
  readUsage(ref: CycleRef, options?: ReadOptions): Promise<UsageSnapshot>;
  /** Clears a cycle's counters; its limits and leases stay. */
  resetUsage(ref: CycleRef): Promise<void>;
  /** Sets or removes a cycle override limit, or the user's standing limit. */
  setLimit(command: SetLimitCommand): Promise<void>;
  /** Drops expired leases, then stores the lease only if it fits under the effective limit, atomically. */
  reserve(command: ReserveCommand): Promise<ReserveOutcome>;
  /** Frees a lease without usage; false when it was not there (expired, committed or released). */
  releaseLease(command: ReleaseCommand): Promise<boolean>;
  /** Releases the store's connections; the store is unusable afterwards. */
  close(): Promise<void>;
}
