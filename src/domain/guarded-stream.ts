import { QuotaExceededError, ValidationError } from './errors.js';
import { cycleStartOption, idempotencyKeyOption, integerOption, parseOptions, signalOption } from './options.js';
import { actualUsage } from './limit-policy.js';
import type { LimitPolicy } from './limit-policy.js';
import type { ActualUsage, Reservation } from './reservation.js';
import { usageSoFar } from './stream-guard.js';
import type { GuardedStream, StreamEnd, StreamGuardOptions, StreamMeter, StreamSettlement } from './stream-guard.js';
import { tokenCount } from './token-count.js';
import type { Logger } from '../ports/logger.js';

/** The options of a guarded call or stream, each with its parser (`guard` adds its result readers). */
export const GUARDED_CALL_OPTIONS = {
  estimateTokens: (value: unknown) => tokenCount(value, 'estimateTokens'),
  idempotencyKey: idempotencyKeyOption,
  cycleStartDate: cycleStartOption,
  leaseMs: integerOption(1, 86_400_000),
  signal: signalOption,
  promptTokens: (value: unknown) => tokenCount(value, 'promptTokens'),
} as const;

/** Opens the provider stream; the signal aborts the HTTP request (pass it to the SDK). */
export type StreamStart<E> = (signal: AbortSignal) => Promise<AsyncIterable<E>>;

/**
 * Reserves, opens the stream, and returns it metered: the reservation is committed exactly once, when
 * the stream completes, errors, is abandoned (`break`, `return()`) or aborted. Throws
 * `QuotaExceededError` without calling `start` when the reservation is denied.
 */
export async function guardStream<E>(
  limits: LimitPolicy,
  logger: Logger,
  user: string,
  optionsArgument: StreamGuardOptions,
  start: StreamStart<E>,
  meter: StreamMeter<E>,
): Promise<GuardedStream<E>> {
  // As `guard`'s: a plain object of known names, each of its type (a typo or a non-AbortSignal `signal` is a ValidationError).
  const parsed = parseOptions(optionsArgument, GUARDED_CALL_OPTIONS, { required: true, definedWhenPresent: ['promptTokens'] });
  const options = { ...parsed, estimateTokens: tokenCount(parsed.estimateTokens, 'estimateTokens') };
  if (typeof start !== 'function') throw new ValidationError('USAGE.INVALID_OPTION', 'start', start, 'start must be a function');
  for (const method of ['observe', 'finalUsage', 'partialUsage', 'responseId'] as const) {
    if (typeof meter?.[method] !== 'function') {
      throw new ValidationError('USAGE.INVALID_OPTION', `meter.${method}`, meter?.[method], `meter.${method} must be a function`);
    }
  }
  const estimate = options.estimateTokens;
  const localPrompt = options.promptTokens;
  options.signal?.throwIfAborted();
  const result = await limits.reserve(user, estimate, {
    ...(options.cycleStartDate === undefined ? {} : { cycleStartDate: options.cycleStartDate }),
    ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
  });
  if (!result.granted) {
    const { reason, currentUsage, reserved, limit, remaining } = result;
    throw new QuotaExceededError({ reason, currentUsage, reserved, limit, remaining, requested: estimate });
  }
  const settler = new Settler(limits, logger, result.reservation, options.idempotencyKey);
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(options.signal?.reason);
  const unlink = (): void => options.signal?.removeEventListener('abort', onAbort);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let source: AsyncIterable<E>;
  try {
    source = await start(controller.signal);
  } catch (error) {
    unlink();
    // No stream: the provider answered with an error (nothing billed), unless we aborted mid-request.
    const aborted = controller.signal.aborted || (error instanceof Error && error.name === 'AbortError');
    await settler.settle(aborted ? 'aborted' : 'error', () => (aborted && localPrompt !== undefined ? { promptTokens: localPrompt } : null));
    throw error;
  }
  return new MeteredStream(source, { meter, settler, controller, unlink, localPrompt, estimate });
}

/** Commits or releases one reservation, once; later calls get the first settlement. */
class Settler {
  readonly #limits: LimitPolicy;
  readonly #logger: Logger;
  readonly #reservation: Reservation;
  readonly #idempotencyKey: string | undefined;
  #started = false;
  #resolve!: (settlement: StreamSettlement) => void;
  /** Resolves with the one settlement; never rejects. */
  readonly done = new Promise<StreamSettlement>((resolve) => {
    this.#resolve = resolve;
  });

  constructor(limits: LimitPolicy, logger: Logger, reservation: Reservation, idempotencyKey: string | undefined) {
    this.#limits = limits;
    this.#logger = logger;
    this.#reservation = reservation;
    this.#idempotencyKey = idempotencyKey;
  }

