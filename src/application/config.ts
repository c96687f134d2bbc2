import { assertTimeZone, CYCLE_POLICIES } from '../domain/billing-cycle.js';
import type { CycleCalendarOptions } from '../domain/billing-cycle.js';
import { ConfigError } from '../domain/errors.js';
import type { EnforcementOptions } from '../domain/limit-policy.js';
import { FAILURE_POLICIES } from '../domain/reservation.js';
import type { RedisConnectionOptions } from '../adapters/redis/redis-connection.js';

/** Which `UsageStore` backs the repository. */
export type StoreKind = 'redis' | 'memory';

/** pino log levels. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Redis connection settings. */
export interface RedisConfig extends RedisConnectionOptions {
  /** Number of connections, used round-robin (`REDIS_MAX_CONNECTIONS`). */
  readonly maxConnections: number;
  /** Retry a read once after a command timeout (`REDIS_RETRY_ON_TIMEOUT`). Writes are never retried. */
  readonly retryOnTimeout: boolean;
}

/** The complete, validated configuration. */
export interface TokenUsageConfig {
  readonly store: StoreKind;
  readonly redis: RedisConfig;
  readonly cycle: CycleCalendarOptions;
  /** Reservation leases, the idempotency window and the failure policy. */
  readonly enforcement: EnforcementOptions;
  /** First segment of every Redis key (`token_usage`, as the seed). */
  readonly keyPrefix: string;
  /** Wrap user ids in `{}` in keys, for Redis Cluster. */
  readonly hashTags: boolean;
  readonly logLevel: LogLevel;
}

