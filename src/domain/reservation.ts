import { cycleStart } from './billing-cycle.js';
import type { CycleStart } from './billing-cycle.js';
import type { DenialReason } from './errors.js';
import { ValidationError } from './errors.js';
import { tokenCount } from './token-count.js';
import { describe, hasControlCharacters, userId } from './user-id.js';
import type { UserId } from './user-id.js';

/** What `reserve` and `canConsume` do when the store cannot be reached. */
export type FailurePolicy = 'fail-closed' | 'fail-open' | 'throw';

/** Every accepted failure policy. */
export const FAILURE_POLICIES: readonly FailurePolicy[] = ['fail-closed', 'fail-open', 'throw'];

/** A granted reservation: hand it back to `commit` or `release`. */
export interface Reservation {
  readonly id: string;
  readonly userId: UserId;
  /** The cycle the tokens are held in; `commit` records into this cycle. */
  readonly cycleStartDate: CycleStart;
  readonly tokens: number;
  /** When the lease stops counting, epoch ms (the store's clock). */
  readonly expiresAt: number;
  /** True when granted without the store under `fail-open`: nothing is held, but `commit` still records. */
  readonly degraded: boolean;
}

/** Why a reservation was granted. */
export type GrantReason = 'within-limit' | 'no-limit' | 'store-unavailable';

/** A denial, as a value. Numbers are `null` when the store could not be read. */
export interface QuotaDenial {
  readonly granted: false;
  readonly reason: DenialReason;
  readonly currentUsage: number | null;
  /** Tokens held by other live reservations. */
  readonly reserved: number | null;
  /** The effective limit (a denial for the limit always has one). */
  readonly limit: number | null;
  /** `max(0, limit - currentUsage - reserved)`. */
  readonly remaining: number | null;
}

/** The answer of `reserve`. */
export type ReserveResult =
  | { readonly granted: true; readonly reason: GrantReason; readonly reservation: Reservation }
  | QuotaDenial;

/** The read-only answer of `canConsume`. `remaining` is `Infinity` when no limit applies. */
export interface ConsumeCheck {
  readonly allowed: boolean;
  readonly reason: GrantReason | DenialReason;
  readonly currentUsage: number | null;
  readonly reserved: number | null;
  /** The effective limit; 0 when none applies, `null` when the store could not be read. */
  readonly limit: number | null;
  readonly remaining: number | null;
}

/** Usage measured after the call. `totalTokens`, when given, must be >= prompt + completion. */
export interface ActualUsage {
  readonly promptTokens?: number;
  readonly completionTokens?: number;
  readonly totalTokens?: number;
  /** Part of `promptTokens` read from a prompt cache (recorded as a detail, not added to the total). */
  readonly cacheReadTokens?: number;
  /** Part of `promptTokens` written to a prompt cache. */
  readonly cacheWriteTokens?: number;
  /** Part of `completionTokens` spent on reasoning. */
  readonly reasoningTokens?: number;
}

const MAX_RESERVATION_ID_LENGTH = 128;

/** Validates a reservation handed back by a caller; throws `ValidationError` (`USAGE.INVALID_RESERVATION`). */
export function reservationFrom(value: unknown, field = 'reservation'): Reservation {
  if (typeof value !== 'object' || value === null) {
    throw new ValidationError('USAGE.INVALID_RESERVATION', field, value, `${field} must be a reservation, got ${describe(value)}`);
  }
  const candidate = value as Record<string, unknown>;
  const id = candidate['id'];
  if (typeof id !== 'string' || id === '' || id.length > MAX_RESERVATION_ID_LENGTH || hasControlCharacters(id) || !id.isWellFormed()) {
    throw new ValidationError('USAGE.INVALID_RESERVATION', `${field}.id`, id, `${field}.id is not a reservation id`);
  }
  const expiresAt = candidate['expiresAt'];
  if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) {
    throw new ValidationError('USAGE.INVALID_RESERVATION', `${field}.expiresAt`, expiresAt, `${field}.expiresAt must be a number`);
  }
  if (typeof candidate['degraded'] !== 'boolean') {
    throw new ValidationError('USAGE.INVALID_RESERVATION', `${field}.degraded`, candidate['degraded'], `${field}.degraded must be a boolean`);
  }
  return {
    id,
    userId: userId(candidate['userId'], `${field}.userId`),
    cycleStartDate: cycleStart(candidate['cycleStartDate'], `${field}.cycleStartDate`),
    tokens: tokenCount(candidate['tokens'], `${field}.tokens`),
    expiresAt,
    degraded: candidate['degraded'],
  };
}
