import { describe, expect, it } from 'vitest';
import { configFromEnv } from '../../src/application/env-config.js';
import { resolveConfig } from '../../src/application/config.js';
import { ConfigError } from '../../src/domain/errors.js';

describe('operations configuration (alerts, buffer, retry, cache, health)', () => {
  it('defaults: alerts off, buffer 100 records / 1 s / 10,000 entries, retry and cache off, health 2 s', () => {
    const config = resolveConfig();
    expect(config.alerts).toMatchObject({ enabled: false, thresholds: [{ ratio: 0.8 }, { ratio: 0.95 }, { ratio: 1 }] });
    expect(config.buffer).toEqual({ maxBatchRecords: 1_000_000, flushIntervalMs: 1_000, highWaterMark: 50_000, keyWindowMs: 3_600_000 });
    expect(config.retry).toEqual({ attempts: 1, baseDelayMs: 50, maxDelayMs: 2_000 });
    expect(config.cache).toEqual({ ttlMs: 0, maxEntries: 10_000 });
    expect(config.healthTimeoutMs).toBe(2_000);
  });

  it('reads every variable', () => {
    const config = configFromEnv({
      TOKEN_STATS_ALERTS: 'true',
      TOKEN_STATS_ALERT_THRESHOLDS: '0.5:info, 0.9:WARNING,1.2:critical',
      TOKEN_STATS_ALERT_WEBHOOK_URL: 'https://hooks.example.test/usage',
      TOKEN_STATS_ALERT_WEBHOOK_SECRET: 's3cret',
      TOKEN_STATS_BATCH_SIZE: '250',
      TOKEN_STATS_FLUSH_INTERVAL_MS: '30000',
      TOKEN_STATS_BUFFER_HIGH_WATER_MARK: '5000',
      TOKEN_STATS_BUFFER_KEY_WINDOW_MS: '600000',
      TOKEN_STATS_RETRY_ATTEMPTS: '5',
      TOKEN_STATS_RETRY_BASE_DELAY_MS: '20',
      TOKEN_STATS_RETRY_MAX_DELAY_MS: '1000',
      TOKEN_STATS_CACHE_TTL_MS: '300000',
      TOKEN_STATS_CACHE_MAX_ENTRIES: '500',
      TOKEN_STATS_HEALTH_TIMEOUT_MS: '750',
    });
    expect(config.alerts).toEqual({
      enabled: true,
      thresholds: [
        { ratio: 0.5, level: 'info' },
        { ratio: 0.9, level: 'warning' },
        { ratio: 1.2, level: 'critical' },
      ],
      webhookUrl: 'https://hooks.example.test/usage',
      webhookSecret: 's3cret',
    });
    expect(config.buffer).toEqual({ maxBatchRecords: 250, flushIntervalMs: 30_000, highWaterMark: 5_000, keyWindowMs: 600_000 });
    expect(config.retry).toEqual({ attempts: 5, baseDelayMs: 20, maxDelayMs: 1_000 });
    expect(config.cache).toEqual({ ttlMs: 300_000, maxEntries: 500 });
    expect(config.healthTimeoutMs).toBe(750);
  });

  it('a webhook URL turns alerts on unless they are explicitly off', () => {
    expect(configFromEnv({ TOKEN_STATS_ALERT_WEBHOOK_URL: 'http://127.0.0.1:9/x' }).alerts.enabled).toBe(true);
    expect(
      configFromEnv({ TOKEN_STATS_ALERT_WEBHOOK_URL: 'http://127.0.0.1:9/x', TOKEN_STATS_ALERTS: 'false' }).alerts.enabled,
    ).toBe(false);
  });

  it.each([
    ['TOKEN_STATS_ALERTS', 'maybe'],
    ['TOKEN_STATS_ALERT_THRESHOLDS', '80%'],
    ['TOKEN_STATS_ALERT_THRESHOLDS', '0.8:loud'],
    ['TOKEN_STATS_ALERT_THRESHOLDS', '0.8:info,0.8:warning'],
    ['TOKEN_STATS_ALERT_THRESHOLDS', '0:info'],
    ['TOKEN_STATS_ALERT_WEBHOOK_URL', 'ftp://x/y'],
    ['TOKEN_STATS_ALERT_WEBHOOK_URL', 'not a url'],
    ['TOKEN_STATS_BATCH_SIZE', '0'],
    ['TOKEN_STATS_FLUSH_INTERVAL_MS', 'soon'],
    ['TOKEN_STATS_BUFFER_HIGH_WATER_MARK', '0'],
    ['TOKEN_STATS_BUFFER_KEY_WINDOW_MS', '10'],
    ['TOKEN_STATS_RETRY_ATTEMPTS', '0'],
    ['TOKEN_STATS_RETRY_BASE_DELAY_MS', '3000'], // above the default 2000 ms maximum
    ['TOKEN_STATS_CACHE_TTL_MS', '-1'],
    ['TOKEN_STATS_CACHE_MAX_ENTRIES', '0'],
    ['TOKEN_STATS_HEALTH_TIMEOUT_MS', '0'],
  ])('%s=%s is a ConfigError naming the variable', (variable, value) => {
    const error = (() => {
      try {
        configFromEnv({ [variable]: value });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
  });

  it('never echoes the webhook URL or secret in an error', () => {
    try {
      configFromEnv({ TOKEN_STATS_ALERT_WEBHOOK_URL: 'ftp://user:hunter2@x/y', TOKEN_STATS_ALERT_WEBHOOK_SECRET: 'sekret' });
    } catch (error) {
      expect(String((error as Error).message)).not.toContain('hunter2');
    }
  });
});
