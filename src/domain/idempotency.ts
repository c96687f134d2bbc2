import { ValidationError } from './errors.js';
import { describe, hasControlCharacters } from './user-id.js';

/** A namespaced idempotency key as the store claims it: `c:` for a caller's key, `r:` for a reservation's. */
export type IdempotencyKey = string & { readonly __brand: 'IdempotencyKey' };

/** Longest accepted caller idempotency key. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 256;

/**
 * Validates a caller's idempotency key (e.g. the provider's response id); throws `ValidationError`
 * (`USAGE.INVALID_IDEMPOTENCY_KEY`). `undefined` means "none".
 */
export function callerIdempotencyKey(value: unknown, field = 'idempotencyKey'): IdempotencyKey | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw new ValidationError(
      'USAGE.INVALID_IDEMPOTENCY_KEY',
      field,
      value,
      `${field} must be a string of 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters, got ${
        typeof value === 'string' ? `${value.length} characters` : describe(value)
      }`,
    );
  }
  if (hasControlCharacters(value)) {
    throw new ValidationError('USAGE.INVALID_IDEMPOTENCY_KEY', field, value, `${field} must not contain control characters`);
  }
  if (!value.isWellFormed()) {
    // Keys are hashed as UTF-8, where every unpaired surrogate becomes U+FFFD: such keys would collide.
    throw new ValidationError('USAGE.INVALID_IDEMPOTENCY_KEY', field, value, `${field} must be well-formed UTF-16 (no unpaired surrogate)`);
  }
  return `c:${value}` as IdempotencyKey;
}

/** The key that makes a reservation's commit count once, however often it is repeated. */
export function reservationIdempotencyKey(reservationId: string): IdempotencyKey {
  return `r:${reservationId}` as IdempotencyKey;
}

/**
 * A fresh key for one logical write that the caller gave no key for (`g:` namespace), so retries of
 * that write (a retrying decorator, a buffered flush) can never count it twice.
 */
export function generatedIdempotencyKey(): IdempotencyKey {
  return `g:${globalThis.crypto.randomUUID()}` as IdempotencyKey;
}
