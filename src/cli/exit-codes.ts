import { ConfigError, CorruptUsageDataError, StoreUnavailableError, ValidationError } from '../domain/errors.js';

/** The `token-usage` exit codes (README "Admin CLI"). */
export const EXIT = {
  /** Done; for `check`, within the limit; for `verify`, nothing left inconsistent. */
  ok: 0,
  /** A negative answer: `check` is over the limit (or the tokens would not fit); `verify` left findings. */
  negative: 1,
  /** Bad arguments or options: nothing was written. */
  usage: 2,
  /** Redis unreachable or timed out: a write may or may not have been applied (never twice). */
  unavailable: 3,
  /** A stored counter is corrupt: nothing was written (see `verify --repair`). */
  corrupt: 4,
  /** A bad environment variable (configuration). */
  config: 5,
  /** Anything else: a bug. */
  internal: 70,
} as const;

/** The exit code for an error a command threw. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof ValidationError || error instanceof UsageArgumentError) return EXIT.usage;
  if (error instanceof StoreUnavailableError) return EXIT.unavailable;
  if (error instanceof CorruptUsageDataError) return EXIT.corrupt;
  if (error instanceof ConfigError) return EXIT.config;
  return EXIT.internal;
}

/** A bad argument found by the CLI itself (before the library sees it). */
export class UsageArgumentError extends Error {
  override readonly name = 'UsageArgumentError';
}
