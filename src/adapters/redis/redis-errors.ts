import { Cluster } from 'ioredis';
import type { Redis } from 'ioredis';
import { CorruptUsageDataError, StoreUnavailableError, UsageError } from '../../domain/errors.js';
import { CORRUPT_FIELD_ERROR, OVERFLOW_FIELD_ERROR } from './scripts/script.js';

/** Maps anything a Redis call threw to this package's errors. */
export function toUsageError(operation: string, error: unknown, key: string): UsageError {
  if (error instanceof UsageError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const corrupt = new RegExp(`${CORRUPT_FIELD_ERROR} (\\w+)`).exec(message);
  if (corrupt !== null) {
    const field = corrupt[1] ?? 'unknown';
    return new CorruptUsageDataError(key, field, `${key} field ${field} is not an integer from 0 to ${Number.MAX_SAFE_INTEGER}; nothing was written`, {
      cause: error,
    });
  }
  const overflow = new RegExp(`${OVERFLOW_FIELD_ERROR} (\\w+)`).exec(message);
  if (overflow !== null) {
    const field = overflow[1] ?? 'unknown';
    return new CorruptUsageDataError(key, field, `${key} field ${field} would pass ${Number.MAX_SAFE_INTEGER}; nothing was written`, {
      cause: error,
    });
  }
  if (message.includes('WRONGTYPE')) {
    return new CorruptUsageDataError(key, '*', `${key} is not a hash; nothing was written`, { cause: error });
  }
  return new StoreUnavailableError(operation, `Redis failed: ${message}`, { cause: error });
}

/**
 * As {@link toUsageError}, but a Cluster node's closed connection (a master killed or failed over) is
 * named as such: the Cluster reconnects to the new topology, so unlike a closed client it is transient.
 */
export function clientError(client: Redis | Cluster, operation: string, error: unknown, key: string): UsageError {
  if (client instanceof Cluster && client.status !== 'end' && error instanceof Error && error.message === 'Connection is closed.') {
    return new StoreUnavailableError(operation, `Redis failed: a Redis Cluster node connection closed (${error.message})`, {
      cause: error,
    });
  }
  return toUsageError(operation, error, key);
}

/** True for ioredis' command timeout, the only failure a read may be retried on. */
export function isCommandTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Command timed out';
}

const COUNTER = /^(0|[1-9]\d*)$/;

/** Parses a stored counter; absent is 0; anything but a non-negative safe integer is corrupt data. */
export function parseCounter(raw: unknown, key: string, field: string): number {
  if (raw === null || raw === undefined) return 0;
  const text = String(raw);
  const value = Number(text);
  if (!COUNTER.test(text) || !Number.isSafeInteger(value)) {
    throw new CorruptUsageDataError(
      key,
      field,
      `${key} field ${field} is not a non-negative integer: ${JSON.stringify(text)} (repair it with verifyConsistency)`,
    );
  }
  return value;
}

/** Parses a stored limit; absent or 0 means no limit (`null`); negative or non-integer is corrupt data. */
export function parseLimit(raw: unknown, key: string): number | null {
  const value = parseCounter(raw, key, 'usage_limit');
  return value === 0 ? null : value;
}
