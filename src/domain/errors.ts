/** Every error code this package throws. */
export type UsageErrorCode =
  | 'USAGE.INVALID_USER_ID'
  | 'USAGE.INVALID_TOKEN_COUNT'
  | 'USAGE.INVALID_LIMIT'
  | 'USAGE.INVALID_CYCLE_DATE'
  | 'USAGE.INVALID_IDEMPOTENCY_KEY'
  | 'USAGE.INVALID_RESERVATION'
  | 'USAGE.INVALID_OPTION'
  | 'USAGE.QUOTA_EXCEEDED'
  | 'USAGE.INVALID_CONFIG'
  | 'USAGE.STORE_UNAVAILABLE'
  | 'USAGE.CORRUPT_DATA';

/** Base class of every error this package throws; `code` is stable, `message` is for humans. */
export class UsageError extends Error {
  readonly code: UsageErrorCode;

  constructor(code: UsageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Bad input from the caller. Nothing was written. `field` names the offending argument. */
export class ValidationError extends UsageError {
  readonly field: string;
  readonly value: unknown;

  constructor(code: UsageErrorCode, field: string, value: unknown, message: string) {
    super(code, message);
    this.field = field;
    this.value = value;
  }
}

/** A configuration value (usually an environment variable) is invalid. `variable` names it. */
export class ConfigError extends UsageError {
  readonly variable: string;

  constructor(variable: string, message: string, options?: { cause?: unknown }) {
    super('USAGE.INVALID_CONFIG', `${variable}: ${message}`, options);
    this.variable = variable;
  }
}

/** The store could not be reached or did not answer in time. The operation's outcome is unknown for writes. */
export class StoreUnavailableError extends UsageError {
  readonly operation: string;

  constructor(operation: string, message: string, options?: { cause?: unknown }) {
    super('USAGE.STORE_UNAVAILABLE', `${operation}: ${message}`, options);
    this.operation = operation;
  }
}

/** Stored data is not what this package writes (e.g. a non-integer counter). Nothing was written. */
export class CorruptUsageDataError extends UsageError {
  readonly key: string;
  readonly field: string;

  constructor(key: string, field: string, message: string, options?: { cause?: unknown }) {
    super('USAGE.CORRUPT_DATA', message, options);
    this.key = key;
    this.field = field;
  }
}

/** Why a quota check said no: the limit, or an unreachable store under the `fail-closed` policy. */
export type DenialReason = 'limit-exceeded' | 'store-unavailable';

/** Thrown by `guard` when the reservation is denied; carries the numbers of the denial. */
export class QuotaExceededError extends UsageError {
  readonly reason: DenialReason;
  readonly currentUsage: number | null;
  readonly reserved: number | null;
  readonly limit: number | null;
  readonly remaining: number | null;
  readonly requested: number;

  constructor(
    details: {
      reason: DenialReason;
      currentUsage: number | null;
      reserved: number | null;
      limit: number | null;
      remaining: number | null;
      requested: number;
    },
    options?: { cause?: unknown },
  ) {
    super(
      'USAGE.QUOTA_EXCEEDED',
      details.reason === 'limit-exceeded'
        ? `quota exceeded: ${details.requested} tokens requested, ${details.remaining} of ${details.limit} remaining (${details.currentUsage} used, ${details.reserved} reserved)`
        : `quota not checked: the usage store is unavailable and the failure policy is fail-closed`,
      options,
    );
    this.reason = details.reason;
    this.currentUsage = details.currentUsage;
    this.reserved = details.reserved;
    this.limit = details.limit;
    this.remaining = details.remaining;
    this.requested = details.requested;
  }
}

/** Type guard for any error thrown by this package, optionally of one code. */
export function isUsageError(error: unknown, code?: UsageErrorCode): error is UsageError {
  return error instanceof UsageError && (code === undefined || error.code === code);
}
