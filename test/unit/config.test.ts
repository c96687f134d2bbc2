import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, resolveConfig } from '../../src/application/config.js';
import type { TokenUsageConfig, TokenUsageConfigInput } from '../../src/application/config.js';
import { configFromEnv, ENV_NAMES } from '../../src/application/env-config.js';
import { ConfigError, isUsageError } from '../../src/domain/errors.js';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return expect.unreachable('expected a throw');
}

function expectConfigError(fn: () => unknown, variable: string): ConfigError {
  const error = thrown(fn);
  expect(error).toBeInstanceOf(ConfigError);
  const e = error as ConfigError;
  expect(e.name).toBe('ConfigError');
  expect(e.code).toBe('USAGE.INVALID_CONFIG');
  expect(e.variable).toBe(variable);
  expect(e.message.startsWith(`${variable}: `)).toBe(true);
  expect(isUsageError(e, 'USAGE.INVALID_CONFIG')).toBe(true);
  return e;
}

type EnforcementInput = NonNullable<TokenUsageConfigInput['enforcement']>;

/** A bad value of the right static type, for what a JavaScript caller might pass. */
function loose<T>(value: unknown): T {
  return value as T;
}

describe('DEFAULT_CONFIG', () => {
  it('is the seed setup: local Redis, monthly UTC cycles kept three cycles', () => {
    expect(DEFAULT_CONFIG).toEqual({
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
      alerts: {
        enabled: false,
        thresholds: [
          { ratio: 0.8, level: 'info' },
          { ratio: 0.95, level: 'warning' },
          { ratio: 1, level: 'critical' },
        ],
      },
      buffer: { maxBatchRecords: 1_000_000, flushIntervalMs: 1_000, highWaterMark: 50_000, keyWindowMs: 3_600_000 },
      retry: { attempts: 1, baseDelayMs: 50, maxDelayMs: 2_000 },
      cache: { ttlMs: 0, maxEntries: 10_000 },
      healthTimeoutMs: 2_000,
      keyPrefix: 'token_usage',
      hashTags: false,
      logLevel: 'info',
    });
  });
});

