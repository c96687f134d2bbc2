import type { CycleStart } from '../domain/billing-cycle.js';
import type { UserId } from '../domain/user-id.js';
import type { UsageCounters } from './usage-store.js';

/** One day of a cycle's daily rollup: the usage recorded into the cycle on that (local) day. */
export interface DailyUsage extends UsageCounters {
  readonly day: CycleStart;
}

/**
 * Reads the daily rollups that the record step writes beside each cycle's counters (in the same
 * atomic step, so a cycle's days always sum to its counters).
 */
export interface UsageHistoryStore {
  /** Per cycle, in the order asked, the days with usage in date order; one round trip for all of them. */
  readDailyUsage(userId: UserId, cycles: readonly CycleStart[]): Promise<DailyUsage[][]>;
}
