import type { CycleCalendar } from './billing-cycle.js';
import { usageLimit } from './token-count.js';
import { userId } from './user-id.js';
import type { UsageSnapshot, UsageStore } from '../ports/usage-store.js';

/** The answer of a limit check (the seed's `check_usage_limit`). */
export interface LimitCheck {
  /** True when a limit applies and current usage has reached it. */
  readonly exceeded: boolean;
  /** The cycle's total tokens. */
  readonly currentUsage: number;
  /** The effective limit, or 0 when none applies. */
  readonly limit: number;
  /** `max(0, limit - currentUsage)`, or `Infinity` when no limit applies. */
  readonly remaining: number;
}

/** The limit that applies to a cycle: its own override, else the standing limit, else none (`null`). */
export function effectiveLimit(snapshot: Pick<UsageSnapshot, 'cycleLimit' | 'standingLimit'>): number | null {
  return snapshot.cycleLimit ?? snapshot.standingLimit;
}

/** Computes a {@link LimitCheck} from one snapshot. */
export function limitCheck(snapshot: UsageSnapshot): LimitCheck {
  const limit = effectiveLimit(snapshot);
  const currentUsage = snapshot.totalTokens;
  if (limit === null) {
    return { exceeded: false, currentUsage, limit: 0, remaining: Number.POSITIVE_INFINITY };
  }
  return { exceeded: currentUsage >= limit, currentUsage, limit, remaining: Math.max(0, limit - currentUsage) };
}

/** Sets and checks usage limits. */
export class LimitPolicy {
  readonly #store: UsageStore;
  readonly #calendar: CycleCalendar;

  constructor(store: UsageStore, calendar: CycleCalendar) {
    this.#store = store;
    this.#calendar = calendar;
  }

  /**
   * Without a date, sets the user's standing limit for every cycle; with one, overrides that cycle
   * only. A limit of 0 removes the limit at that level.
   */
  async setLimit(user: unknown, limit: unknown, cycleStartDate?: unknown): Promise<void> {
    const id = userId(user);
    const value = usageLimit(limit);
    const cycle = cycleStartDate === undefined || cycleStartDate === null ? null : this.#calendar.resolve(cycleStartDate);
    await this.#store.setLimit({ userId: id, limit: value, cycle });
  }

  /** Checks a user's cycle against its effective limit, from one atomic read. */
  async check(user: unknown, cycleStartDate?: unknown): Promise<LimitCheck> {
    const ref = { userId: userId(user), cycle: this.#calendar.resolve(cycleStartDate).start };
    return limitCheck(await this.#store.readUsage(ref));
  }
}
