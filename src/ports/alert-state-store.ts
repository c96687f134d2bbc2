import type { BillingCycle, CycleStart } from '../domain/billing-cycle.js';
import type { UserId } from '../domain/user-id.js';

/** Bring a cycle's claimed thresholds in line with its usage and limit. */
export interface SyncThresholdsCommand {
  readonly userId: UserId;
  readonly cycle: BillingCycle;
  /** Thresholds as parts per million of the limit (800000 = 80 %), ascending. */
  readonly thresholdsPpm: readonly number[];
}

/** What a sync found and claimed. */
export interface SyncThresholdsOutcome {
  /** Thresholds (ppm) crossed now and claimed by this call: deliver these. */
  readonly newlyCrossedPpm: readonly number[];
  readonly currentUsage: number;
  /** The effective limit, or `null` when none applies (nothing is crossed then). */
  readonly limit: number | null;
}

/** Where threshold crossings are claimed, so each fires once across processes and restarts. */
export interface AlertStateStore {
  /**
   * In one atomic step: reads usage and the effective limit, claims every crossed threshold not yet
   * claimed (returning those), and re-arms every claimed threshold that is no longer crossed.
   */
  syncThresholds(command: SyncThresholdsCommand): Promise<SyncThresholdsOutcome>;
  /**
   * The cycles of a user that have claimed thresholds (within their retention), in no particular
   * order: a standing-limit change re-checks each of them, since the limit applies to every cycle.
   */
  alertedCycles(user: UserId): Promise<CycleStart[]>;
}
