/** A Lua script loaded with ioredis `defineCommand` under a versioned name. */
export interface RedisScript {
  /** Versioned command name: change the version whenever the Lua changes. */
  readonly name: string;
  readonly numberOfKeys: number;
  readonly lua: string;
}

/** The error prefix scripts use for a counter that is not an integer; the field name follows. */
export const CORRUPT_FIELD_ERROR = 'TUR_CORRUPT';

/** The error prefix scripts use when a write would push a counter past 2^53 - 1; the field name follows. */
export const OVERFLOW_FIELD_ERROR = 'TUR_OVERFLOW';