/** Partial configuration; anything left out gets its default. `redis.url` wins over host/port/db. */
export interface TokenUsageConfigInput {
  readonly store?: StoreKind;
  readonly redis?: Partial<RedisConfig> & { readonly url?: string };
  readonly cycle?: Partial<CycleCalendarOptions>;
  readonly enforcement?: Partial<EnforcementOptions>;
  readonly keyPrefix?: string;
  readonly hashTags?: boolean;
  readonly logLevel?: LogLevel;
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const STORES: readonly StoreKind[] = ['redis', 'memory'];

/** The defaults: the seed's Redis on localhost:6379, monthly cycles in UTC, three cycles of retention. */
export const DEFAULT_CONFIG: TokenUsageConfig = {
  store: 'redis',
  redis: {
    host: 'localhost',
    port: 6379,
    db: 0,
    tls: false,
    connectTimeoutMs: 5_000,
    commandTimeoutMs: 3_000,
    maxConnections: 1,
    retryOnTimeout: true,
  },
  cycle: { policy: 'monthly', timeZone: 'UTC', retentionCycles: 3 },
  enforcement: { leaseMs: 300_000, dedupeWindowMs: 86_400_000, failurePolicy: 'fail-closed' },
  keyPrefix: 'token_usage',
  hashTags: false,
  logLevel: 'info',
};

/** Validates a configuration object and fills in defaults; throws `ConfigError` naming the field. */
export function resolveConfig(input: TokenUsageConfigInput = {}, names: FieldNames = FIELD_NAMES): TokenUsageConfig {
  const d = DEFAULT_CONFIG;
  const redisInput = input.redis ?? {};
  // A URL describes the whole endpoint: host, port and db come from it alone (defaults 6379 and 0).
  const endpoint =
    redisInput.url === undefined
      ? {
          host: nonEmpty(redisInput.host ?? d.redis.host, names.host),
          port: integer(redisInput.port ?? d.redis.port, names.port, 1, 65_535),
          db: integer(redisInput.db ?? d.redis.db, names.db, 0, 1_000_000),
          tls: bool(redisInput.tls ?? d.redis.tls, 'redis.tls'),
          username: redisInput.username,
          password: redisInput.password,
        }
      : endpointFromUrl(redisInput.url, redisInput, names.url);
  const redis: RedisConfig = {
    ...endpoint,
    connectTimeoutMs: integer(redisInput.connectTimeoutMs ?? d.redis.connectTimeoutMs, names.connectTimeoutMs, 1, 600_000),
    commandTimeoutMs: integer(redisInput.commandTimeoutMs ?? d.redis.commandTimeoutMs, names.commandTimeoutMs, 1, 600_000),
    maxConnections: integer(redisInput.maxConnections ?? d.redis.maxConnections, names.maxConnections, 1, 1_000),
    retryOnTimeout: bool(redisInput.retryOnTimeout ?? d.redis.retryOnTimeout, names.retryOnTimeout),
  };
  const timeZone = input.cycle?.timeZone ?? d.cycle.timeZone;
  assertTimeZone(timeZone, names.timeZone);
  const hashTags = bool(input.hashTags ?? d.hashTags, names.hashTags);
  const enforcement = input.enforcement ?? {};
  return {
    store: oneOf(input.store ?? d.store, names.store, STORES),
    redis,
    cycle: {
      policy: oneOf(input.cycle?.policy ?? d.cycle.policy, names.policy, CYCLE_POLICIES),
      timeZone,
      retentionCycles: integer(input.cycle?.retentionCycles ?? d.cycle.retentionCycles, names.retentionCycles, 0, 10_000),
    },
    enforcement: {
      leaseMs: integer(enforcement.leaseMs ?? d.enforcement.leaseMs, names.leaseMs, 1, 86_400_000),
      dedupeWindowMs: integer(
        enforcement.dedupeWindowMs ?? d.enforcement.dedupeWindowMs,
        names.dedupeWindowMs,
        1,
        30 * 86_400_000,
      ),
      failurePolicy: oneOf(enforcement.failurePolicy ?? d.enforcement.failurePolicy, names.failurePolicy, FAILURE_POLICIES),
    },
    keyPrefix: keyPrefix(input.keyPrefix ?? d.keyPrefix, names.keyPrefix),
    hashTags,
    logLevel: oneOf(input.logLevel ?? d.logLevel, names.logLevel, LOG_LEVELS),
  };
}

/** What a `ConfigError` calls each field: object paths by default, environment variables from the env. */
export interface FieldNames {
  readonly url: string;
  readonly host: string;
  readonly port: string;
  readonly db: string;
  readonly connectTimeoutMs: string;
  readonly commandTimeoutMs: string;
  readonly maxConnections: string;
  readonly retryOnTimeout: string;
  readonly store: string;
  readonly policy: string;
  readonly timeZone: string;
  readonly retentionCycles: string;
  readonly keyPrefix: string;
  readonly hashTags: string;
  readonly leaseMs: string;
  readonly dedupeWindowMs: string;
  readonly failurePolicy: string;
  readonly logLevel: string;
}

const FIELD_NAMES: FieldNames = {
  url: 'redis.url',
  host: 'redis.host',
  port: 'redis.port',
  db: 'redis.db',
  connectTimeoutMs: 'redis.connectTimeoutMs',
  commandTimeoutMs: 'redis.commandTimeoutMs',
  maxConnections: 'redis.maxConnections',
  retryOnTimeout: 'redis.retryOnTimeout',
  store: 'store',
  policy: 'cycle.policy',
  timeZone: 'cycle.timeZone',
  retentionCycles: 'cycle.retentionCycles',
  keyPrefix: 'keyPrefix',
  hashTags: 'hashTags',
  leaseMs: 'enforcement.leaseMs',
  dedupeWindowMs: 'enforcement.dedupeWindowMs',
  failurePolicy: 'enforcement.failurePolicy',
  logLevel: 'logLevel',
};

type Endpoint = Pick<RedisConfig, 'host' | 'port' | 'db' | 'tls' | 'username' | 'password'>;

/**
 * Parses `redis[s]://[user[:password]@]host[:port][/db]`. Credentials in the URL win; the given
 * username/password fill in what it lacks. Errors name `name` and never echo the URL (it may hold a
 * password).
 */
export function endpointFromUrl(
  url: string,
  fallback: { readonly username?: string | undefined; readonly password?: string | undefined },
  name: string,
): Endpoint {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(name, 'is not a valid URL (expected redis://[user:password@]host[:port][/db])');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new ConfigError(name, `must use redis:// or rediss://, not ${parsed.protocol}//`);
  }
  if (parsed.hostname === '') throw new ConfigError(name, 'has no host');
  const path = parsed.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d+$/.test(path)) throw new ConfigError(name, 'database in the path must be a number');
  const decode = (part: string, what: string): string | undefined => {
    if (part === '') return undefined;
    try {
      return decodeURIComponent(part);
    } catch {
      throw new ConfigError(name, `${what} is not correctly percent-encoded`);
    }
  };
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: integer(parsed.port === '' ? 6379 : Number(parsed.port), name, 1, 65_535),
    db: integer(path === '' ? 0 : Number(path), name, 0, 1_000_000),
    tls: parsed.protocol === 'rediss:',
    username: decode(parsed.username, 'the user name') ?? fallback.username,
    password: decode(parsed.password, 'the password') ?? fallback.password,
  };
}

function integer(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(name, `must be a whole number from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

function bool(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw new ConfigError(name, `must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

function nonEmpty(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new ConfigError(name, 'must be a non-empty string');
  return value;
}

function oneOf<T extends string>(value: unknown, name: string, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

// No braces: a brace in the prefix would become the Cluster hash tag instead of the user id.
function keyPrefix(value: unknown, name: string): string {
  if (typeof value !== 'string' || !/^[\w.:-]{1,64}$/.test(value)) {
    throw new ConfigError(name, 'must be 1-64 characters of letters, digits, _ . : -');
  }
  return value;
}
