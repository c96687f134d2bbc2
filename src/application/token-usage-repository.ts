import { QuotaExceededError, UsageError, ValidationError } from '../domain/errors.js';
import type { LimitCheck, LimitPolicy } from '../domain/limit-policy.js';
import type { ActualUsage, ConsumeCheck, Reservation, ReserveResult } from '../domain/reservation.js';
import type { RecordUsageInput, UsageAccounting } from '../domain/usage-accounting.js';
import type { GuardOptions, UsageGuard } from '../domain/usage-guard.js';
import type { Logger } from '../ports/logger.js';
import type { RecordOutcome, UsageCounters, UsageStore } from '../ports/usage-store.js';

/** What the facade delegates to. */
export interface TokenUsageServices {
  readonly accounting: UsageAccounting;
  readonly limits: LimitPolicy;
  readonly guard: UsageGuard;
  readonly store: UsageStore;
  readonly logger: Logger;
}

/** Options of a recording call. */
export interface RecordOptions {
  /** E.g. the provider's response id: repeating it within the dedupe window changes nothing. */
  readonly idempotencyKey?: string;
}

/** Options of `reserve`. */
export interface ReserveCallOptions {
  readonly cycleStartDate?: string;
  /** Overrides the configured lease for this reservation, in ms. */
  readonly leaseMs?: number;
}

/**
 * The seed-compatible API: the Python `TokenUsageRepository`'s eight methods in camelCase, with the
 * same argument order, plus quota enforcement (`reserve` / `commit` / `release`, `canConsume`,
 * `guard`). `cycleStartDate` (`YYYY-MM-DD`) is optional everywhere; without it the configured cycle
 * policy picks the current cycle.
 */
export class TokenUsageRepository {
  #services: TokenUsageServices | undefined;
  readonly #resolve: (() => TokenUsageServices) | undefined;

  /** Takes ready services, or a function that builds them on first use (a lazy instance). */
  constructor(services: TokenUsageServices | (() => TokenUsageServices)) {
    if (typeof services === 'function') this.#resolve = services;
    else this.#services = services;
  }

  /** Adds prompt tokens (and the same to the total). `null` when the count is 0 (nothing to do). */
  incrementPromptTokens(
    userId: string,
    promptTokens: number,
    cycleStartDate?: string,
    options?: RecordOptions,
  ): Promise<RecordOutcome | null> {
    return this.#record('incrementPromptTokens', { userId, promptTokens, cycleStartDate }, options);
  }

  /** Adds completion tokens (and the same to the total). */
  incrementCompletionTokens(
    userId: string,
    completionTokens: number,
    cycleStartDate?: string,
    options?: RecordOptions,
  ): Promise<RecordOutcome | null> {
    return this.#record('incrementCompletionTokens', { userId, completionTokens, cycleStartDate }, options);
  }

  /** Adds tokens to the total only, for usage that is not broken down into prompt and completion. */
  incrementTotalUsage(
    userId: string,
    totalTokens: number,
    cycleStartDate?: string,
    options?: RecordOptions,
  ): Promise<RecordOutcome | null> {
    return this.#record('incrementTotalUsage', { userId, unattributedTokens: totalTokens, cycleStartDate }, options);
  }

  /** Adds prompt and completion tokens, and their sum to the total, in one atomic step. */
  incrementDetailedUsage(
    userId: string,
    promptTokens: number,
    completionTokens: number,
    cycleStartDate?: string,
    options?: RecordOptions,
  ): Promise<RecordOutcome | null> {
    return this.#record('incrementDetailedUsage', { userId, promptTokens, completionTokens, cycleStartDate }, options);
  }

  /** The user's counters for the cycle; zeros when nothing was recorded. Throws when the store fails. */
  getUsageStats(userId: string, cycleStartDate?: string): Promise<UsageCounters> {
    return this.#run('getUsageStats', (s) => s.accounting.stats(userId, cycleStartDate));
  }

  /** Clears the user's counters for the cycle; limits and outstanding reservations stay. */
  resetUsage(userId: string, cycleStartDate?: string): Promise<void> {
    return this.#run('resetUsage', (s) => s.accounting.reset(userId, cycleStartDate));
  }

  /** Without a date: the standing limit for every cycle. With one: an override for that cycle. 0 removes. */
  setUsageLimit(userId: string, limit: number, cycleStartDate?: string): Promise<void> {
    return this.#run('setUsageLimit', (s) => s.limits.setLimit(userId, limit, cycleStartDate));
  }

  /** Compares the cycle's total with its effective limit (cycle override, else standing, else none). */
  checkUsageLimit(userId: string, cycleStartDate?: string): Promise<LimitCheck> {
    return this.#run('checkUsageLimit', (s) => s.limits.check(userId, cycleStartDate));
  }

  /** Atomically holds `tokens` under the effective limit; a denial is a value, not an exception. */
  reserve(userId: string, tokens: number, options: ReserveCallOptions = {}): Promise<ReserveResult> {
    return this.#run('reserve', (s) => s.limits.reserve(userId, tokens, options));
  }

  /** Records the actual usage of a reservation and frees it, atomically and at most once. */
  commit(reservation: Reservation, usage: ActualUsage, options: RecordOptions = {}): Promise<RecordOutcome> {
    return this.#run('commit', (s) => s.limits.commit(reservation, usage, options));
  }

  /** Frees a reservation without usage; false when it was already gone. */
  release(reservation: Reservation): Promise<boolean> {
    return this.#run('release', (s) => s.limits.release(reservation));
  }

  /** Would `requestedTokens` fit now, counting outstanding reservations? Read-only (the seed's `check_and_enforce_limit`). */
  canConsume(userId: string, requestedTokens: number, cycleStartDate?: string): Promise<ConsumeCheck> {
    return this.#run('canConsume', (s) => s.limits.canConsume(userId, requestedTokens, cycleStartDate));
  }

  /** Reserve, run `call`, commit the usage its result reports; release on failure. See `UsageGuard`. */
  guard<T>(userId: string, options: GuardOptions<T>, call: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
    return this.#run('guard', (s) => s.guard.run(userId, options, call));
  }

  /** Closes the store's connections. A lazy instance that never connected has nothing to close. */
  async close(): Promise<void> {
    await this.#services?.store.close();
  }

  #record(
    operation: string,
    input: RecordUsageInput,
    options: RecordOptions | undefined,
  ): Promise<RecordOutcome | null> {
    const withKey = options?.idempotencyKey === undefined ? input : { ...input, idempotencyKey: options.idempotencyKey };
    return this.#run(operation, (s) => s.accounting.record(withKey));
  }

  async #run<T>(operation: string, action: (services: TokenUsageServices) => Promise<T>): Promise<T> {
    const services = this.#services ?? (this.#services = (this.#resolve as () => TokenUsageServices)());
    try {
      return await action(services);
    } catch (error) {
      if (error instanceof ValidationError) {
        services.logger.debug({ operation, code: error.code, field: error.field }, 'rejected invalid input');
      } else if (error instanceof QuotaExceededError) {
        services.logger.debug({ operation, reason: error.reason }, 'quota exceeded');
      } else if (error instanceof UsageError || operation !== 'guard') {
        // A guarded call's own errors are the caller's business; ours and unexpected ones are logged.
        const { code, name, message } = error as { code?: string; name?: string; message?: string };
        services.logger.error({ operation, err: { code, name, message } }, 'token usage operation failed');
      }
      throw error;
    }
  }
}