describe('resolveConfig', () => {
  it('fills in every default', () => {
    const config = resolveConfig();
    expect(config).toEqual(DEFAULT_CONFIG);
    expect(config.redis.username).toBeUndefined();
    expect(config.redis.password).toBeUndefined();
    expect(resolveConfig({})).toEqual(DEFAULT_CONFIG);
    expect(resolveConfig({ redis: {}, cycle: {}, enforcement: {} })).toEqual(DEFAULT_CONFIG);
  });

  it('takes every override', () => {
    const config = resolveConfig({
      store: 'memory',
      redis: {
        host: 'cache.internal',
        port: 6380,
        db: 5,
        username: 'svc',
        password: 'pw',
        tls: true,
        connectTimeoutMs: 1_000,
        commandTimeoutMs: 250,
        maxConnections: 8,
        retryOnTimeout: false,
      },
      cycle: { policy: 'weekly', timeZone: 'Europe/Berlin', retentionCycles: 0 },
      enforcement: { leaseMs: 10_000, dedupeWindowMs: 3_600_000, failurePolicy: 'throw' },
      alerts: DEFAULT_CONFIG.alerts,
      buffer: DEFAULT_CONFIG.buffer,
      retry: DEFAULT_CONFIG.retry,
      cache: DEFAULT_CONFIG.cache,
      healthTimeoutMs: DEFAULT_CONFIG.healthTimeoutMs,
      keyPrefix: 'app.usage-v2',
      hashTags: true,
      logLevel: 'debug',
    });
    expect(config).toEqual({
      store: 'memory',
      redis: {
        host: 'cache.internal',
        port: 6380,
        db: 5,
        username: 'svc',
        password: 'pw',
        tls: true,
        connectTimeoutMs: 1_000,
        commandTimeoutMs: 250,
        maxConnections: 8,
        retryOnTimeout: false,
        clusterNodes: [],
        minReplicasAck: 0,
        replicaAckTimeoutMs: 1_000,
      },
      cycle: { policy: 'weekly', timeZone: 'Europe/Berlin', retentionCycles: 0 },
      enforcement: { leaseMs: 10_000, dedupeWindowMs: 3_600_000, failurePolicy: 'throw' },
      alerts: DEFAULT_CONFIG.alerts,
      buffer: DEFAULT_CONFIG.buffer,
      retry: DEFAULT_CONFIG.retry,
      cache: DEFAULT_CONFIG.cache,
      healthTimeoutMs: DEFAULT_CONFIG.healthTimeoutMs,
      keyPrefix: 'app.usage-v2',
      hashTags: true,
      logLevel: 'debug',
    } satisfies TokenUsageConfig);
  });

  it('keeps defaults for what one override leaves out', () => {
    const config = resolveConfig({ redis: { port: 7000 }, cycle: { policy: 'daily' } });
    expect(config.redis).toEqual({ ...DEFAULT_CONFIG.redis, port: 7000 });
    expect(config.cycle).toEqual({ ...DEFAULT_CONFIG.cycle, policy: 'daily' });
    expect(config.store).toBe('redis');
    expect(resolveConfig({ enforcement: { failurePolicy: 'fail-open' } }).enforcement).toEqual({
      ...DEFAULT_CONFIG.enforcement,
      failurePolicy: 'fail-open',
    });
  });

  it('lets redis.url win over host, port and db', () => {
    const config = resolveConfig({
      redis: { url: 'rediss://svc:p%40ss@url-host:6390/4', host: 'other', port: 1234, db: 9, password: 'other' },
    });
    expect(config.redis).toMatchObject({
      host: 'url-host',
      port: 6390,
      db: 4,
      tls: true,
      username: 'svc',
      password: 'p@ss',
    });
  });

  it('takes the whole endpoint from redis.url: port 6379, db 0 and plain TCP unless the URL says otherwise', () => {
    const config = resolveConfig({ redis: { url: 'redis://url-host', host: 'other', port: 7000, db: 9, tls: true } });
    expect(config.redis).toEqual({ ...DEFAULT_CONFIG.redis, host: 'url-host', port: 6379, db: 0, tls: false });
  });

  it('fills in username and password from the object when redis.url has none', () => {
    expect(resolveConfig({ redis: { url: 'redis://host', username: 'svc', password: 'pw' } }).redis).toMatchObject({
      username: 'svc',
      password: 'pw',
    });
    expect(resolveConfig({ redis: { url: 'redis://:url-pw@host', username: 'svc', password: 'pw' } }).redis).toMatchObject({
      username: 'svc',
      password: 'url-pw',
    });
  });

  it.each([
    { label: 'port 1', input: { redis: { port: 1 } }, pick: (c: TokenUsageConfig) => c.redis.port, expected: 1 },
    { label: 'port 65535', input: { redis: { port: 65_535 } }, pick: (c: TokenUsageConfig) => c.redis.port, expected: 65_535 },
    { label: 'db 1000000', input: { redis: { db: 1_000_000 } }, pick: (c: TokenUsageConfig) => c.redis.db, expected: 1_000_000 },
    { label: 'maxConnections 1000', input: { redis: { maxConnections: 1_000 } }, pick: (c: TokenUsageConfig) => c.redis.maxConnections, expected: 1_000 },
    { label: 'retention 10000', input: { cycle: { retentionCycles: 10_000 } }, pick: (c: TokenUsageConfig) => c.cycle.retentionCycles, expected: 10_000 },
    { label: 'key prefix of 64 chars', input: { keyPrefix: 'k'.repeat(64) }, pick: (c: TokenUsageConfig) => c.keyPrefix, expected: 'k'.repeat(64) },
    { label: 'key prefix with _ . -', input: { keyPrefix: 'a_b.c-e' }, pick: (c: TokenUsageConfig) => c.keyPrefix, expected: 'a_b.c-e' },
    { label: 'log level silent', input: { logLevel: 'silent' }, pick: (c: TokenUsageConfig) => c.logLevel, expected: 'silent' },
    { label: 'tls true', input: { redis: { tls: true } }, pick: (c: TokenUsageConfig) => c.redis.tls, expected: true },
    { label: 'retryOnTimeout false', input: { redis: { retryOnTimeout: false } }, pick: (c: TokenUsageConfig) => c.redis.retryOnTimeout, expected: false },
    { label: 'hashTags true', input: { hashTags: true }, pick: (c: TokenUsageConfig) => c.hashTags, expected: true },
  ] satisfies { label: string; input: TokenUsageConfigInput; pick: (c: TokenUsageConfig) => unknown; expected: unknown }[])(
    'accepts the boundary value $label',
    ({ input, pick, expected }) => {
      expect(pick(resolveConfig(input))).toBe(expected);
    },
  );

  it.each<{ label: string; input: TokenUsageConfigInput; variable: string }>([
    { label: 'port 0', input: { redis: { port: 0 } }, variable: 'redis.port' },
    { label: 'port 65536', input: { redis: { port: 65_536 } }, variable: 'redis.port' },
    { label: 'port 6379.5', input: { redis: { port: 6379.5 } }, variable: 'redis.port' },
    { label: "port '6379' (string)", input: { redis: { port: loose<number>('6379') } }, variable: 'redis.port' },
    { label: 'port NaN', input: { redis: { port: Number.NaN } }, variable: 'redis.port' },
    { label: 'db -1', input: { redis: { db: -1 } }, variable: 'redis.db' },
    { label: 'db 1000001', input: { redis: { db: 1_000_001 } }, variable: 'redis.db' },
    { label: "host ''", input: { redis: { host: '' } }, variable: 'redis.host' },
    { label: "host '   '", input: { redis: { host: '   ' } }, variable: 'redis.host' },
    { label: 'url http://x', input: { redis: { url: 'http://x' } }, variable: 'redis.url' },
    { label: 'url not a url', input: { redis: { url: 'not a url' } }, variable: 'redis.url' },
    { label: 'url with db path abc', input: { redis: { url: 'redis://host/abc' } }, variable: 'redis.url' },
    { label: 'connectTimeoutMs 0', input: { redis: { connectTimeoutMs: 0 } }, variable: 'redis.connectTimeoutMs' },
    { label: 'commandTimeoutMs 600001', input: { redis: { commandTimeoutMs: 600_001 } }, variable: 'redis.commandTimeoutMs' },
    { label: 'maxConnections 0', input: { redis: { maxConnections: 0 } }, variable: 'redis.maxConnections' },
    { label: 'maxConnections 1001', input: { redis: { maxConnections: 1_001 } }, variable: 'redis.maxConnections' },
    { label: "store 'postgres'", input: { store: loose('postgres') }, variable: 'store' },
    { label: "cycle policy 'yearly'", input: { cycle: { policy: loose('yearly') } }, variable: 'cycle.policy' },
    { label: "cycle policy 'Monthly' (case-sensitive here)", input: { cycle: { policy: loose('Monthly') } }, variable: 'cycle.policy' },
    { label: "time zone 'Mars/Base'", input: { cycle: { timeZone: 'Mars/Base' } }, variable: 'cycle.timeZone' },
    { label: "time zone ''", input: { cycle: { timeZone: '' } }, variable: 'cycle.timeZone' },
    { label: 'retentionCycles -1', input: { cycle: { retentionCycles: -1 } }, variable: 'cycle.retentionCycles' },
    { label: 'retentionCycles 0.5', input: { cycle: { retentionCycles: 0.5 } }, variable: 'cycle.retentionCycles' },
    { label: 'retentionCycles 10001', input: { cycle: { retentionCycles: 10_001 } }, variable: 'cycle.retentionCycles' },
    { label: "keyPrefix ''", input: { keyPrefix: '' }, variable: 'keyPrefix' },
    { label: "keyPrefix 'a b'", input: { keyPrefix: 'a b' }, variable: 'keyPrefix' },
    { label: "keyPrefix '{x}'", input: { keyPrefix: '{x}' }, variable: 'keyPrefix' },
    { label: 'keyPrefix of 65 chars', input: { keyPrefix: 'k'.repeat(65) }, variable: 'keyPrefix' },
    { label: "keyPrefix 'a/b'", input: { keyPrefix: 'a/b' }, variable: 'keyPrefix' },
    { label: "keyPrefix 'a:b' (would collide with prefix 'a' and user 'b:…')", input: { keyPrefix: 'a:b' }, variable: 'keyPrefix' },
    { label: "logLevel 'verbose'", input: { logLevel: loose('verbose') }, variable: 'logLevel' },
    { label: "retryOnTimeout 'false' (string)", input: { redis: { retryOnTimeout: loose('false') } }, variable: 'redis.retryOnTimeout' },
    { label: 'retryOnTimeout 0', input: { redis: { retryOnTimeout: loose(0) } }, variable: 'redis.retryOnTimeout' },
    { label: "tls 'yes'", input: { redis: { tls: loose('yes') } }, variable: 'redis.tls' },
    { label: 'tls 1', input: { redis: { tls: loose(1) } }, variable: 'redis.tls' },
    { label: "hashTags 'true'", input: { hashTags: loose('true') }, variable: 'hashTags' },
    { label: 'hashTags 1', input: { hashTags: loose(1) }, variable: 'hashTags' },
    { label: 'hashTags {}', input: { hashTags: loose({}) }, variable: 'hashTags' },
    { label: 'url with port 0', input: { redis: { url: 'redis://host:0' } }, variable: 'redis.url' },
    { label: 'url with db 1000001', input: { redis: { url: 'redis://host/1000001' } }, variable: 'redis.url' },
    { label: 'url with a malformed %-escape', input: { redis: { url: 'redis://:50%off@host' } }, variable: 'redis.url' },
  ])('rejects $label with a ConfigError naming $variable', ({ input, variable }) => {
    expectConfigError(() => resolveConfig(input), variable);
  });

  it('puts the bad value in the message of a numeric field', () => {
    const e = expectConfigError(() => resolveConfig({ redis: { port: 70_000 } }), 'redis.port');
    expect(e.message).toBe('redis.port: must be a whole number from 1 to 65535, got 70000');
  });

  it('lists the allowed values of an enumerated field', () => {
    const e = expectConfigError(() => resolveConfig({ store: loose('postgres') }), 'store');
    expect(e.message).toBe('store: must be one of redis, memory, got "postgres"');
  });

  it('quotes a bad boolean in the message', () => {
    const e = expectConfigError(() => resolveConfig({ redis: { retryOnTimeout: loose('false') } }), 'redis.retryOnTimeout');
    expect(e.message).toBe('redis.retryOnTimeout: must be true or false, got "false"');
  });
});

