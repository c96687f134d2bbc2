import type { CycleCalendar } from './billing-cycle.js';
import { StoreUnavailableError, ValidationError } from './errors.js';
import { callerIdempotencyKey, reservationIdempotencyKey } from './idempotency.js';
import type { IdempotencyKey } from './idempotency.js';
import { cycleStartOption, idempotencyKeyOption, integerOption, parseOptions, readOptions, RECORD_OPTIONS } from './options.js';
import { reservationFrom } from './reservation.js';
import type { ActualUsage, ConsumeCheck, FailurePolicy, QuotaDenial, Reservation, ReserveResult } from './reservation.js';
import { tokenCount, usageLimit } from './token-count.js';
import type { TokenCount } from './token-count.js';
import { userId } from './user-id.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { ReadOptions, RecordOutcome, UsageDetails, UsageSnapshot, UsageStore } from '../ports/usage-store.js';

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

/** How reservations, idempotency and store failures behave. */
export interface EnforcementOptions {
  /** How long a reservation holds its tokens unless committed or released, in ms. */
  readonly leaseMs: number;
  /** How long an idempotency key stays claimed, in ms. */
  readonly dedupeWindowMs: number;
  /** What `reserve` and `canConsume` do when the store is unreachable. */
  readonly failurePolicy: FailurePolicy;
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

/** Options of one `reserve` call. */
export interface ReserveOptions {
  readonly cycleStartDate?: unknown;
  /** Overrides the configured lease for this reservation, in ms. */
  readonly leaseMs?: unknown;
  /**
   * Names this request, so a re-sent reserve (a lost reply, an HTTP retry) holds its tokens once: the
   * reservation id is derived from the key, and a lease the store already holds is checked as if it
   * were not there and refreshed, not held twice. The same key with other tokens, or in another cycle,
   * is another reservation (held and committed on its own).
   */
  readonly idempotencyKey?: unknown;
}

/** Sets and checks usage limits, and enforces them with atomic reservations. */
export class LimitPolicy {
  readonly #store: UsageStore;
  readonly #calendar: CycleCalendar;
  readonly #options: EnforcementOptions;
  readonly #clock: Clock;
  readonly #logger: Logger;

