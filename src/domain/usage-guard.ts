import { QuotaExceededError, ValidationError } from './errors.js';
import { functionOption, parseOptions } from './options.js';
import type { ParsedOptions } from './options.js';
import { actualUsage } from './limit-policy.js';
import type { LimitPolicy } from './limit-policy.js';
import type { ActualUsage, Reservation } from './reservation.js';
import { tokenCount } from './token-count.js';
import type { TokenCount } from './token-count.js';
import { defaultUsageExtractor } from './usage-extractor.js';
import type { UsageExtractor } from './usage-extractor.js';
import { callerIdempotencyKey } from './idempotency.js';
import { GUARDED_CALL_OPTIONS, guardStream } from './guarded-stream.js';
import type { StreamStart } from './guarded-stream.js';
import type { GuardedStream, StreamGuardOptions, StreamMeter } from './stream-guard.js';
import type { Logger } from '../ports/logger.js';

/** Options of one guarded call. */
export interface GuardOptions<T> {
  /** Tokens to reserve before the call: an upper estimate of prompt + completion. */
  readonly estimateTokens: number;
  /** E.g. a request id: a retried guard with the same key records the usage once. */
  readonly idempotencyKey?: string;
  readonly cycleStartDate?: string;
  /** Overrides the configured lease, in ms: make it longer than the call can take. */
  readonly leaseMs?: number;
  /** Aborts the call; passed to it. An aborted call commits `promptTokens` when given, else releases. */
  readonly signal?: AbortSignal;
  /** Prompt tokens known before the call (e.g. counted locally), committed if the call is aborted. */
  readonly promptTokens?: number;
  /** Reads usage from the result. Default: {@link defaultUsageExtractor}. */
  readonly extractUsage?: UsageExtractor<T>;
  /** Reads an idempotency key from the result (e.g. the provider's response id) when none was given. */
  readonly idempotencyKeyFrom?: (result: T) => string | undefined;
}

const GUARD_OPTIONS = {
  ...GUARDED_CALL_OPTIONS,
  extractUsage: functionOption,
  idempotencyKeyFrom: functionOption,
} as const;

/**
 * Validates guard options (a plain object, known names, each of its type); throws `ValidationError`.
 * `estimateTokens` is required.
 */
export function guardOptions(value: unknown): ParsedOptions<typeof GUARD_OPTIONS> & { readonly estimateTokens: TokenCount } {
  const options = parseOptions(value, GUARD_OPTIONS, { required: true, definedWhenPresent: ['promptTokens'] });
  return { ...options, estimateTokens: tokenCount(options.estimateTokens, 'estimateTokens') };
}

/**
 * Wraps an LLM call in reserve → call → commit, releasing on failure, so usage is enforced atomically
 * and recorded exactly once.
 */
export class UsageGuard {
  readonly #limits: LimitPolicy;
  readonly #logger: Logger;

  constructor(limits: LimitPolicy, logger: Logger) {
    this.#limits = limits;
    this.#logger = logger;
  }

  /**
   * Reserves `estimateTokens`, runs `call`, and commits the usage its result reports (the estimate,
   * as total tokens, when the extractor cannot tell). Throws `QuotaExceededError` without calling when
   * the reservation is denied; rethrows the call's error after releasing the reservation.
   */
  async run<T>(
    user: string,
    guardOptionsArgument: GuardOptions<T>,
    call: (signal: AbortSignal | undefined) => Promise<T>,
  ): Promise<T> {
    // Everything is validated before the reservation: nothing may fail after the call has been made.
    const options = guardOptions(guardOptionsArgument);
    if (typeof call !== 'function') throw new ValidationError('USAGE.INVALID_OPTION', 'call', call, 'call must be a function');
    const estimate = options.estimateTokens;
    const knownPrompt = options.promptTokens;
    options.signal?.throwIfAborted();
    const result = await this.#limits.reserve(user, estimate, {
      ...(options.cycleStartDate === undefined ? {} : { cycleStartDate: options.cycleStartDate }),
      ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
    });
    if (!result.granted) {
      const { reason, currentUsage, reserved, limit, remaining } = result;
      throw new QuotaExceededError({ reason, currentUsage, reserved, limit, remaining, requested: estimate });
    }
    const { reservation } = result;
    let value: T;
    try {
      value = await call(options.signal);
    } catch (error) {
      const aborted = options.signal?.aborted === true || (error instanceof Error && error.name === 'AbortError');
      if (aborted && knownPrompt !== undefined) {
        const commitOptions = options.idempotencyKey === undefined ? {} : { idempotencyKey: options.idempotencyKey };
        await this.#settle(reservation, () => this.#limits.commit(reservation, { promptTokens: knownPrompt }, commitOptions));
      } else {
        await this.#settle(reservation, () => this.#limits.release(reservation));
      }
      throw error;
    }

    const extract = (options.extractUsage as UsageExtractor<T> | undefined) ?? (defaultUsageExtractor as UsageExtractor<T>);
    const usage = this.#measure(value, extract, estimate);
    const keyFrom = options.idempotencyKeyFrom as ((result: T) => string | undefined) | undefined;
    const key = options.idempotencyKey ?? this.#resultKey(value, keyFrom);
    const commitOptions = key === undefined ? {} : { idempotencyKey: key };
    // If this throws (store down), the lease keeps holding the estimate until it expires, and a retry
    // with the same idempotency key cannot count the usage twice.
    await this.#limits.commit(reservation, usage, commitOptions);
    return value;
  }

  /**
   * Reserves `estimateTokens`, opens the stream with `start`, and returns it metered by `meter`: the
   * usage is committed exactly once when the stream completes, errors, is abandoned or aborted. See
   * {@link guardStream} and the charging policy in {@link usageSoFar}.
   */
  stream<E>(user: string, options: StreamGuardOptions, start: StreamStart<E>, meter: StreamMeter<E>): Promise<GuardedStream<E>> {
    return guardStream(this.#limits, this.#logger, user, options, start, meter);
  }

  /** The call's usage, or the estimate as total tokens when the extractor cannot tell or reports nonsense. */
  #measure<T>(value: T, extract: UsageExtractor<T>, estimate: number): ActualUsage {
    try {
      const usage = extract(value);
      if (usage !== undefined) {
        actualUsage(usage); // validates; throws ValidationError on nonsense
        return usage;
      }
      this.#logger.warn({ estimateTokens: estimate }, 'no usage in the call result; charging the estimate');
    } catch (error) {
      this.#logger.warn({ err: { message: (error as Error).message } }, 'unusable usage in the call result; charging the estimate');
    }
    return { totalTokens: estimate };
  }

  /** The result's idempotency key, when it has a valid one; a bad one is ignored (the reservation id still dedupes). */
  #resultKey<T>(value: T, keyFrom: ((result: T) => string | undefined) | undefined): string | undefined {
    if (keyFrom === undefined) return undefined;
    try {
      const key = keyFrom(value);
      callerIdempotencyKey(key);
      return key;
    } catch {
      return undefined;
    }
  }

  /** Commits or releases after a failed call; a failure here is logged, never hides the call's error. */
  async #settle(reservation: Reservation, settle: () => Promise<unknown>): Promise<void> {
    try {
      await settle();
    } catch (error) {
      this.#logger.error(
        { reservationId: reservation.id, err: { message: (error as Error).message } },
        'could not settle the reservation of a failed call; its lease expires on its own',
      );
    }
  }
}
