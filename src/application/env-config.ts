import { ConfigError } from '../domain/errors.js';
import { resolveConfig } from './config.js';
import type { FieldNames, LogLevel, StoreKind, TokenUsageConfig, TokenUsageConfigInput } from './config.js';
import type { CyclePolicy } from '../domain/billing-cycle.js';
import type { FailurePolicy } from '../domain/reservation.js';
import type { AlertThreshold } from '../domain/alert-monitor.js';
import type { AlertLevel } from '../ports/alert-sink.js';

/** The environment variables read by {@link configFromEnv}. */
export const ENV_NAMES: FieldNames & {
  readonly password: string;
  readonly username: string;
  readonly webhookSecret: string;
} = {
  webhookSecret: 'TOKEN_STATS_ALERT_WEBHOOK_SECRET',
  url: 'REDIS_URL',
  host: 'REDIS_HOST',
  port: 'REDIS_PORT',
  db: 'REDIS_DB',
  password: 'REDIS_PASSWORD',
  username: 'REDIS_USERNAME',
  connectTimeoutMs: 'REDIS_CONNECT_TIMEOUT_MS',
  commandTimeoutMs: 'REDIS_COMMAND_TIMEOUT_MS',
  maxConnections: 'REDIS_MAX_CONNECTIONS',
  retryOnTimeout: 'REDIS_RETRY_ON_TIMEOUT',
  clusterNodes: 'REDIS_CLUSTER_NODES',
  minReplicasAck: 'TOKEN_STATS_MIN_REPLICAS_ACK',
  replicaAckTimeoutMs: 'TOKEN_STATS_REPLICA_ACK_TIMEOUT_MS',
  store: 'TOKEN_STATS_STORE',
  policy: 'TOKEN_STATS_DEFAULT_CYCLE',
  timeZone: 'TOKEN_STATS_TIMEZONE',
  retentionCycles: 'TOKEN_STATS_RETENTION_CYCLES',
  keyPrefix: 'TOKEN_STATS_KEY_PREFIX',
  hashTags: 'TOKEN_STATS_HASH_TAGS',
  leaseMs: 'TOKEN_STATS_LEASE_MS',
  dedupeWindowMs: 'TOKEN_STATS_DEDUPE_WINDOW_MS',
  failurePolicy: 'TOKEN_STATS_FAILURE_POLICY',
  alertsEnabled: 'TOKEN_STATS_ALERTS',
  alertThresholds: 'TOKEN_STATS_ALERT_THRESHOLDS',
  webhookUrl: 'TOKEN_STATS_ALERT_WEBHOOK_URL',
  batchSize: 'TOKEN_STATS_BATCH_SIZE',
  flushIntervalMs: 'TOKEN_STATS_FLUSH_INTERVAL_MS',
  highWaterMark: 'TOKEN_STATS_BUFFER_HIGH_WATER_MARK',
  bufferKeyWindowMs: 'TOKEN_STATS_BUFFER_KEY_WINDOW_MS',
  retryAttempts: 'TOKEN_STATS_RETRY_ATTEMPTS',
  retryBaseDelayMs: 'TOKEN_STATS_RETRY_BASE_DELAY_MS',
  retryMaxDelayMs: 'TOKEN_STATS_RETRY_MAX_DELAY_MS',
  cacheTtlMs: 'TOKEN_STATS_CACHE_TTL_MS',
  cacheMaxEntries: 'TOKEN_STATS_CACHE_MAX_ENTRIES',
  healthTimeoutMs: 'TOKEN_STATS_HEALTH_TIMEOUT_MS',
  logLevel: 'TOKEN_STATS_LOG_LEVEL',
};

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads the configuration from environment variables (the seed's names); unset or empty variables get
 * the defaults. `REDIS_URL` wins over `REDIS_HOST`/`REDIS_PORT`/`REDIS_DB`, and its credentials over
 * `REDIS_USERNAME`/`REDIS_PASSWORD`. Throws `ConfigError` naming the variable on a bad value.
 */
export function configFromEnv(env: Env = process.env): TokenUsageConfig {
  const n = ENV_NAMES;
  const text = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const int = (name: string): number | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    if (!/^\d+$/.test(value)) throw new ConfigError(name, `must be a whole number, got ${JSON.stringify(value)}`);
    return Number(value);
  };
  const bool = (name: string): boolean | undefined => {
    const value = text(name)?.toLowerCase();
    if (value === undefined) return undefined;
    if (['1', 'true', 'yes', 'on'].includes(value)) return true;
    if (['0', 'false', 'no', 'off'].includes(value)) return false;
    throw new ConfigError(name, `must be true or false, got ${JSON.stringify(value)}`);
  };
  const password = env[n.password];
  const input: TokenUsageConfigInput = {
    ...defined('store', text(n.store)?.toLowerCase() as StoreKind | undefined),
    redis: {
      ...defined('url', text(n.url)),
      ...defined('host', text(n.host)),
      ...defined('port', int(n.port)),
      ...defined('db', int(n.db)),
      ...defined('username', text(n.username)),
      // Passwords are taken as they are: surrounding spaces may be part of one.
      ...defined('password', password === '' ? undefined : password),
      ...defined('connectTimeoutMs', int(n.connectTimeoutMs)),
      ...defined('commandTimeoutMs', int(n.commandTimeoutMs)),
      ...defined('maxConnections', int(n.maxConnections)),
      ...defined('retryOnTimeout', bool(n.retryOnTimeout)),
      ...defined('clusterNodes', text(n.clusterNodes)),
      ...defined('minReplicasAck', int(n.minReplicasAck)),
      ...defined('replicaAckTimeoutMs', int(n.replicaAckTimeoutMs)),
    },
    cycle: {
      ...defined('policy', text(n.policy)?.toLowerCase() as CyclePolicy | undefined),
      ...defined('timeZone', text(n.timeZone)),
      ...defined('retentionCycles', int(n.retentionCycles)),
    },
    enforcement: {
      ...defined('leaseMs', int(n.leaseMs)),
      ...defined('dedupeWindowMs', int(n.dedupeWindowMs)),
      ...defined('failurePolicy', text(n.failurePolicy)?.toLowerCase() as FailurePolicy | undefined),
    },
    alerts: {
      ...defined('enabled', bool(n.alertsEnabled)),
      ...defined('thresholds', thresholds(text(n.alertThresholds), n.alertThresholds)),
      ...defined('webhookUrl', text(n.webhookUrl)),
      ...defined('webhookSecret', env[n.webhookSecret] === '' ? undefined : env[n.webhookSecret]),
    },
    buffer: {
      ...defined('maxBatchRecords', int(n.batchSize)),
      ...defined('flushIntervalMs', int(n.flushIntervalMs)),
      ...defined('highWaterMark', int(n.highWaterMark)),
      ...defined('keyWindowMs', int(n.bufferKeyWindowMs)),
    },
    retry: {
      ...defined('attempts', int(n.retryAttempts)),
      ...defined('baseDelayMs', int(n.retryBaseDelayMs)),
      ...defined('maxDelayMs', int(n.retryMaxDelayMs)),
    },
    cache: {
      ...defined('ttlMs', int(n.cacheTtlMs)),
      ...defined('maxEntries', int(n.cacheMaxEntries)),
    },
    ...defined('healthTimeoutMs', int(n.healthTimeoutMs)),
    ...defined('keyPrefix', text(n.keyPrefix)),
    ...defined('hashTags', bool(n.hashTags)),
    ...defined('logLevel', text(n.logLevel)?.toLowerCase() as LogLevel | undefined),
  };
  return resolveConfig(input, n);
}

/** Parses `0.8:info,0.95:warning,1:critical`. */
function thresholds(value: string | undefined, name: string): AlertThreshold[] | undefined {
  if (value === undefined) return undefined;
  return value.split(',').map((part) => {
    const match = /^\s*([\d.]+)\s*:\s*(info|warning|critical)\s*$/i.exec(part);
    if (match === null) {
      throw new ConfigError(name, `must look like 0.8:info,0.95:warning,1:critical, got ${JSON.stringify(part.trim())}`);
    }
    return { ratio: Number(match[1]), level: (match[2] as string).toLowerCase() as AlertLevel };
  });
}

function defined<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
