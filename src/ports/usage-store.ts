import type { BillingCycle, CycleStart } from '../domain/billing-cycle.js';
import type { TokenCount, UsageLimit } from '../domain/token-count.js';
import type { UserId } from '../domain/user-id.js';

/** The three counters of one user's billing cycle. */
export interface UsageCounters {
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** Always >= promptTokens + completionTokens: it also holds tokens recorded as a total only. */
  readonly totalTokens: number;
}

/** Counters and limits of one user's cycle, read in one atomic step. */
export interface UsageSnapshot extends UsageCounters {
  /** The limit set for this cycle only, or `null`. */
  readonly cycleLimit: number | null;
  /** The user's standing limit that applies to every cycle, or `null`. */
  readonly standingLimit: number | null;
}

/** Identifies one user's billing cycle. */
export interface CycleRef {
  readonly userId: UserId;
  readonly cycle: CycleStart;
}

/** Usage to add to one user's cycle. */
export interface RecordUsageCommand {
  readonly userId: UserId;
  readonly cycle: BillingCycle;
  readonly promptTokens: TokenCount;
  readonly completionTokens: TokenCount;
  /** What to add to the total: prompt + completion + tokens not broken down. Validated as a safe integer. */
  readonly totalTokens: TokenCount;
}

/** A limit to set (limit > 0) or remove (limit 0). */
export interface SetLimitCommand {
  readonly userId: UserId;
  readonly limit: UsageLimit;
  /** The cycle the limit overrides; `null` sets the user's standing limit for every cycle. */
  readonly cycle: BillingCycle | null;
}

/**
 * Where usage lives. Every method is one atomic step against the store: a multi-field update is
 * never seen half-applied, and concurrent callers never lose each other's increments.
 */
export interface UsageStore {
  /** Adds prompt, completion and total tokens to a cycle in one atomic step; returns the new counters. */
  recordUsage(command: RecordUsageCommand): Promise<UsageCounters>;
  /** Reads a cycle's counters together with its cycle and standing limits, atomically. */
  readUsage(ref: CycleRef): Promise<UsageSnapshot>;
  /** Clears a cycle's counters; its limits stay. */
  resetUsage(ref: CycleRef): Promise<void>;
  /** Sets or removes a cycle override limit, or the user's standing limit. */
  setLimit(command: SetLimitCommand): Promise<void>;
  /** Releases the store's connections; the store is unusable afterwards. */
  close(): Promise<void>;
}
