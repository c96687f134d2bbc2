import { ValidationError } from './errors.js';
import type { UsageErrorCode } from './errors.js';
import { describe } from './user-id.js';

/** A validated, non-negative safe integer number of tokens. */
export type TokenCount = number & { readonly __brand: 'TokenCount' };

/** A validated usage limit in tokens; 0 means "no limit". */
export type UsageLimit = number & { readonly __brand: 'UsageLimit' };

function nonNegativeSafeInteger(code: UsageErrorCode, field: string, value: unknown, what: string): number {
  if (typeof value !== 'number') {
    throw new ValidationError(code, field, value, `${field} must be a number of ${what}, got ${describe(value)}`);
  }
  if (!Number.isFinite(value)) {
    throw new ValidationError(code, field, value, `${field} must be finite, got ${value}`);
  }
  if (!Number.isInteger(value)) {
    throw new ValidationError(code, field, value, `${field} must be a whole number of ${what}, got ${value}`);
  }
  if (value < 0) {
    throw new ValidationError(code, field, value, `${field} must not be negative, got ${value}`);
  }
  if (!Number.isSafeInteger(value)) {
    throw new ValidationError(code, field, value, `${field} must be at most ${Number.MAX_SAFE_INTEGER}, got ${value}`);
  }
  return value === 0 ? 0 : value; // folds -0 into 0
}

/** Validates a token count; throws `ValidationError` (`USAGE.INVALID_TOKEN_COUNT`). 0 is valid. */
export function tokenCount(value: unknown, field = 'tokens'): TokenCount {
  return nonNegativeSafeInteger('USAGE.INVALID_TOKEN_COUNT', field, value, 'tokens') as TokenCount;
}

/** Validates a usage limit; throws `ValidationError` (`USAGE.INVALID_LIMIT`). 0 removes the limit. */
export function usageLimit(value: unknown, field = 'limit'): UsageLimit {
  return nonNegativeSafeInteger('USAGE.INVALID_LIMIT', field, value, 'tokens') as UsageLimit;
}
