import { ValidationError } from '../../domain/errors.js';
import type { StreamStart } from '../../domain/guarded-stream.js';
import type { GuardedStream, StreamGuardOptions, StreamMeter, StreamSettlement } from '../../domain/stream-guard.js';
import type { GuardOptions } from '../../domain/usage-guard.js';

/** The part of `TokenUsageRepository` the SDK adapters use (structural, so a test double fits too). */
export interface MeteringRepository {
  guard<T>(userId: string, options: GuardOptions<T>, call: (signal: AbortSignal | undefined) => Promise<T>): Promise<T>;
  guardStream<E>(userId: string, options: StreamGuardOptions, start: StreamStart<E>, meter: StreamMeter<E>): Promise<GuardedStream<E>>;
}

/**
 * The settlement of a stream a metered SDK method returned (its declared type is the SDK's own
 * stream type), or `undefined` for anything else.
 */
export function settlementOf(stream: unknown): Promise<StreamSettlement> | undefined {
  const settled = (stream as { settled?: unknown } | null)?.settled;
  return settled instanceof Promise ? (settled as Promise<StreamSettlement>) : undefined;
}

/** An estimate of one request: the reservation is their sum, trued up by the commit. */
export interface TokenEstimate {
  /** Prompt tokens counted locally; also what an aborted stream is charged when the provider reported none. */
  readonly promptTokens: number;
  /** The most output the request can produce (its `max_tokens`-like field). */
  readonly maxOutputTokens: number;
}

/** Options every SDK adapter takes. `R` is the SDK's request body. */
export interface MeteringOptions<R> {
  readonly repo: MeteringRepository;
  /** The user every call is charged to; or use `resolveUser`. */
  readonly userId?: string;
  /** Picks the user per request (e.g. from request metadata). */
  readonly resolveUser?: (request: R) => string;
  /** Replaces the default estimate (prompt characters / 4 + the request's max output tokens). */
  readonly estimate?: (request: R) => TokenEstimate;
  /** Max output assumed when the request sets none. Default 4,096. */
  readonly defaultMaxOutputTokens?: number;
  /** The reservation's lease, in ms; make it longer than a stream can last. Default: the repository's. */
  readonly leaseMs?: number;
}

/** Max output assumed by the default estimate when a request sets none. */
export const DEFAULT_MAX_OUTPUT_TOKENS = 4_096;

/** About four characters per token for English text: an estimate, trued up by the commit. */
export function tokensOfText(characters: number): number {
  return Math.ceil(characters / 4);
}

/** Sums the length of every string in a request part (messages, system, tools), skipping `fields` names. */
export function promptCharacters(value: unknown, skip: ReadonlySet<string> = SKIPPED_FIELDS, depth = 0): number {
  if (typeof value === 'string') return value.length;
  if (depth > 32 || typeof value !== 'object' || value === null) return 0;
  let sum = 0;
  if (Array.isArray(value)) {
    for (const item of value) sum += promptCharacters(item, skip, depth + 1);
    return sum;
  }
  for (const [key, item] of Object.entries(value)) if (!skip.has(key)) sum += promptCharacters(item, skip, depth + 1);
  return sum;
}

// Structural fields that are not prompt text.
const SKIPPED_FIELDS: ReadonlySet<string> = new Set(['role', 'type', 'id', 'tool_call_id', 'mimeType', 'media_type', 'cache_control']);

/** The first count among `fields` of `request`, else `fallback`. */
export function maxOutputOf(request: Record<string, unknown>, fields: readonly string[], fallback: number): number {
  for (const field of fields) {
    const value = request[field];
    if (Number.isSafeInteger(value) && (value as number) >= 0) return value as number;
  }
  return fallback;
}

/** What an adapter call needs: the user, the estimate, the lease. Throws `ValidationError` on bad options. */
export interface CallPlan {
  readonly userId: string;
  readonly estimateTokens: number;
  readonly promptTokens: number;
  readonly leaseMs?: number;
}