describe('configFromEnv', () => {
  it('reads exactly these variable names', () => {
    expect(ENV_NAMES).toEqual({
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
      webhookSecret: 'TOKEN_STATS_ALERT_WEBHOOK_SECRET',
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
    });
  });

  it('gives the defaults for an empty environment', () => {
    expect(configFromEnv({})).toEqual(DEFAULT_CONFIG);
  });

  it('ignores unrelated variables', () => {
    expect(configFromEnv({ PATH: '/usr/bin', REDIS: 'x', TOKEN_STATS: 'y' })).toEqual(DEFAULT_CONFIG);
  });

  it('treats empty strings as unset', () => {
    const env = Object.fromEntries(Object.values(ENV_NAMES).map((name) => [name, '']));
    expect(configFromEnv(env)).toEqual(DEFAULT_CONFIG);
  });

  it('treats whitespace-only values as unset, except the password and the webhook secret', () => {
    const env = Object.fromEntries(Object.values(ENV_NAMES).map((name) => [name, '   ']));
    expect(configFromEnv(env)).toEqual({
      ...DEFAULT_CONFIG,
      redis: { ...DEFAULT_CONFIG.redis, password: '   ' },
      alerts: { ...DEFAULT_CONFIG.alerts, webhookSecret: '   ' },
    });
  });

  it('takes the password as it is, surrounding spaces included', () => {
    expect(configFromEnv({ REDIS_PASSWORD: ' pw ' }).redis.password).toBe(' pw ');
  });

  it('trims other values', () => {
    const config = configFromEnv({ REDIS_HOST: '  cache  ', REDIS_PORT: ' 6380 ', TOKEN_STATS_DEFAULT_CYCLE: ' daily ' });
    expect(config.redis.host).toBe('cache');
    expect(config.redis.port).toBe(6380);
    expect(config.cycle.policy).toBe('daily');
  });

  describe('REDIS_URL', () => {
    it('parses rediss://user:p%40ss@host:6380/2', () => {
      const config = configFromEnv({ REDIS_URL: 'rediss://user:p%40ss@host:6380/2' });
      expect(config.redis).toEqual({
        ...DEFAULT_CONFIG.redis,
        host: 'host',
        port: 6380,
        db: 2,
        tls: true,
        username: 'user',
        password: 'p@ss',
      });
    });

    it('parses redis://host as plain TCP on the default port and db 0', () => {
      const config = configFromEnv({ REDIS_URL: 'redis://cache.example.com' });
      expect(config.redis).toEqual({ ...DEFAULT_CONFIG.redis, host: 'cache.example.com', tls: false });
    });

    it('parses a password-only URL', () => {
      const config = configFromEnv({ REDIS_URL: 'redis://:s3cret@host:6379/0' });
      expect(config.redis.username).toBeUndefined();
      expect(config.redis.password).toBe('s3cret');
    });

    it('strips the brackets of an IPv6 host', () => {
      const config = configFromEnv({ REDIS_URL: 'redis://[::1]:6390' });
      expect(config.redis.host).toBe('::1');
      expect(config.redis.port).toBe(6390);
    });

    it('wins over REDIS_HOST, REDIS_PORT and REDIS_DB', () => {
      const config = configFromEnv({
        REDIS_URL: 'redis://url-host:6390/4',
        REDIS_HOST: 'env-host',
        REDIS_PORT: '7000',
        REDIS_DB: '5',
      });
      expect(config.redis).toMatchObject({ host: 'url-host', port: 6390, db: 4 });
    });

    it('describes the whole endpoint: REDIS_PORT is ignored when the URL has no port (6379)', () => {
      const config = configFromEnv({ REDIS_URL: 'redis://host', REDIS_PORT: '7000' });
      expect(config.redis).toEqual({ ...DEFAULT_CONFIG.redis, host: 'host', port: 6379 });
    });

    it('describes the whole endpoint: REDIS_DB is ignored when the URL has no db (0)', () => {
      const config = configFromEnv({ REDIS_URL: 'redis://host:6390', REDIS_DB: '5' });
      expect(config.redis).toMatchObject({ host: 'host', port: 6390, db: 0 });
    });

    it('describes the whole endpoint: REDIS_HOST is ignored', () => {
      const config = configFromEnv({ REDIS_URL: 'redis://url-host', REDIS_HOST: 'env-host', REDIS_PORT: '7000', REDIS_DB: '5' });
      expect(config.redis).toEqual({ ...DEFAULT_CONFIG.redis, host: 'url-host', port: 6379, db: 0 });
    });

    it('takes an explicit /0 as db 0', () => {
      expect(configFromEnv({ REDIS_URL: 'redis://host/0', REDIS_DB: '5' }).redis.db).toBe(0);
    });

    it('its credentials win over REDIS_USERNAME and REDIS_PASSWORD', () => {
      const config = configFromEnv({
        REDIS_URL: 'redis://url-user:url-pw@host',
        REDIS_USERNAME: 'env-user',
        REDIS_PASSWORD: 'env-pw',
      });
      expect(config.redis).toMatchObject({ username: 'url-user', password: 'url-pw' });
    });

    it('REDIS_PASSWORD and REDIS_USERNAME fill in when the URL has no credentials', () => {
      const config = configFromEnv({ REDIS_URL: 'rediss://host:6380', REDIS_USERNAME: 'env-user', REDIS_PASSWORD: 'env-pw' });
      expect(config.redis).toMatchObject({ host: 'host', port: 6380, tls: true, username: 'env-user', password: 'env-pw' });
    });

    it('REDIS_PASSWORD fills in when the URL has a user but no password', () => {
      const config = configFromEnv({ REDIS_URL: 'redis://url-user@host', REDIS_PASSWORD: 'env-pw' });
      expect(config.redis).toMatchObject({ username: 'url-user', password: 'env-pw' });
    });

    it('REDIS_USERNAME fills in when the URL has a password but no user', () => {
      const config = configFromEnv({ REDIS_URL: 'redis://:url-pw@host', REDIS_USERNAME: 'env-user', REDIS_PASSWORD: 'env-pw' });
      expect(config.redis).toMatchObject({ username: 'env-user', password: 'url-pw' });
    });

    it('decodes a percent-encoded user name', () => {
      expect(configFromEnv({ REDIS_URL: 'redis://svc%40team:pw@host' }).redis.username).toBe('svc@team');
    });
  });

  it.each<{ label: string; env: Record<string, string>; pick: (c: TokenUsageConfig) => unknown; expected: unknown }>([
    { label: 'REDIS_HOST', env: { REDIS_HOST: 'cache.internal' }, pick: (c) => c.redis.host, expected: 'cache.internal' },
    { label: 'REDIS_PORT', env: { REDIS_PORT: '6380' }, pick: (c) => c.redis.port, expected: 6380 },
    { label: 'REDIS_DB', env: { REDIS_DB: '3' }, pick: (c) => c.redis.db, expected: 3 },
    { label: 'REDIS_DB=0', env: { REDIS_DB: '0' }, pick: (c) => c.redis.db, expected: 0 },
    { label: 'REDIS_USERNAME', env: { REDIS_USERNAME: 'svc' }, pick: (c) => c.redis.username, expected: 'svc' },
    { label: 'REDIS_PASSWORD', env: { REDIS_PASSWORD: 'p@ss:w/rd' }, pick: (c) => c.redis.password, expected: 'p@ss:w/rd' },
    { label: 'REDIS_CONNECT_TIMEOUT_MS', env: { REDIS_CONNECT_TIMEOUT_MS: '1500' }, pick: (c) => c.redis.connectTimeoutMs, expected: 1500 },
    { label: 'REDIS_COMMAND_TIMEOUT_MS', env: { REDIS_COMMAND_TIMEOUT_MS: '250' }, pick: (c) => c.redis.commandTimeoutMs, expected: 250 },
    { label: 'REDIS_MAX_CONNECTIONS', env: { REDIS_MAX_CONNECTIONS: '4' }, pick: (c) => c.redis.maxConnections, expected: 4 },
    { label: 'REDIS_RETRY_ON_TIMEOUT=true', env: { REDIS_RETRY_ON_TIMEOUT: 'true' }, pick: (c) => c.redis.retryOnTimeout, expected: true },
    { label: 'REDIS_RETRY_ON_TIMEOUT=TRUE', env: { REDIS_RETRY_ON_TIMEOUT: 'TRUE' }, pick: (c) => c.redis.retryOnTimeout, expected: true },
    { label: 'REDIS_RETRY_ON_TIMEOUT=yes', env: { REDIS_RETRY_ON_TIMEOUT: 'yes' }, pick: (c) => c.redis.retryOnTimeout, expected: true },
    { label: 'REDIS_RETRY_ON_TIMEOUT=1', env: { REDIS_RETRY_ON_TIMEOUT: '1' }, pick: (c) => c.redis.retryOnTimeout, expected: true },
    { label: 'REDIS_RETRY_ON_TIMEOUT=on', env: { REDIS_RETRY_ON_TIMEOUT: 'on' }, pick: (c) => c.redis.retryOnTimeout, expected: true },
    { label: 'REDIS_RETRY_ON_TIMEOUT=false', env: { REDIS_RETRY_ON_TIMEOUT: 'false' }, pick: (c) => c.redis.retryOnTimeout, expected: false },
    { label: 'REDIS_RETRY_ON_TIMEOUT=0', env: { REDIS_RETRY_ON_TIMEOUT: '0' }, pick: (c) => c.redis.retryOnTimeout, expected: false },
    { label: 'REDIS_RETRY_ON_TIMEOUT=No', env: { REDIS_RETRY_ON_TIMEOUT: 'No' }, pick: (c) => c.redis.retryOnTimeout, expected: false },
    { label: 'REDIS_RETRY_ON_TIMEOUT=off', env: { REDIS_RETRY_ON_TIMEOUT: 'off' }, pick: (c) => c.redis.retryOnTimeout, expected: false },
    { label: 'TOKEN_STATS_DEFAULT_CYCLE=monthly', env: { TOKEN_STATS_DEFAULT_CYCLE: 'monthly' }, pick: (c) => c.cycle.policy, expected: 'monthly' },
    { label: 'TOKEN_STATS_DEFAULT_CYCLE=weekly', env: { TOKEN_STATS_DEFAULT_CYCLE: 'weekly' }, pick: (c) => c.cycle.policy, expected: 'weekly' },
    { label: 'TOKEN_STATS_DEFAULT_CYCLE=daily', env: { TOKEN_STATS_DEFAULT_CYCLE: 'daily' }, pick: (c) => c.cycle.policy, expected: 'daily' },
    { label: 'TOKEN_STATS_DEFAULT_CYCLE=MONTHLY', env: { TOKEN_STATS_DEFAULT_CYCLE: 'MONTHLY' }, pick: (c) => c.cycle.policy, expected: 'monthly' },
    { label: 'TOKEN_STATS_DEFAULT_CYCLE=Weekly', env: { TOKEN_STATS_DEFAULT_CYCLE: 'Weekly' }, pick: (c) => c.cycle.policy, expected: 'weekly' },
    { label: 'TOKEN_STATS_TIMEZONE', env: { TOKEN_STATS_TIMEZONE: 'Asia/Shanghai' }, pick: (c) => c.cycle.timeZone, expected: 'Asia/Shanghai' },
    { label: 'TOKEN_STATS_KEY_PREFIX', env: { TOKEN_STATS_KEY_PREFIX: 'myapp.usage' }, pick: (c) => c.keyPrefix, expected: 'myapp.usage' },
    { label: 'TOKEN_STATS_RETENTION_CYCLES=0', env: { TOKEN_STATS_RETENTION_CYCLES: '0' }, pick: (c) => c.cycle.retentionCycles, expected: 0 },
    { label: 'TOKEN_STATS_RETENTION_CYCLES=12', env: { TOKEN_STATS_RETENTION_CYCLES: '12' }, pick: (c) => c.cycle.retentionCycles, expected: 12 },
    { label: 'TOKEN_STATS_STORE=memory', env: { TOKEN_STATS_STORE: 'memory' }, pick: (c) => c.store, expected: 'memory' },
    { label: 'TOKEN_STATS_STORE=redis', env: { TOKEN_STATS_STORE: 'redis' }, pick: (c) => c.store, expected: 'redis' },
    { label: 'TOKEN_STATS_STORE=MEMORY', env: { TOKEN_STATS_STORE: 'MEMORY' }, pick: (c) => c.store, expected: 'memory' },
    { label: 'TOKEN_STATS_STORE=Redis', env: { TOKEN_STATS_STORE: 'Redis' }, pick: (c) => c.store, expected: 'redis' },
    { label: 'TOKEN_STATS_HASH_TAGS=true', env: { TOKEN_STATS_HASH_TAGS: 'true' }, pick: (c) => c.hashTags, expected: true },
    { label: 'TOKEN_STATS_HASH_TAGS=1', env: { TOKEN_STATS_HASH_TAGS: '1' }, pick: (c) => c.hashTags, expected: true },
    { label: 'TOKEN_STATS_HASH_TAGS=no', env: { TOKEN_STATS_HASH_TAGS: 'no' }, pick: (c) => c.hashTags, expected: false },
    { label: 'TOKEN_STATS_LOG_LEVEL=debug', env: { TOKEN_STATS_LOG_LEVEL: 'debug' }, pick: (c) => c.logLevel, expected: 'debug' },
    { label: 'TOKEN_STATS_LOG_LEVEL=WARN', env: { TOKEN_STATS_LOG_LEVEL: 'WARN' }, pick: (c) => c.logLevel, expected: 'warn' },
    { label: 'TOKEN_STATS_LOG_LEVEL=silent', env: { TOKEN_STATS_LOG_LEVEL: 'silent' }, pick: (c) => c.logLevel, expected: 'silent' },
  ])('reads $label', ({ env, pick, expected }) => {
    const config = configFromEnv(env);
    expect(pick(config)).toBe(expected);
  });

  it('reads every variable together', () => {
    expect(
      configFromEnv({
        REDIS_HOST: 'h',
        REDIS_PORT: '6390',
        REDIS_DB: '7',
        REDIS_USERNAME: 'u',
        REDIS_PASSWORD: 'p',
        REDIS_CONNECT_TIMEOUT_MS: '100',
        REDIS_COMMAND_TIMEOUT_MS: '200',
        REDIS_MAX_CONNECTIONS: '3',
        REDIS_RETRY_ON_TIMEOUT: 'false',
        TOKEN_STATS_STORE: 'memory',
        TOKEN_STATS_DEFAULT_CYCLE: 'daily',
        TOKEN_STATS_TIMEZONE: 'America/Los_Angeles',
        TOKEN_STATS_RETENTION_CYCLES: '30',
        TOKEN_STATS_KEY_PREFIX: 'ts',
        TOKEN_STATS_HASH_TAGS: 'yes',
        TOKEN_STATS_LEASE_MS: '45000',
        TOKEN_STATS_DEDUPE_WINDOW_MS: '600000',
        TOKEN_STATS_FAILURE_POLICY: 'fail-open',
        TOKEN_STATS_LOG_LEVEL: 'error',
      }),
    ).toEqual({
      store: 'memory',
      redis: {
        host: 'h',
        port: 6390,
        db: 7,
        username: 'u',
        password: 'p',
        tls: false,
        connectTimeoutMs: 100,
        commandTimeoutMs: 200,
        maxConnections: 3,
        retryOnTimeout: false,
        clusterNodes: [],
        minReplicasAck: 0,
        replicaAckTimeoutMs: 1_000,
      },
      cycle: { policy: 'daily', timeZone: 'America/Los_Angeles', retentionCycles: 30 },
      enforcement: { leaseMs: 45_000, dedupeWindowMs: 600_000, failurePolicy: 'fail-open' },
      alerts: DEFAULT_CONFIG.alerts,
      buffer: DEFAULT_CONFIG.buffer,
      retry: DEFAULT_CONFIG.retry,
      cache: DEFAULT_CONFIG.cache,
      healthTimeoutMs: DEFAULT_CONFIG.healthTimeoutMs,
      keyPrefix: 'ts',
      hashTags: true,
      logLevel: 'error',
    } satisfies TokenUsageConfig);
  });

  it.each<{ variable: string; value: string }>([
    { variable: 'REDIS_PORT', value: 'abc' },
    { variable: 'REDIS_PORT', value: '0' },
    { variable: 'REDIS_PORT', value: '70000' },
    { variable: 'REDIS_PORT', value: '-1' },
    { variable: 'REDIS_PORT', value: '6379.5' },
    { variable: 'REDIS_PORT', value: '1e3' },
    { variable: 'REDIS_PORT', value: '0x10' },
    { variable: 'REDIS_DB', value: 'one' },
    { variable: 'REDIS_DB', value: '1000001' },
    { variable: 'REDIS_URL', value: 'http://x' },
    { variable: 'REDIS_URL', value: 'not a url' },
    { variable: 'REDIS_URL', value: 'redis://host/abc' },
    { variable: 'REDIS_URL', value: 'redis:///0' },
    { variable: 'REDIS_URL', value: 'redis://host:0' },
    { variable: 'REDIS_URL', value: 'redis://host/1000001' },
    { variable: 'REDIS_URL', value: 'redis://:50%off@host' },
    { variable: 'REDIS_URL', value: 'redis://us%ZZer:pw@host' },
    { variable: 'REDIS_CONNECT_TIMEOUT_MS', value: '0' },
    { variable: 'REDIS_COMMAND_TIMEOUT_MS', value: '5s' },
    { variable: 'REDIS_MAX_CONNECTIONS', value: '0' },
    { variable: 'REDIS_MAX_CONNECTIONS', value: '1001' },
    { variable: 'REDIS_RETRY_ON_TIMEOUT', value: 'maybe' },
    { variable: 'REDIS_RETRY_ON_TIMEOUT', value: '2' },
    { variable: 'TOKEN_STATS_HASH_TAGS', value: 'sometimes' },
    { variable: 'TOKEN_STATS_DEFAULT_CYCLE', value: 'yearly' },
    { variable: 'TOKEN_STATS_TIMEZONE', value: 'Mars/Base' },
    { variable: 'TOKEN_STATS_STORE', value: 'postgres' },
    { variable: 'TOKEN_STATS_STORE', value: 'MEMORY_' },
    { variable: 'TOKEN_STATS_KEY_PREFIX', value: 'a b' },
    { variable: 'TOKEN_STATS_KEY_PREFIX', value: '{x}' },
    { variable: 'TOKEN_STATS_RETENTION_CYCLES', value: '-1' },
    { variable: 'TOKEN_STATS_RETENTION_CYCLES', value: '10001' },
    { variable: 'TOKEN_STATS_LOG_LEVEL', value: 'verbose' },
  ])('rejects $variable=$value with a ConfigError naming the variable', ({ variable, value }) => {
    const e = expectConfigError(() => configFromEnv({ [variable]: value }), variable);
    expect(e.message).toContain(variable);
  });

  it('quotes the bad value of a plain variable in the message', () => {
    const e = expectConfigError(() => configFromEnv({ REDIS_PORT: 'abc' }), 'REDIS_PORT');
    expect(e.message).toBe('REDIS_PORT: must be a whole number, got "abc"');
  });

  it('validates REDIS_URL even when REDIS_HOST is valid', () => {
    expectConfigError(() => configFromEnv({ REDIS_URL: 'http://x', REDIS_HOST: 'ok' }), 'REDIS_URL');
  });

  describe('never leaks a password from a bad REDIS_URL', () => {
    it.each([
      { label: 'wrong scheme', url: 'http://user:s3cret@host' },
      { label: 'wrong scheme, password only', url: 'https://:s3cret@host:443' },
      { label: 'not parseable', url: 'redis://user:s3cret@host:notaport' },
      { label: 'port out of range', url: 'redis://user:s3cret@host:99999' },
      { label: 'non-numeric db', url: 'redis://user:s3cret@host/abc' },
      { label: 'no host', url: 'redis://user:s3cret@/0' },
      { label: 'malformed %-escape in the password', url: 'redis://user:s3cret%zz@host' },
      { label: 'malformed %-escape in the user name', url: 'redis://us%zzer:s3cret@host' },
      { label: 'port 0', url: 'redis://user:s3cret@host:0' },
      { label: 'db out of range', url: 'redis://user:s3cret@host/2000000' },
    ])('$label', ({ url }) => {
      const e = expectConfigError(() => configFromEnv({ REDIS_URL: url }), 'REDIS_URL');
      expect(e.message).not.toContain('s3cret');
      expect(e.message).not.toContain(url);
      expect(String(e)).not.toContain('s3cret');
      expect(e.stack ?? '').not.toContain('s3cret');
      expect(JSON.stringify(e)).not.toContain('s3cret');
      expect(String(e.cause ?? '')).not.toContain('s3cret');
    });
  });

  describe('errors inside REDIS_URL name REDIS_URL', () => {
    it('a malformed %-escape in the password is a ConfigError naming REDIS_URL, without the password', () => {
      const e = expectConfigError(() => configFromEnv({ REDIS_URL: 'redis://:50%off@host' }), 'REDIS_URL');
      expect(e.message).not.toContain('50%off');
      expect(e.message).toContain('password');
    });

    it('a malformed %-escape in the user name is a ConfigError naming REDIS_URL', () => {
      const e = expectConfigError(() => configFromEnv({ REDIS_URL: 'redis://us%ZZer@host' }), 'REDIS_URL');
      expect(e.message).not.toContain('us%ZZer');
      expect(e.message).toContain('user name');
    });

    it.each([
      { label: 'port 0', url: 'redis://host:0' },
      { label: 'db 1000001', url: 'redis://host/1000001' },
      { label: 'db 2000000', url: 'redis://host/2000000' },
    ])('$label is a ConfigError naming REDIS_URL, not REDIS_PORT or REDIS_DB', ({ url }) => {
      expectConfigError(() => configFromEnv({ REDIS_URL: url }), 'REDIS_URL');
    });

    it('names REDIS_URL even when REDIS_PORT and REDIS_DB are set and valid', () => {
      expectConfigError(() => configFromEnv({ REDIS_URL: 'redis://host:0', REDIS_PORT: '6380' }), 'REDIS_URL');
      expectConfigError(() => configFromEnv({ REDIS_URL: 'redis://host/2000000', REDIS_DB: '1' }), 'REDIS_URL');
    });

    it('accepts the boundary port 65535 and db 1000000 inside the URL', () => {
      expect(configFromEnv({ REDIS_URL: 'redis://host:65535/1000000' }).redis).toMatchObject({ port: 65_535, db: 1_000_000 });
    });
  });
});

