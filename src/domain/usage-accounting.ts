import type { CycleCalendar } from './billing-cycle.js';
import { ValidationError } from './errors.js';
import { tokenCount } from './token-count.js';
import type { TokenCount } from './token-count.js';
import { userId } from './user-id.js';
import { callerIdempotencyKey } from './idempotency.js';
import { cycleStartOption, idempotencyKeyOption, parseOptions, readOptions } from './options.js';
import type { ReadOptions, RecordOutcome, RecordUsageCommand, UsageCounters, UsageDetails, UsageStore } from '../ports/usage-store.js';

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

/** The fields of a record's input; a count that is present must be a number (never `undefined` as 0). */
const RECORD_INPUT = {
  userId,
  promptTokens: (value: unknown) => tokenCount(value, 'promptTokens'),
  completionTokens: (value: unknown) => tokenCount(value, 'completionTokens'),
  // Recorded as the total only; named after the facade argument it comes from.
  unattributedTokens: (value: unknown) => tokenCount(value, 'totalTokens'),
  cycleStartDate: cycleStartOption,
  idempotencyKey: idempotencyKeyOption,
} as const;
const COUNT_FIELDS = ['promptTokens', 'completionTokens', 'unattributedTokens'];

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
    const fields = parseOptions(input, RECORD_INPUT, { field: 'input', required: true, definedWhenPresent: COUNT_FIELDS });
    const user = userId(fields.userId);
    const idempotencyKey = callerIdempotencyKey(fields.idempotencyKey);
    const zero = 0 as TokenCount;
    const prompt = fields.promptTokens ?? zero;
    const completion = fields.completionTokens ?? zero;
    const unattributed = fields.unattributedTokens ?? zero;
    const cycle = this.#calendar.resolve(fields.cycleStartDate);
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
  async stats(user: unknown, cycleStartDate?: unknown, options?: ReadOptions | null): Promise<UsageCounters> {
    const ref = { userId: userId(user), cycle: this.#calendar.resolve(cycleStartDate).start };
    const snapshot = await this.#store.readUsage(ref, readOptions(options));
    const { promptTokens, completionTokens, totalTokens } = snapshot;
    const details: { -readonly [K in keyof UsageDetails]: number } = {};
    // Details appear only when recorded, so plain usage reads as the Python original's three fields.
    for (const name of ['cacheReadTokens', 'cacheWriteTokens', 'reasoningTokens'] as const) {
      const value = snapshot[name];
      if (value !== undefined && value !== 0) details[name] = value;
    }
    return { promptTokens, completionTokens, totalTokens, ...details };
  }

  /** Clears a user's counters for a cycle; limits are kept. */
  async reset(user: unknown, cycleStartDate?: unknown): Promise<void> {
    const ref = { userId: userId(user), cycle: this.#calendar.resolve(cycleStartDate).start };
    await this.#store.resetUsage(ref);
  }
}
