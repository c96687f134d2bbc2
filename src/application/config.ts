import { assertTimeZone, CYCLE_POLICIES } from '../domain/billing-cycle.js';
import type { CycleCalendarOptions } from '../domain/billing-cycle.js';
import { ConfigError } from '../domain/errors.js';
import type { EnforcementOptions } from '../domain/limit-policy.js';
import { FAILURE_POLICIES } from '../domain/reservation.js';
import { alertThresholds, DEFAULT_ALERT_THRESHOLDS } from '../domain/alert-monitor.js';
import type { AlertThreshold } from '../domain/alert-monitor.js';

/** Threshold alerts. */
export interface AlertsConfig {
  /** Check thresholds after every record (one more round trip each). Default false. */
  readonly enabled: boolean;
  readonly thresholds: readonly AlertThreshold[];
  /** POST each alert here (JSON), when set. */
  readonly webhookUrl?: string | undefined;
  /** Sign webhook bodies with HMAC-SHA256 when set. */
  readonly webhookSecret?: string | undefined;
}

/** The buffered recorder. */
export interface BufferConfig {
  /** Also flush when this many records are buffered (the seed's `TOKEN_STATS_BATCH_SIZE`; default 1,000,000, see `BufferedRecorderOptions`). */
  readonly maxBatchRecords: number;
  readonly flushIntervalMs: number;
  /** Most buffered entries before `record()` waits (the memory bound). */
  readonly highWaterMark: number;
  /** How long a flushed sum's generated idempotency key stays claimed (see `BufferedRecorderOptions`). */
  readonly keyWindowMs: number;
}

/** The retrying decorator; `attempts` 1 turns it off. */
export interface RetryConfig {
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/** The caching decorator; `ttlMs` 0 turns it off. */
export interface CacheConfig {
  readonly ttlMs: number;
  readonly maxEntries: number;
}
import type { ClusterSeed, RedisConnectionOptions } from '../adapters/redis/redis-connection.js';
import { clusterSeeds } from './cluster-config.js';

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
  /**
   * Seed nodes of a Redis Cluster (`REDIS_CLUSTER_NODES`); when given, the store connects to the
   * Cluster (one ioredis `Cluster`; host/port/db/url are not used) and `hashTags` must be on.
   */
  readonly clusterNodes: readonly ClusterSeed[];
  /**
   * Acknowledge a write only after this many replicas confirmed it (`WAIT`; `TOKEN_STATS_MIN_REPLICAS_ACK`),
   * so a failover keeps it. Default 0 (off: Redis replicates asynchronously).
   */
  readonly minReplicasAck: number;
  /** How long a write waits for those replicas (`TOKEN_STATS_REPLICA_ACK_TIMEOUT_MS`); below the command timeout. */
  readonly replicaAckTimeoutMs: number;
}

/** The complete, validated configuration. */
export interface TokenUsageConfig {
  readonly store: StoreKind;
  readonly redis: RedisConfig;
  readonly cycle: CycleCalendarOptions;
  /** Reservation leases, the idempotency window and the failure policy. */
  readonly enforcement: EnforcementOptions;
  readonly alerts: AlertsConfig;
  readonly buffer: BufferConfig;
  readonly retry: RetryConfig;
  readonly cache: CacheConfig;
  /** A health check that takes longer reports `unhealthy`. */
  readonly healthTimeoutMs: number;
  /** First segment of every Redis key (`token_usage`, as the seed). */
  readonly keyPrefix: string;
  /** Wrap user ids in `{}` in keys, for Redis Cluster. */
  readonly hashTags: boolean;
  readonly logLevel: LogLevel;
}