  constructor(store: UsageStore, calendar: CycleCalendar, options: EnforcementOptions, clock: Clock, logger: Logger) {
    this.#store = store;
    this.#calendar = calendar;
    this.#options = options;
    this.#clock = clock;
    this.#logger = logger;
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

  /**
   * Checks a user's cycle against its effective limit, from one atomic read. `allowStale` lets a
   * cache answer (dashboards); enforcement (`reserve`, `canConsume`) never reads stale.
   */
  async check(user: unknown, cycleStartDate?: unknown, options?: ReadOptions | null): Promise<LimitCheck> {
    const ref = { userId: userId(user), cycle: this.#calendar.resolve(cycleStartDate).start };
    return limitCheck(await this.#store.readUsage(ref, readOptions(options)));
  }

  /**
   * Atomically holds `tokens` if `used + reserved + tokens <= limit` (always, when no limit applies).
   * A denial is a value. When the store is unreachable, the failure policy decides.
   */
  async reserve(user: unknown, tokens: unknown, reserveOptions?: ReserveOptions | null): Promise<ReserveResult> {
    const options = parseOptions(reserveOptions, RESERVE_OPTIONS);
    const id = userId(user);
    const amount = tokenCount(tokens, 'tokens');
    const cycle = this.#calendar.resolve(options.cycleStartDate);
    const leaseMs = options.leaseMs ?? this.#options.leaseMs;
    const leaseId =
      options.idempotencyKey === undefined ? globalThis.crypto.randomUUID() : await reservationIdFor(options.idempotencyKey, cycle.start, amount);
    const lease = { id: leaseId, tokens: amount };
    let outcome;
    try {
      outcome = await this.#store.reserve({ userId: id, cycle, lease, leaseMs });
    } catch (error) {
      const decision = this.#storeFailure('reserve', error);
      if (decision === 'deny') return unavailableDenial();
      const reservation: Reservation = {
        id: lease.id,
        userId: id,
        cycleStartDate: cycle.start,
        tokens: amount,
        expiresAt: this.#clock.now() + leaseMs,
        degraded: true,
      };
      return { granted: true, reason: 'store-unavailable', reservation };
    }
    const { currentUsage, reservedTokens, limit } = outcome;
    if (!outcome.granted) {
      return {
        granted: false,
        reason: 'limit-exceeded',
        currentUsage,
        reserved: reservedTokens,
        limit,
        remaining: limit === null ? null : Math.max(0, limit - currentUsage - reservedTokens),
      };
    }
    const reservation: Reservation = {
      id: lease.id,
      userId: id,
      cycleStartDate: cycle.start,
      tokens: amount,
      expiresAt: outcome.expiresAt,
      degraded: false,
    };
    return { granted: true, reason: limit === null ? 'no-limit' : 'within-limit', reservation };
  }

  /**
   * Records the actual usage into the reservation's cycle and frees its lease in one atomic step.
   * Usage above the estimate is recorded as it is. Committing the same reservation again, or
   * reusing `idempotencyKey` within the dedupe window, changes nothing and reports `duplicate`.
   */
  async commit(
    handle: unknown,
    usage: ActualUsage,
    commitOptions?: { idempotencyKey?: unknown } | null,
  ): Promise<RecordOutcome> {
    const options = parseOptions(commitOptions, RECORD_OPTIONS);
    const reservation = reservationFrom(handle);
    const { prompt, completion, total, details } = actualUsage(usage);
    const keys: IdempotencyKey[] = [reservationIdempotencyKey(reservation.id)];
    const callerKey = callerIdempotencyKey(options.idempotencyKey);
    if (callerKey !== undefined) keys.push(callerKey);
    return this.#store.recordUsage({
      userId: reservation.userId,
      cycle: { start: reservation.cycleStartDate, retainUntil: this.#calendar.retainUntil(reservation.cycleStartDate) },
      promptTokens: prompt,
      completionTokens: completion,
      otherTokens: (total - prompt - completion) as TokenCount,
      idempotencyKeys: keys,
      dedupeWindowMs: this.#options.dedupeWindowMs,
      releaseLease: reservation.degraded ? null : { id: reservation.id, tokens: reservation.tokens as TokenCount },
      rollupDay: this.#calendar.rollupDay(reservation.cycleStartDate),
      ...(details === undefined ? {} : { details }),
    });
  }

  /** Frees a reservation without usage. False when it was already gone (expired, committed, released). */
  async release(handle: unknown): Promise<boolean> {
    const reservation = reservationFrom(handle);
    if (reservation.degraded) return false;
    return this.#store.releaseLease({
      userId: reservation.userId,
      cycle: reservation.cycleStartDate,
      lease: { id: reservation.id, tokens: reservation.tokens as TokenCount },
    });
  }