  get started(): boolean {
    return this.#started;
  }

  /** `usage` null releases; `key` (the response id) dedupes a retried commit unless the caller gave one. */
  settle(end: StreamEnd, usage: () => ActualUsage | null, key?: () => string | undefined): Promise<StreamSettlement> {
    if (!this.#started) {
      this.#started = true;
      void this.#apply(end, usage(), this.#idempotencyKey ?? key?.()).then(this.#resolve);
    }
    return this.done;
  }

  async #apply(end: StreamEnd, usage: ActualUsage | null, key: string | undefined): Promise<StreamSettlement> {
    try {
      if (usage === null) {
        await this.#limits.release(this.#reservation);
        return { end, action: 'released' };
      }
      const outcome = await this.#limits.commit(this.#reservation, usage, key === undefined ? {} : { idempotencyKey: key });
      return { end, action: 'committed', usage, duplicate: outcome.duplicate };
    } catch (error) {
      this.#logger.error(
        { reservationId: this.#reservation.id, end, err: { message: (error as Error).message } },
        'could not settle a guarded stream; its lease expires on its own',
      );
      return { end, action: 'failed', error };
    }
  }
}

/** Per-stream facts the metered iterator needs besides the source. */
interface MeterContext<E> {
  readonly meter: StreamMeter<E>;
  readonly settler: Settler;
  readonly controller: AbortController;
  /** Unlinks the caller's signal from the controller. */
  readonly unlink: () => void;
  readonly localPrompt: number | undefined;
  readonly estimate: number;
}

class MeteredStream<E> implements GuardedStream<E>, AsyncIterator<E> {
  readonly #iterator: AsyncIterator<E>;
  readonly #context: MeterContext<E>;
  #iterating = false;

  constructor(source: AsyncIterable<E>, context: MeterContext<E>) {
    this.#iterator = source[Symbol.asyncIterator]();
    this.#context = context;
    // An abort settles at once, even while the consumer is not pulling.
    const { signal } = context.controller;
    if (signal.aborted) void this.#settle('aborted');
    else signal.addEventListener('abort', () => void this.#settle('aborted'), { once: true });
  }

  get settled(): Promise<StreamSettlement> {
    return this.#context.settler.done;
  }

  get controller(): AbortController {
    return this.#context.controller;
  }

  [Symbol.asyncIterator](): AsyncIterator<E> {
    if (this.#iterating) throw new ValidationError('USAGE.INVALID_OPTION', 'stream', 'iterated twice', 'a guarded stream can be iterated once');
    this.#iterating = true;
    return this;
  }

  async next(): Promise<IteratorResult<E>> {
    const { controller, meter } = this.#context;
    let step: IteratorResult<E>;
    try {
      controller.signal.throwIfAborted();
      step = await this.#iterator.next();
    } catch (error) {
      await this.#settle(controller.signal.aborted ? 'aborted' : 'error');
      throw error;
    }
    if (step.done === true) {
      await this.#settle('completed');
      return step;
    }
    try {
      meter.observe(step.value);
    } catch {
      // A meter that cannot read an event must not break the consumer's stream.
    }
    return step;
  }

  /** A consumer `break` (or a throw inside the loop) lands here: stop the request, charge what was used. */
  async return(value?: unknown): Promise<IteratorResult<E>> {
    const settled = this.#settle('abandoned');
    this.#context.controller.abort();
    await settled;
    try {
      await this.#iterator.return?.();
    } catch {
      // The SDK's own cleanup failing changes nothing about the charge.
    }
    return { done: true, value: value as E };
  }

  abort(reason?: unknown): Promise<StreamSettlement> {
    const settled = this.#settle('aborted');
    this.#context.controller.abort(reason);
    return settled;
  }

  #settle(end: StreamEnd): Promise<StreamSettlement> {
    this.#context.unlink();
    return this.#context.settler.settle(end, () => this.#usage(end), () => this.#context.meter.responseId());
  }

  #usage(end: StreamEnd): ActualUsage {
    const { meter, localPrompt, estimate } = this.#context;
    const final = meter.finalUsage();
    if (final !== undefined && isValid(final)) return final;
    const partial = meter.partialUsage();
    const soFar = usageSoFar(partial !== undefined && isValid(partial) ? partial : undefined, localPrompt, estimate);
    // A stream that completed without usage (e.g. include_usage off) is charged like `guard`: the estimate.
    if (end === 'completed' && partial === undefined) return { totalTokens: estimate };
    return isValid(soFar) ? soFar : { totalTokens: estimate };
  }
}

function isValid(usage: ActualUsage): boolean {
  try {
    actualUsage(usage);
    return true;
  } catch {
    return false;
  }
}