/** Partial configuration; anything left out gets its default. `redis.url` wins over host/port/db. */
export interface TokenUsageConfigInput {
  readonly store?: StoreKind;
  readonly redis?: Partial<Omit<RedisConfig, 'clusterNodes'>> & {
    readonly url?: string;
    readonly clusterNodes?: readonly (ClusterSeed | string)[] | string;
  };
  readonly cycle?: Partial<CycleCalendarOptions>;
  readonly enforcement?: Partial<EnforcementOptions>;
  readonly alerts?: Partial<AlertsConfig>;
  readonly buffer?: Partial<BufferConfig>;
  readonly retry?: Partial<RetryConfig>;
  readonly cache?: Partial<CacheConfig>;
  readonly healthTimeoutMs?: number;
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
    clusterNodes: [],
    minReplicasAck: 0,
    replicaAckTimeoutMs: 1_000,
  },
  cycle: { policy: 'monthly', timeZone: 'UTC', retentionCycles: 3 },
  enforcement: { leaseMs: 300_000, dedupeWindowMs: 86_400_000, failurePolicy: 'fail-closed' },
  alerts: { enabled: false, thresholds: DEFAULT_ALERT_THRESHOLDS },
  buffer: { maxBatchRecords: 1_000_000, flushIntervalMs: 1_000, highWaterMark: 50_000, keyWindowMs: 3_600_000 },
  retry: { attempts: 1, baseDelayMs: 50, maxDelayMs: 2_000 },
  cache: { ttlMs: 0, maxEntries: 10_000 },
  healthTimeoutMs: 2_000,
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
    clusterNodes: clusterSeeds(redisInput.clusterNodes, names.clusterNodes),
    minReplicasAck: integer(redisInput.minReplicasAck ?? d.redis.minReplicasAck, names.minReplicasAck, 0, 100),
    replicaAckTimeoutMs: integer(redisInput.replicaAckTimeoutMs ?? d.redis.replicaAckTimeoutMs, names.replicaAckTimeoutMs, 1, 600_000),
  };
  if (redis.minReplicasAck > 0 && redis.replicaAckTimeoutMs >= redis.commandTimeoutMs) {
    throw new ConfigError(names.replicaAckTimeoutMs, `must be below the command timeout (${redis.commandTimeoutMs} ms)`);
  }
  const timeZone = input.cycle?.timeZone ?? d.cycle.timeZone;
  assertTimeZone(timeZone, names.timeZone);
  const hashTags = bool(input.hashTags ?? d.hashTags, names.hashTags);
  if (redis.clusterNodes.length > 0 && !hashTags) {
    throw new ConfigError(names.hashTags, 'must be on with Redis Cluster nodes (each script needs its keys in one slot)');
  }
  const enforcement = input.enforcement ?? {};
  const alerts = input.alerts ?? {};
  const buffer = input.buffer ?? {};
  const retry = input.retry ?? {};
  const cache = input.cache ?? {};
  const webhookUrl = alerts.webhookUrl === undefined ? undefined : httpUrl(alerts.webhookUrl, names.webhookUrl);
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
    alerts: {
      enabled: bool(alerts.enabled ?? (webhookUrl !== undefined || d.alerts.enabled), names.alertsEnabled),
      thresholds: alertThresholds(alerts.thresholds ?? d.alerts.thresholds, names.alertThresholds),
      webhookUrl,
      webhookSecret: alerts.webhookSecret,
    },
    buffer: {
      maxBatchRecords: integer(buffer.maxBatchRecords ?? d.buffer.maxBatchRecords, names.batchSize, 1, 100_000_000),
      flushIntervalMs: integer(buffer.flushIntervalMs ?? d.buffer.flushIntervalMs, names.flushIntervalMs, 1, 3_600_000),
      highWaterMark: integer(buffer.highWaterMark ?? d.buffer.highWaterMark, names.highWaterMark, 1, 10_000_000),
      keyWindowMs: integer(buffer.keyWindowMs ?? d.buffer.keyWindowMs, names.bufferKeyWindowMs, 1_000, 30 * 86_400_000),
    },
    retry: retryConfig(retry, names),
    cache: {
      ttlMs: integer(cache.ttlMs ?? d.cache.ttlMs, names.cacheTtlMs, 0, 86_400_000),
      maxEntries: integer(cache.maxEntries ?? d.cache.maxEntries, names.cacheMaxEntries, 1, 10_000_000),
    },
    healthTimeoutMs: integer(input.healthTimeoutMs ?? d.healthTimeoutMs, names.healthTimeoutMs, 1, 600_000),
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
  readonly clusterNodes: string;
  readonly minReplicasAck: string;
  readonly replicaAckTimeoutMs: string;
  readonly store: string;
  readonly policy: string;
  readonly timeZone: string;
  readonly retentionCycles: string;
  readonly keyPrefix: string;
  readonly hashTags: string;
  readonly leaseMs: string;
  readonly dedupeWindowMs: string;
  readonly failurePolicy: string;
  readonly alertsEnabled: string;
  readonly alertThresholds: string;
  readonly webhookUrl: string;
  readonly batchSize: string;
  readonly flushIntervalMs: string;
  readonly highWaterMark: string;
  readonly bufferKeyWindowMs: string;
  readonly retryAttempts: string;
  readonly retryBaseDelayMs: string;
  readonly retryMaxDelayMs: string;
  readonly cacheTtlMs: string;
  readonly cacheMaxEntries: string;
  readonly healthTimeoutMs: string;
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
  clusterNodes: 'redis.clusterNodes',
  minReplicasAck: 'redis.minReplicasAck',
  replicaAckTimeoutMs: 'redis.replicaAckTimeoutMs',
  store: 'store',
  policy: 'cycle.policy',
  timeZone: 'cycle.timeZone',
  retentionCycles: 'cycle.retentionCycles',
  keyPrefix: 'keyPrefix',
  hashTags: 'hashTags',
  leaseMs: 'enforcement.leaseMs',
  dedupeWindowMs: 'enforcement.dedupeWindowMs',
  failurePolicy: 'enforcement.failurePolicy',
  alertsEnabled: 'alerts.enabled',
  alertThresholds: 'alerts.thresholds',
  webhookUrl: 'alerts.webhookUrl',
  batchSize: 'buffer.maxBatchRecords',
  flushIntervalMs: 'buffer.flushIntervalMs',
  highWaterMark: 'buffer.highWaterMark',
  bufferKeyWindowMs: 'buffer.keyWindowMs',
  retryAttempts: 'retry.attempts',
  retryBaseDelayMs: 'retry.baseDelayMs',
  retryMaxDelayMs: 'retry.maxDelayMs',
  cacheTtlMs: 'cache.ttlMs',
  cacheMaxEntries: 'cache.maxEntries',
  healthTimeoutMs: 'healthTimeoutMs',
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