describe('enforcement settings', () => {
  it('defaults to 5-minute leases, a 24-hour dedupe window and fail-closed', () => {
    expect(resolveConfig().enforcement).toEqual({ leaseMs: 300_000, dedupeWindowMs: 86_400_000, failurePolicy: 'fail-closed' });
    expect(configFromEnv({}).enforcement).toEqual(DEFAULT_CONFIG.enforcement);
  });

  it('keeps the defaults for what an override leaves out', () => {
    expect(resolveConfig({ enforcement: { leaseMs: 1_000 } }).enforcement).toEqual({ ...DEFAULT_CONFIG.enforcement, leaseMs: 1_000 });
    expect(configFromEnv({ TOKEN_STATS_DEDUPE_WINDOW_MS: '5000' }).enforcement).toEqual({
      ...DEFAULT_CONFIG.enforcement,
      dedupeWindowMs: 5_000,
    });
  });

  it.each([
    { label: 'leaseMs 1', input: { leaseMs: 1 }, pick: 'leaseMs', expected: 1 },
    { label: 'leaseMs 24 h', input: { leaseMs: 86_400_000 }, pick: 'leaseMs', expected: 86_400_000 },
    { label: 'dedupeWindowMs 1', input: { dedupeWindowMs: 1 }, pick: 'dedupeWindowMs', expected: 1 },
    { label: 'dedupeWindowMs 30 days', input: { dedupeWindowMs: 30 * 86_400_000 }, pick: 'dedupeWindowMs', expected: 2_592_000_000 },
    { label: "failurePolicy 'fail-open'", input: { failurePolicy: 'fail-open' }, pick: 'failurePolicy', expected: 'fail-open' },
    { label: "failurePolicy 'throw'", input: { failurePolicy: 'throw' }, pick: 'failurePolicy', expected: 'throw' },
  ] satisfies { label: string; input: EnforcementInput; pick: keyof TokenUsageConfig['enforcement']; expected: unknown }[])(
    'resolveConfig accepts $label',
    ({ input, pick, expected }) => {
      expect(resolveConfig({ enforcement: input }).enforcement[pick]).toBe(expected);
    },
  );

  it.each<{ label: string; input: EnforcementInput; variable: string }>([
    { label: 'leaseMs 0', input: { leaseMs: 0 }, variable: 'enforcement.leaseMs' },
    { label: 'leaseMs -1', input: { leaseMs: -1 }, variable: 'enforcement.leaseMs' },
    { label: 'leaseMs 1.5', input: { leaseMs: 1.5 }, variable: 'enforcement.leaseMs' },
    { label: 'leaseMs over 24 h', input: { leaseMs: 86_400_001 }, variable: 'enforcement.leaseMs' },
    { label: 'leaseMs NaN', input: { leaseMs: Number.NaN }, variable: 'enforcement.leaseMs' },
    { label: "leaseMs '1000' (string)", input: { leaseMs: loose<number>('1000') }, variable: 'enforcement.leaseMs' },
    { label: 'dedupeWindowMs 0', input: { dedupeWindowMs: 0 }, variable: 'enforcement.dedupeWindowMs' },
    { label: 'dedupeWindowMs over 30 days', input: { dedupeWindowMs: 30 * 86_400_000 + 1 }, variable: 'enforcement.dedupeWindowMs' },
    { label: 'dedupeWindowMs Infinity', input: { dedupeWindowMs: Number.POSITIVE_INFINITY }, variable: 'enforcement.dedupeWindowMs' },
    { label: "failurePolicy 'open'", input: { failurePolicy: loose('open') }, variable: 'enforcement.failurePolicy' },
    { label: "failurePolicy 'FAIL-OPEN' (case-sensitive here)", input: { failurePolicy: loose('FAIL-OPEN') }, variable: 'enforcement.failurePolicy' },
  ])('resolveConfig rejects $label with a ConfigError naming $variable', ({ input, variable }) => {
    expectConfigError(() => resolveConfig({ enforcement: input }), variable);
  });

  it('lists the failure policies in the message', () => {
    const e = expectConfigError(() => resolveConfig({ enforcement: { failurePolicy: loose('open') } }), 'enforcement.failurePolicy');
    expect(e.message).toBe('enforcement.failurePolicy: must be one of fail-closed, fail-open, throw, got "open"');
  });

  it.each<{ label: string; env: Record<string, string>; pick: (c: TokenUsageConfig) => unknown; expected: unknown }>([
    { label: 'TOKEN_STATS_LEASE_MS=1000', env: { TOKEN_STATS_LEASE_MS: '1000' }, pick: (c) => c.enforcement.leaseMs, expected: 1_000 },
    { label: 'TOKEN_STATS_LEASE_MS=1', env: { TOKEN_STATS_LEASE_MS: '1' }, pick: (c) => c.enforcement.leaseMs, expected: 1 },
    { label: 'TOKEN_STATS_LEASE_MS=86400000', env: { TOKEN_STATS_LEASE_MS: '86400000' }, pick: (c) => c.enforcement.leaseMs, expected: 86_400_000 },
    { label: "TOKEN_STATS_LEASE_MS=' 2000 '", env: { TOKEN_STATS_LEASE_MS: ' 2000 ' }, pick: (c) => c.enforcement.leaseMs, expected: 2_000 },
    { label: 'TOKEN_STATS_DEDUPE_WINDOW_MS=3600000', env: { TOKEN_STATS_DEDUPE_WINDOW_MS: '3600000' }, pick: (c) => c.enforcement.dedupeWindowMs, expected: 3_600_000 },
    { label: 'TOKEN_STATS_DEDUPE_WINDOW_MS=2592000000', env: { TOKEN_STATS_DEDUPE_WINDOW_MS: '2592000000' }, pick: (c) => c.enforcement.dedupeWindowMs, expected: 2_592_000_000 },
    { label: 'TOKEN_STATS_FAILURE_POLICY=fail-closed', env: { TOKEN_STATS_FAILURE_POLICY: 'fail-closed' }, pick: (c) => c.enforcement.failurePolicy, expected: 'fail-closed' },
    { label: 'TOKEN_STATS_FAILURE_POLICY=fail-open', env: { TOKEN_STATS_FAILURE_POLICY: 'fail-open' }, pick: (c) => c.enforcement.failurePolicy, expected: 'fail-open' },
    { label: 'TOKEN_STATS_FAILURE_POLICY=FAIL-OPEN', env: { TOKEN_STATS_FAILURE_POLICY: 'FAIL-OPEN' }, pick: (c) => c.enforcement.failurePolicy, expected: 'fail-open' },
    { label: 'TOKEN_STATS_FAILURE_POLICY=Fail-Closed', env: { TOKEN_STATS_FAILURE_POLICY: 'Fail-Closed' }, pick: (c) => c.enforcement.failurePolicy, expected: 'fail-closed' },
    { label: 'TOKEN_STATS_FAILURE_POLICY=THROW', env: { TOKEN_STATS_FAILURE_POLICY: 'THROW' }, pick: (c) => c.enforcement.failurePolicy, expected: 'throw' },
    { label: "TOKEN_STATS_FAILURE_POLICY=' throw '", env: { TOKEN_STATS_FAILURE_POLICY: ' throw ' }, pick: (c) => c.enforcement.failurePolicy, expected: 'throw' },
  ])('configFromEnv reads $label', ({ env, pick, expected }) => {
    expect(pick(configFromEnv(env))).toBe(expected);
  });

  it.each<{ variable: string; value: string }>([
    { variable: 'TOKEN_STATS_LEASE_MS', value: 'abc' },
    { variable: 'TOKEN_STATS_LEASE_MS', value: '0' },
    { variable: 'TOKEN_STATS_LEASE_MS', value: '-1' },
    { variable: 'TOKEN_STATS_LEASE_MS', value: '1.5' },
    { variable: 'TOKEN_STATS_LEASE_MS', value: '5m' },
    { variable: 'TOKEN_STATS_LEASE_MS', value: '1e3' },
    { variable: 'TOKEN_STATS_LEASE_MS', value: '86400001' },
    { variable: 'TOKEN_STATS_DEDUPE_WINDOW_MS', value: 'abc' },
    { variable: 'TOKEN_STATS_DEDUPE_WINDOW_MS', value: '0' },
    { variable: 'TOKEN_STATS_DEDUPE_WINDOW_MS', value: '-5' },
    { variable: 'TOKEN_STATS_DEDUPE_WINDOW_MS', value: '2592000001' },
    { variable: 'TOKEN_STATS_DEDUPE_WINDOW_MS', value: '99999999999999999999' },
    { variable: 'TOKEN_STATS_FAILURE_POLICY', value: 'open' },
    { variable: 'TOKEN_STATS_FAILURE_POLICY', value: 'fail_open' },
    { variable: 'TOKEN_STATS_FAILURE_POLICY', value: 'failopen' },
    { variable: 'TOKEN_STATS_FAILURE_POLICY', value: 'closed' },
  ])('configFromEnv rejects $variable=$value with a ConfigError naming the variable', ({ variable, value }) => {
    const e = expectConfigError(() => configFromEnv({ [variable]: value }), variable);
    expect(e.message).toContain(variable);
  });

  it('names the variable and the range in the message of an out-of-range lease', () => {
    const e = expectConfigError(() => configFromEnv({ TOKEN_STATS_LEASE_MS: '0' }), 'TOKEN_STATS_LEASE_MS');
    expect(e.message).toBe('TOKEN_STATS_LEASE_MS: must be a whole number from 1 to 86400000, got 0');
  });

  it('lists the policies, lower-cased, in the message of a bad failure policy', () => {
    const e = expectConfigError(() => configFromEnv({ TOKEN_STATS_FAILURE_POLICY: 'Open' }), 'TOKEN_STATS_FAILURE_POLICY');
    expect(e.message).toBe('TOKEN_STATS_FAILURE_POLICY: must be one of fail-closed, fail-open, throw, got "open"');
  });

  it('treats empty and whitespace-only values as unset', () => {
    const blank = { TOKEN_STATS_LEASE_MS: '', TOKEN_STATS_DEDUPE_WINDOW_MS: '  ', TOKEN_STATS_FAILURE_POLICY: '\t' };
    expect(configFromEnv(blank).enforcement).toEqual(DEFAULT_CONFIG.enforcement);
  });
});