/** The guard options of one planned call; `signal` (the caller's, when it gave one) aborts it. */
export function guardOptionsOf(call: CallPlan, signal: AbortSignal | null | undefined): {
  estimateTokens: number;
  promptTokens: number;
  leaseMs?: number;
  signal?: AbortSignal;
} {
  return {
    estimateTokens: call.estimateTokens,
    promptTokens: call.promptTokens,
    ...(call.leaseMs === undefined ? {} : { leaseMs: call.leaseMs }),
    ...(signal === undefined || signal === null ? {} : { signal }),
  };
}

/** Request options with the metering signal in place of the caller's (which it follows). */
export function withSignal<O extends { signal?: AbortSignal | null; [option: string]: unknown } | undefined>(
  requestOptions: O,
  signal: AbortSignal | undefined,
): O {
  return signal === undefined ? requestOptions : ({ ...requestOptions, signal } as O);
}

/**
 * Checks adapter options once, at wrap time, and returns a planner for each request. `defaultEstimate`
 * is the SDK's own default (prompt fields and max-output field names differ per SDK).
 */
export function callPlanner<R>(options: MeteringOptions<R>, defaultEstimate: (request: R, maxOutput: number) => TokenEstimate): (request: R) => CallPlan {
  if (typeof options !== 'object' || options === null) throw new ValidationError('USAGE.INVALID_OPTION', 'options', options, 'adapter options must be an object');
  const { repo, userId, resolveUser, estimate, leaseMs } = options;
  if (typeof repo?.guard !== 'function' || typeof repo.guardStream !== 'function') {
    throw new ValidationError('USAGE.INVALID_OPTION', 'repo', repo, 'repo must be a TokenUsageRepository');
  }
  if ((userId === undefined) === (resolveUser === undefined)) {
    throw new ValidationError('USAGE.INVALID_OPTION', 'userId', userId, 'give exactly one of userId and resolveUser');
  }
  if (resolveUser !== undefined && typeof resolveUser !== 'function') throw new ValidationError('USAGE.INVALID_OPTION', 'resolveUser', resolveUser, 'resolveUser must be a function');
  if (estimate !== undefined && typeof estimate !== 'function') throw new ValidationError('USAGE.INVALID_OPTION', 'estimate', estimate, 'estimate must be a function');
  const fallback = options.defaultMaxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS;
  if (!Number.isSafeInteger(fallback) || fallback < 0) {
    throw new ValidationError('USAGE.INVALID_OPTION', 'defaultMaxOutputTokens', fallback, 'defaultMaxOutputTokens must be a whole number >= 0');
  }
  return (request) => {
    const { promptTokens, maxOutputTokens } = estimate === undefined ? defaultEstimate(request, fallback) : estimate(request);
    return {
      userId: userId ?? (resolveUser as (request: R) => string)(request),
      // The repository validates both counts; a bad custom estimate is a ValidationError there.
      estimateTokens: promptTokens + maxOutputTokens,
      promptTokens,
      ...(leaseMs === undefined ? {} : { leaseMs }),
    };
  };
}

/** A stream meter's output side: counts streamed characters, so an abort is charged what was produced. */
export class OutputCounter {
  #characters = 0;

  add(text: unknown): void {
    if (typeof text === 'string') this.#characters += text.length;
  }

  get tokens(): number {
    return tokensOfText(this.#characters);
  }
}

/**
 * A view of `target` whose method at `path` (e.g. `['chat', 'completions', 'create']`) is replaced.
 * Every other member is read from the original object, and methods stay bound to it (SDK classes may
 * use private fields, which a derived `this` would break).
 */
export function overrideMethod<T extends object>(target: T, path: readonly string[], method: (...args: never[]) => unknown): T {
  const [head, ...rest] = path as [string, ...string[]];
  const replacement = rest.length === 0 ? method : overrideMethod(Reflect.get(target, head) as object, rest, method);
  return new Proxy(target, {
    get(object, property) {
      if (property === head) return replacement;
      const value: unknown = Reflect.get(object, property, object);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(object) : value;
    },
  });
}