function retryConfig(retry: Partial<RetryConfig>, names: FieldNames): RetryConfig {
  const d = DEFAULT_CONFIG.retry;
  const maxDelayMs = integer(retry.maxDelayMs ?? d.maxDelayMs, names.retryMaxDelayMs, 1, 600_000);
  return {
    attempts: integer(retry.attempts ?? d.attempts, names.retryAttempts, 1, 100),
    baseDelayMs: integer(retry.baseDelayMs ?? Math.min(d.baseDelayMs, maxDelayMs), names.retryBaseDelayMs, 1, maxDelayMs),
    maxDelayMs,
  };
}

/** An http(s) URL; the error never echoes it (it may carry credentials). */
function httpUrl(value: unknown, name: string): string {
  let parsed: URL;
  try {
    parsed = new URL(String(value));
  } catch {
    throw new ConfigError(name, 'is not a valid URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new ConfigError(name, 'must be an http:// or https:// URL');
  return parsed.toString();
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

// No braces (a brace would become the Cluster hash tag) and no ':' (prefix "a" with user "b:x" would
// collide with prefix "a:b" with user "x").
function keyPrefix(value: unknown, name: string): string {
  if (typeof value !== 'string' || !/^[\w.-]{1,64}$/.test(value)) {
    throw new ConfigError(name, 'must be 1-64 characters of letters, digits, _ . - (no : or braces)');
  }
  return value;
}
