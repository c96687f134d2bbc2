import type { CycleCalendar } from './billing-cycle.js';
import { ValidationError } from './errors.js';
import { tokenCount } from './token-count.js';
import type { TokenCount } from './token-count.js';
import { userId } from './user-id.js';
import type { UsageCounters, UsageStore } from '../ports/usage-store.js';

/** Usage to record; unvalidated input straight from the caller. */
export interface RecordUsageInput {
  readonly userId: unknown;
  readonly promptTokens?: unknown;
  readonly completionTokens?: unknown;
  /** Tokens added to the total only, when the caller cannot break them down. */
  readonly unattributedTokens?: unknown;
  readonly cycleStartDate?: unknown;
}

/** Records and reads token usage per user and billing cycle. */
export class UsageAccounting {
  readonly #store: UsageStore;
  readonly #calendar: CycleCalendar;

  constructor(store: UsageStore, calendar: CycleCalendar) {
    this.#store = store;
    this.#calendar = calendar;
  }

  /**
   * Validates everything, then adds the counts in one atomic store step. Returns the new counters, or
   * `null` when every count is 0 (a valid no-op that does not touch the store).
   */
  async record(input: RecordUsageInput): Promise<UsageCounters | null> {
    const user = userId(input.userId);
    const prompt = tokenCount(input.promptTokens ?? 0, 'promptTokens');
    const completion = tokenCount(input.completionTokens ?? 0, 'completionTokens');
    const unattributed = tokenCount(input.unattributedTokens ?? 0, 'totalTokens');
    const cycle = this.#calendar.resolve(input.cycleStartDate);
    const total = prompt + completion + unattributed;
    if (!Number.isSafeInteger(total)) {
      throw new ValidationError(
        'USAGE.INVALID_TOKEN_COUNT',
        'totalTokens',
        total,
        `the tokens of one record must add up to at most ${Number.MAX_SAFE_INTEGER}`,
      );
    }
    if (total === 0) return null;
    return this.#store.recordUsage({
      userId: user,
      cycle,
      promptTokens: prompt,
      completionTokens: completion,
      totalTokens: total as TokenCount,
    });
  }

  /** The counters of a user's cycle (zeros when nothing was recorded). */
  async stats(user: unknown, cycleStartDate?: unknown): Promise<UsageCounters> {
    const ref = { userId: userId(user), cycle: this.#calendar.resolve(cycleStartDate).start };
    const { promptTokens, completionTokens, totalTokens } = await this.#store.readUsage(ref);
    return { promptTokens, completionTokens, totalTokens };
  }

  /** Clears a user's counters for a cycle; limits are kept. */
  async reset(user: unknown, cycleStartDate?: unknown): Promise<void> {
    const ref = { userId: userId(user), cycle: this.#calendar.resolve(cycleStartDate).start };
    await this.#store.resetUsage(ref);
  }
}