describe('Redis Cluster seed nodes', () => {
  it('REDIS_CLUSTER_NODES lists host:port seeds, and needs hash tags', () => {
    expect(configFromEnv({ REDIS_CLUSTER_NODES: '127.0.0.1:7000, 127.0.0.1:7001', TOKEN_STATS_HASH_TAGS: 'true' }).redis.clusterNodes).toEqual([
      { host: '127.0.0.1', port: 7000 },
      { host: '127.0.0.1', port: 7001 },
    ]);
    expect(() => configFromEnv({ REDIS_CLUSTER_NODES: '127.0.0.1:7000' })).toThrow(/TOKEN_STATS_HASH_TAGS.*must be on/);
  });

  it('refuses a seed that is not host:port, naming the variable', () => {
    for (const bad of ['127.0.0.1', '127.0.0.1:0', 'a:b', ':7000', '127.0.0.1:70000']) {
      expect(() => configFromEnv({ REDIS_CLUSTER_NODES: bad, TOKEN_STATS_HASH_TAGS: 'true' })).toThrow(ConfigError);
      expect(() => configFromEnv({ REDIS_CLUSTER_NODES: bad, TOKEN_STATS_HASH_TAGS: 'true' })).toThrow(/REDIS_CLUSTER_NODES/);
    }
  });

  it('resolveConfig takes { host, port } objects or strings; none by default', () => {
    expect(resolveConfig({}).redis.clusterNodes).toEqual([]);
    expect(
      resolveConfig({ hashTags: true, redis: { clusterNodes: [{ host: 'a', port: 1 }, 'b:2'] } }).redis.clusterNodes,
    ).toEqual([
      { host: 'a', port: 1 },
      { host: 'b', port: 2 },
    ]);
    expect(() => resolveConfig({ hashTags: true, redis: { clusterNodes: [{ host: 'a', port: -1 }] } })).toThrow(/redis.clusterNodes/);
  });
});

describe('WAIT-based durability', () => {
  it('TOKEN_STATS_MIN_REPLICAS_ACK and its timeout; the timeout must stay below the command timeout', () => {
    expect(configFromEnv({ TOKEN_STATS_MIN_REPLICAS_ACK: '1', TOKEN_STATS_REPLICA_ACK_TIMEOUT_MS: '500' }).redis).toMatchObject({
      minReplicasAck: 1,
      replicaAckTimeoutMs: 500,
    });
    expect(() => configFromEnv({ TOKEN_STATS_MIN_REPLICAS_ACK: 'one' })).toThrow(/TOKEN_STATS_MIN_REPLICAS_ACK/);
    expect(() => configFromEnv({ TOKEN_STATS_MIN_REPLICAS_ACK: '1', REDIS_COMMAND_TIMEOUT_MS: '800' })).toThrow(
      /TOKEN_STATS_REPLICA_ACK_TIMEOUT_MS.*below the command timeout/,
    );
  });
});
