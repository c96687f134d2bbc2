import type { CycleCalendar, CycleStart } from './billing-cycle.js';
import { ValidationError } from './errors.js';
import { tokenCount } from './token-count.js';
import type { TokenCount } from './token-count.js';
import { userId } from './user-id.js';
import type { UserId } from './user-id.js';
import { callerIdempotencyKey } from './idempotency.js';
import type { IdempotencyKey } from './idempotency.js';
import { cycleStartOption, idempotencyKeyOption, parseOptions, readOptions } from './options.js';
import { validatedRecordCommand } from './validated-command.js';
import { RECORD_NOW, recordsNow } from './synchronous-record.js';
import type { RecordsNow } from './synchronous-record.js';
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
const PREPARE_SETTINGS = { field: 'input', required: true, definedWhenPresent: COUNT_FIELDS } as const;
const NO_KEYS: readonly IdempotencyKey[] = Object.freeze([]);

/** The facade's entry for a record it built from positional arguments (see `UsageAccounting[RECORD_ARGUMENTS]`). */
export const RECORD_ARGUMENTS: unique symbol = Symbol('token-usage-repository/recordArguments');

/** Records and reads token usage per user and billing cycle. */
export class UsageAccounting {
  readonly #store: UsageStore;
  readonly #calendar: CycleCalendar;
  readonly #dedupeWindowMs: number;
  readonly #recordsNow: RecordsNow | undefined;
  /** The calendar's reading the last command was built at. */
  #builtAt = 0;

  constructor(store: UsageStore, calendar: CycleCalendar, options: { readonly dedupeWindowMs: number }) {
    this.#store = store;
    this.#recordsNow = recordsNow(store);
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
   * The command is frozen and marked as validated, so the store does not check it again.
   */
  prepare(input: RecordUsageInput): RecordUsageCommand | null {
    const f = parseOptions(input, RECORD_INPUT, PREPARE_SETTINGS);
    return this.#command(f.userId, f.promptTokens, f.completionTokens, f.unattributedTokens, f.cycleStartDate, f.idempotencyKey);
  }

  /**
   * For the facade, which has the fields of a record as its positional arguments: `record` of the
   * input those fields make, with the same checks in the same order, without building and re-reading
   * an input object. A count the facade method does not name is passed as 0 (what its absence means);
   * one it names is checked even when `undefined` (a missing argument is an error, never 0). Throws
   * `ValidationError` synchronously; `null` when every count is 0. The outcome itself when the store
   * records synchronously (see `RECORD_NOW`; its errors are thrown then). Keyed by a symbol the
   * package does not export, so callers outside it always go through `record`'s full checks.
   */
  [RECORD_ARGUMENTS](
    rawUser: unknown,
    rawPrompt: unknown,
    rawCompletion: unknown,
    rawUnattributed: unknown,
    rawDate: unknown,
    rawKey: unknown,
  ): Promise<RecordOutcome> | RecordOutcome | null {
    // Mirrors parseOptions over RECORD_INPUT: fields in spec order, the counts always, any other field
    // when it is not `undefined`.
    const user = rawUser === undefined ? undefined : userId(rawUser, 'userId');
    const prompt = tokenCount(rawPrompt, 'promptTokens');
    const completion = tokenCount(rawCompletion, 'completionTokens');
    const unattributed = tokenCount(rawUnattributed, 'totalTokens');
    const cycleDate = rawDate === undefined ? undefined : cycleStartOption(rawDate, 'cycleStartDate');
    const key = rawKey === undefined ? undefined : idempotencyKeyOption(rawKey, 'idempotencyKey');
    const command = this.#command(user, prompt, completion, unattributed, cycleDate, key);
    if (command === null) return null;
    if (this.#recordsNow === undefined) return this.#store.recordUsage(command);
    // Nothing ran since #command read the clock for the cycle: the store may take that reading.
    return this.#recordsNow[RECORD_NOW](command, this.#calendar.clock, this.#builtAt);
  }

  /** The command of validated fields (`undefined` when absent); the user id and the key are checked here. */
  #command(
    user: UserId | undefined,
    prompt: TokenCount = 0 as TokenCount,
    completion: TokenCount = 0 as TokenCount,
    unattributed: TokenCount = 0 as TokenCount,
    cycleStartDate: CycleStart | undefined,
    key: string | undefined,
  ): RecordUsageCommand | null {
    const validUser = user ?? userId(user); // absent: the error a missing user id gets
    const idempotencyKey = callerIdempotencyKey(key);
    const now = this.#calendar.now(); // one clock read for the cycle, its retention and the rollup day
    this.#builtAt = now;
    const cycle = this.#calendar.resolve(cycleStartDate, now);
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
    return validatedRecordCommand({
      userId: validUser,
      cycle,
      promptTokens: prompt,
      completionTokens: completion,
      otherTokens: unattributed,
      idempotencyKeys: idempotencyKey === undefined ? NO_KEYS : Object.freeze([idempotencyKey]),
      dedupeWindowMs: this.#dedupeWindowMs,
      releaseLease: null,
      rollupDay: this.#calendar.rollupDay(cycle.start, now),
    });
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
