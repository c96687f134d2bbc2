import { ValidationError } from './errors.js';

/**
 * A validated user id: a non-empty, well-formed (no unpaired surrogate) string of at most 256
 * characters with no control characters.
 */
export type UserId = string & { readonly __brand: 'UserId' };

/** Longest accepted user id, in UTF-16 code units. */
export const MAX_USER_ID_LENGTH = 256;

// C0 controls, DEL and C1 controls: they break logs, key listings and terminals.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/u;

/** True when the text holds a control character (C0, DEL or C1). */
export function hasControlCharacters(value: string): boolean {
  return CONTROL_CHARACTERS.test(value);
}

/** Validates a user id; throws `ValidationError` (`USAGE.INVALID_USER_ID`) on bad input. */
export function userId(value: unknown, field = 'userId'): UserId {
  if (typeof value !== 'string') {
    throw new ValidationError('USAGE.INVALID_USER_ID', field, value, `${field} must be a string, got ${describe(value)}`);
  }
  if (value.length === 0) {
    throw new ValidationError('USAGE.INVALID_USER_ID', field, value, `${field} must not be empty`);
  }
  if (value.length > MAX_USER_ID_LENGTH) {
    throw new ValidationError(
      'USAGE.INVALID_USER_ID',
      field,
      value,
      `${field} must be at most ${MAX_USER_ID_LENGTH} characters, got ${value.length}`,
    );
  }
  if (hasControlCharacters(value)) {
    throw new ValidationError('USAGE.INVALID_USER_ID', field, value, `${field} must not contain control characters`);
  }
  if (!value.isWellFormed()) {
    // Redis keys are UTF-8: every unpaired surrogate encodes as U+FFFD, so such ids would collide.
    throw new ValidationError('USAGE.INVALID_USER_ID', field, value, `${field} must be well-formed UTF-16 (no unpaired surrogate)`);
  }
  return value as UserId;
}

/** A short, log-safe description of an unexpected value's type. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}
