import { ValidationError } from '../domain/errors.js';
import type { LimitCheck, LimitPolicy } from '../domain/limit-policy.js';
import type { UsageAccounting } from '../domain/usage-accounting.js';
import type { Logger } from '../ports/logger.js';
import type { UsageCounters, UsageStore } from '../ports/usage-store.js';

/** What the facade delegates to. */
export interface TokenUsageServices {
  readonly accounting: UsageAccounting;
  readonly limits: LimitPolicy;
  readonly store: UsageStore;
  readonly logger: Logger;
}

/**
 * The seed-compatible API: the Python `TokenUsageRepository`'s eight methods in camelCase, with the
 * same argument order. `cycleStartDate` (`YYYY-MM-DD`) is optional everywhere; without it the
 * configured cycle policy picks the current cycle.
 */
export class TokenUsageRepository {
  #services: TokenUsageServices | undefined;
  readonly #resolve: (() => TokenUsageServices) | undefined;

  /** Takes ready services, or a function that builds them on first use (a lazy instance). */
  constructor(services: TokenUsageServices | (() => TokenUsageServices)) {
    if (typeof services === 'function') this.#resolve = services;
    else this.#services = services;
  }

  /** Adds prompt tokens (and the same to the total). */
  incrementPromptTokens(userId: string, promptTokens: number, cycleStartDate?: string): Promise<void> {
    return this.#record('incrementPromptTokens', { userId, promptTokens, cycleStartDate });
  }

  /** Adds completion tokens (and the same to the total). */
  incrementCompletionTokens(userId: string, completionTokens: number, cycleStartDate?: string): Promise<void> {
    return this.#record('incrementCompletionTokens', { userId, completionTokens, cycleStartDate });
  }

  /** Adds tokens to the total only, for usage that is not broken down into prompt and completion. */
  incrementTotalUsage(userId: string, totalTokens: number, cycleStartDate?: string): Promise<void> {
    return this.#record('incrementTotalUsage', { userId, unattributedTokens: totalTokens, cycleStartDate });
  }

  /** Adds prompt and completion tokens, and their sum to the total, in one atomic step. */
  incrementDetailedUsage(
    userId: string,
    promptTokens: number,
    completionTokens: number,
    cycleStartDate?: string,
  ): Promise<void> {
    return this.#record('incrementDetailedUsage', { userId, promptTokens, completionTokens, cycleStartDate });
  }

  /** The user's counters for the cycle; zeros when nothing was recorded. Throws when the store fails. */
  getUsageStats(userId: string, cycleStartDate?: string): Promise<UsageCounters> {
    return this.#run('getUsageStats', (s) => s.accounting.stats(userId, cycleStartDate));
  }

  /** Clears the user's counters for the cycle; limits stay. */
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

  /** Closes the store's connections. A lazy instance that never connected has nothing to close. */
  async close(): Promise<void> {
    await this.#services?.store.close();
  }

  async #record(operation: string, input: Parameters<UsageAccounting['record']>[0]): Promise<void> {
    await this.#run(operation, (s) => s.accounting.record(input));
  }

  async #run<T>(operation: string, action: (services: TokenUsageServices) => Promise<T>): Promise<T> {
    const services = this.#services ?? (this.#services = (this.#resolve as () => TokenUsageServices)());
    try {
      return await action(services);
    } catch (error) {
      if (error instanceof ValidationError) {
        services.logger.debug({ operation, code: error.code, field: error.field }, 'rejected invalid input');
      } else {
        const { code, name, message } = error as { code?: string; name?: string; message?: string };
        services.logger.error({ operation, err: { code, name, message } }, 'token usage operation failed');
      }
      throw error;
    }
  }
}