  /**
   * Would `requestedTokens` fit now, counting outstanding reservations? Read-only: it holds nothing,
   * so use `reserve` when the answer must stay true until the call is made.
   */
  async canConsume(user: unknown, requestedTokens: unknown, cycleStartDate?: unknown): Promise<ConsumeCheck> {
    const ref = { userId: userId(user), cycle: this.#calendar.resolve(cycleStartDate).start };
    const requested = tokenCount(requestedTokens, 'requestedTokens');
    let snapshot: UsageSnapshot;
    try {
      snapshot = await this.#store.readUsage(ref);
    } catch (error) {
      const allowed = this.#storeFailure('canConsume', error) === 'allow';
      return { allowed, reason: 'store-unavailable', currentUsage: null, reserved: null, limit: null, remaining: null };
    }
    const limit = effectiveLimit(snapshot);
    const used = snapshot.totalTokens;
    const reserved = snapshot.reservedTokens;
    if (limit === null) {
      return { allowed: true, reason: 'no-limit', currentUsage: used, reserved, limit: 0, remaining: Number.POSITIVE_INFINITY };
    }
    const allowed = used + reserved + requested <= limit;
    return {
      allowed,
      reason: allowed ? 'within-limit' : 'limit-exceeded',
      currentUsage: used,
      reserved,
      limit,
      remaining: Math.max(0, limit - used - reserved),
    };
  }

  /** Applies the failure policy: rethrows anything but an unreachable store, and under `throw`. */
  #storeFailure(operation: string, error: unknown): 'allow' | 'deny' {
    const policy = this.#options.failurePolicy;
    if (!(error instanceof StoreUnavailableError) || policy === 'throw') throw error;
    const fields = { operation, failurePolicy: policy, err: { code: error.code, message: error.message } };
    if (policy === 'fail-open') {
      this.#logger.warn(fields, 'usage store unavailable: allowing without a quota check (fail-open)');
      return 'allow';
    }
    this.#logger.warn(fields, 'usage store unavailable: denying (fail-closed)');
    return 'deny';
  }
}

function unavailableDenial(): QuotaDenial {
  return { granted: false, reason: 'store-unavailable', currentUsage: null, reserved: null, limit: null, remaining: null };
}

/** The options of `reserve`: a per-call lease is a whole number of ms from 1 ms to 24 h. */
const RESERVE_OPTIONS = {
  cycleStartDate: cycleStartOption,
  leaseMs: integerOption(1, 86_400_000),
  idempotencyKey: idempotencyKeyOption,
};

/**
 * The reservation id of an idempotent reserve: 'idem-' and the SHA-256 (hex) of the cycle, the tokens
 * and the key, never a random id's shape. The same request again gets the same id; the same key with
 * other tokens or in another cycle is another reservation with its own commit (its own idempotency
 * key), so neither commit is taken for a duplicate of the other.
 */
async function reservationIdFor(key: string, cycle: string, tokens: number): Promise<string> {
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(`${cycle}\u0000${tokens}\u0000${key}`)));
  return `idem-${Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}

/**
 * Validates measured usage; the total defaults to prompt + completion and may not be below it. The
 * details (cache read/write, reasoning) are parts: cache read + write <= prompt, reasoning <= completion.
 */
export function actualUsage(value: ActualUsage | unknown): { prompt: TokenCount; completion: TokenCount; total: TokenCount; details?: UsageDetails } {
  const usage = parseOptions(value, USAGE_FIELDS, {
    field: 'usage',
    required: true,
    code: 'USAGE.INVALID_TOKEN_COUNT',
    definedWhenPresent: Object.keys(USAGE_FIELDS),
  });
  const prompt = usage.promptTokens ?? (0 as TokenCount);
  const completion = usage.completionTokens ?? (0 as TokenCount);
  const sum = prompt + completion;
  const total = usage.totalTokens ?? sum;
  if (!Number.isSafeInteger(sum) || total < sum) {
    throw new ValidationError(
      'USAGE.INVALID_TOKEN_COUNT',
      'totalTokens',
      total,
      `totalTokens must be at least promptTokens + completionTokens (${sum}) and at most ${Number.MAX_SAFE_INTEGER}`,
    );
  }
  const details = usageDetails(usage, prompt, completion);
  return details === undefined ? { prompt, completion, total: total as TokenCount } : { prompt, completion, total: total as TokenCount, details };
}

function usageDetails(usage: ActualUsage, prompt: number, completion: number): UsageDetails | undefined {
  const part = (value: unknown, field: string): number => (value === undefined ? 0 : tokenCount(value, field));
  const cacheReadTokens = part(usage.cacheReadTokens, 'cacheReadTokens');
  const cacheWriteTokens = part(usage.cacheWriteTokens, 'cacheWriteTokens');
  const reasoningTokens = part(usage.reasoningTokens, 'reasoningTokens');
  if (cacheReadTokens + cacheWriteTokens > prompt) {
    throw new ValidationError(
      'USAGE.INVALID_TOKEN_COUNT',
      'cacheReadTokens',
      usage.cacheReadTokens,
      `cacheReadTokens + cacheWriteTokens (${cacheReadTokens + cacheWriteTokens}) must not exceed promptTokens (${prompt})`,
    );
  }
  if (reasoningTokens > completion) {
    throw new ValidationError(
      'USAGE.INVALID_TOKEN_COUNT',
      'reasoningTokens',
      usage.reasoningTokens,
      `reasoningTokens (${reasoningTokens}) must not exceed completionTokens (${completion})`,
    );
  }
  if (cacheReadTokens + cacheWriteTokens + reasoningTokens === 0) return undefined;
  return { cacheReadTokens, cacheWriteTokens, reasoningTokens };
}

/** The fields of measured usage: a misspelled field (e.g. a provider's `prompt_tokens`) is an error, never 0. */
const USAGE_FIELDS = {
  promptTokens: tokenCount,
  completionTokens: tokenCount,
  totalTokens: tokenCount,
  cacheReadTokens: tokenCount,
  cacheWriteTokens: tokenCount,
  reasoningTokens: tokenCount,
};
