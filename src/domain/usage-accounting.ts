import type { CycleCalendar } from './billing-cycle.js';
import { ValidationError } from './errors.js';
import { tokenCount } from './token-count.js';
import type { TokenCount } from './token-count.js';
import { userId } from './user-id.js';
import { callerIdempotencyKey } from './idempotency.js';
import type { ReadOptions, RecordOutcome, RecordUsageCommand, UsageCounters, UsageStore } from '../ports/usage-store.js';

/** Usage to record; unvalidated input straight from the caller. */
export interface RecordUsageInput {
  readonly userId: unknown;
  readonly promptTokens?: unknown;
  readonly completionTokens?: unknown;
  /** Tokens added to the total only, when the caller cannot break them down. */
  readonly unattributedTokens?: unknown;
  readonly cycleStartDate?: unknown;
  /** E.g. the provider's response id: a repeat within the dedupe window changes nothing. */
  readonly idempotencyKey?: unknown;
}

/** Records and reads token usage per user and billing cycle. */
export class UsageAccounting {
  readonly #store: UsageStore;
  readonly #calendar: CycleCalendar;
  readonly #dedupeWindowMs: number;

  constructor(store: UsageStore, calendar: CycleCalendar, options: { readonly dedupeWindowMs: number }) {
    this.#store = store;
    this.#calendar = calendar;
    this.#dedupeWindowMs = options.dedupeWindowMs;
  }

  /**
   * Validates everything, then adds the counts (and claims the idempotency key) in one atomic store
   * step. Returns what the store did, or `null` when every count is 0 (a valid no-op that does not
   * touch the store).
   */
  async record(input: RecordUsageInput): Promise<RecordOutcome | null> {
    const command = this.prepare(input);
    return command === null ? null : this.#store.recordUsage(command);
  }

  /**
   * Validates a record and builds the store command, without writing: `null` when every count is 0.
   * Throws `ValidationError` on bad input. (The buffered recorder uses this, then writes in batches.)
   */
  prepare(input: RecordUsageInput): RecordUsageCommand | null {
    const user = userId(input.userId);
    const idempotencyKey = callerIdempotencyKey(input.idempotencyKey);
    const count = (value: unknown, field: string): TokenCount => tokenCount(value === undefined ? 0 : value, field);
    const prompt = count(input.promptTokens, 'promptTokens');
    const completion = count(input.completionTokens, 'completionTokens');
    const unattributed = count(input.unattributedTokens, 'totalTokens');
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
    return {
      userId: user,
      cycle,
      promptTokens: prompt,
      completionTokens: completion,
      otherTokens: unattributed,
      idempotencyKeys: idempotencyKey === undefined ? [] : [idempotencyKey],
      dedupeWindowMs: this.#dedupeWindowMs,
      releaseLease: null,
      rollupDay: this.#calendar.rollupDay(cycle.start),
    };
  }

  /** How long idempotency keys stay claimed, in ms. */
  get dedupeWindowMs(): number {
    return this.#dedupeWindowMs;
  }

  /** The counters of a user's cycle (zeros when nothing was recorded). `allowStale` lets a cache answer. */
  async stats(user: unknown, cycleStartDate?: unknown, options: ReadOptions = {}): Promise<UsageCounters> {
    const ref = { userId: userId(user), cycle: this.#calendar.resolve(cycleStartDate).start };
    const { promptTokens, completionTokens, totalTokens } = await this.#store.readUsage(ref, options);
    return { promptTokens, completionTokens, totalTokens };
  }

  /** Clears a user's counters for a cycle; limits are kept. */
  async reset(user: unknown, cycleStartDate?: unknown): Promise<void> {
    const ref = { userId: userId(user), cycle: this.#calendar.resolve(cycleStartDate).start };
    await this.#store.resetUsage(ref);
  }
}
