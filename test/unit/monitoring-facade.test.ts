import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  CallbackAlertSink,
  ConfigError,
  createTokenUsageRepository,
  InMemoryUsageStore,
  type UsageAlert,
} from '../../src/index.js';
import { FakeClock } from '../support/fake-clock.js';
import { SwitchableStore } from '../support/failing-store.js';
import { RecordingLogger } from '../support/recording-logger.js';

function repository(config: Parameters<typeof createTokenUsageRepository>[0] = {}) {
  const alerts: UsageAlert[] = [];
  const logger = new RecordingLogger();
  const repo = createTokenUsageRepository({
    config: { store: 'memory', alerts: { enabled: true } },
    clock: new FakeClock('2024-01-15T12:00:00Z'),
    logger,
    alertSinks: [new CallbackAlertSink((alert) => void alerts.push(alert))],
    ...config,
  });
  return { repo, alerts, logger };
}

describe('monitoring through the facade', () => {
  it('recording paths report the thresholds they crossed and the sinks receive them once', async () => {
    const { repo, alerts } = repository();
    await repo.setUsageLimit('u', 1_000);
    expect((await repo.incrementDetailedUsage('u', 500, 200))?.alerts).toEqual([]);
    const crossing = await repo.incrementDetailedUsage('u', 100, 0);
    expect(crossing?.alerts.map((alert) => alert.level)).toEqual(['info']);
    expect((await repo.incrementTotalUsage('u', 10))?.alerts).toEqual([]);
    const reservation = await repo.reserve('u', 50);
    if (!reservation.granted) throw new Error('denied');
    expect((await repo.commit(reservation.reservation, { promptTokens: 150 })).alerts.map((a) => a.level)).toEqual(['warning']);
    await repo.alertsIdle();
    expect(alerts.map((alert) => alert.level)).toEqual(['info', 'warning']);
  });

  it('lowering a limit below the usage fires at once; reset re-arms', async () => {
    const { repo, alerts } = repository();
    await repo.incrementTotalUsage('u', 90);
    await repo.setUsageLimit('u', 100);
    await repo.alertsIdle();
    expect(alerts.map((alert) => alert.level)).toEqual(['info']);
    await repo.resetUsage('u');
    expect((await repo.incrementTotalUsage('u', 96))?.alerts.map((a) => a.level)).toEqual(['info', 'warning']);
  });

  it('a guarded call that crosses a threshold delivers the alert', async () => {
    const { repo, alerts } = repository();
    await repo.setUsageLimit('u', 100);
    await repo.guard('u', { estimateTokens: 50 }, async () => ({ usage: { prompt_tokens: 70, completion_tokens: 15 } }));
    await repo.alertsIdle();
    expect(alerts.map((alert) => alert.level)).toEqual(['info']);
  });

  it('with alerts off, records carry no alerts and sweeping is a ConfigError', async () => {
    const repo = createTokenUsageRepository({ config: { store: 'memory' }, logger: new RecordingLogger() });
    await repo.setUsageLimit('u', 10);
    expect((await repo.incrementTotalUsage('u', 100))?.alerts).toEqual([]);
    await expect(repo.sweepAlerts()).rejects.toBeInstanceOf(ConfigError);
  });

  it('healthCheck reports healthy with the store, its version and the latency; unhealthy once the store is closed', async () => {
    const store = new InMemoryUsageStore();
    const repo = createTokenUsageRepository({ config: { store: 'memory' }, store, logger: new RecordingLogger() });
    const healthy = await repo.healthCheck();
    expect(healthy).toMatchObject({ status: 'healthy', store: 'memory', storeVersion: 'in-process', version: '0.1.0' });
    expect(healthy.latencyMs).toBeGreaterThanOrEqual(0);
    await store.close();
    expect(await repo.healthCheck()).toMatchObject({ status: 'unhealthy', store: null, error: 'probe: the in-memory store is closed' });
  });

  it('a health probe that never answers is unhealthy after the timeout, not a hang', async () => {
    const store = new InMemoryUsageStore();
    (store as unknown as { probe: () => Promise<never> }).probe = () => new Promise<never>(() => undefined);
    const repo = createTokenUsageRepository({ config: { store: 'memory', healthTimeoutMs: 20 }, store, logger: new RecordingLogger() });
    expect(await repo.healthCheck()).toMatchObject({ status: 'unhealthy', error: 'no answer within 20 ms' });
  });

  it('metrics() exposes tokens, operations, errors and alerts without any user label', async () => {
    const registry = new Registry();
    const { repo } = repository({ registry });
    await repo.setUsageLimit('secret-user', 100);
    await repo.incrementDetailedUsage('secret-user', 60, 25);
    await repo.incrementDetailedUsage('secret-user', 1, 1, undefined, { idempotencyKey: 'k' });
    await repo.incrementDetailedUsage('secret-user', 1, 1, undefined, { idempotencyKey: 'k' });
    await repo.incrementTotalUsage('secret-user', -1).catch(() => undefined);
    expect((await repo.reserve('secret-user', 1_000)).granted).toBe(false);
    const text = await repo.metrics();
    expect(text).toContain('token_usage_tokens_recorded_total{type="prompt"} 61');
    expect(text).toContain('token_usage_tokens_recorded_total{type="completion"} 26');
    expect(text).toContain('token_usage_operations_total{operation="record",outcome="ok"} 2');
    expect(text).toContain('token_usage_operations_total{operation="record",outcome="duplicate"} 1');
    expect(text).toContain('token_usage_operations_total{operation="record",outcome="invalid"} 1');
    expect(text).toContain('token_usage_operations_total{operation="reserve",outcome="denied"} 1');
    expect(text).toContain('token_usage_alerts_fired_total{level="info"} 1');
    expect(text).toContain('token_usage_operation_duration_seconds_count{operation="record"} 4');
    expect(text).not.toContain('secret-user');
    expect(await registry.metrics()).toBe(text); // the host's registry holds them
  });

  it('recordBuffered writes on flush and on close', async () => {
    const store = new SwitchableStore(new InMemoryUsageStore());
    store.close = async () => undefined; // keep the data readable after the repository closes
    const repo = createTokenUsageRepository({
      config: { store: 'memory', buffer: { flushIntervalMs: 3_600_000, maxBatchRecords: 10_000 } },
      store,
      logger: new RecordingLogger(),
    });
    await Promise.all(Array.from({ length: 300 }, () => repo.recordBuffered({ userId: 'u', promptTokens: 1, totalTokens: 3 })));
    expect((await repo.getUsageStats('u')).totalTokens).toBe(0);
    await repo.flush();
    expect(await repo.getUsageStats('u')).toEqual({ promptTokens: 300, completionTokens: 0, totalTokens: 900 });
    await repo.recordBuffered({ userId: 'u', completionTokens: 5 });
    await expect(repo.recordBuffered({ userId: 'u', promptTokens: 2, totalTokens: 1 })).rejects.toMatchObject({
      name: 'ValidationError',
      field: 'totalTokens',
    });
    await repo.close();
    expect((await store.inner.readUsage({ userId: 'u' as never, cycle: new Date().toISOString().slice(0, 8).concat('01') as never })).completionTokens).toBe(5);
    await expect(repo.recordBuffered({ userId: 'u', promptTokens: 1 })).rejects.toMatchObject({ code: 'USAGE.STORE_UNAVAILABLE' });
  });

  it('verifyConsistency on the in-memory store finds nothing to repair', async () => {
    const { repo } = repository();
    await repo.incrementDetailedUsage('u', 5, 5);
    await repo.incrementTotalUsage('v', 5);
    const report = await repo.verifyConsistency();
    expect(report.scanned).toBe(2);
    expect(report.findings).toEqual([]);
    expect((await repo.verifyConsistency({ userId: 'u' })).findings).toEqual([]);
  });

  it('the cache answers only reads that allow staleness', async () => {
    const clock = new FakeClock('2024-01-15T12:00:00Z');
    const store = new InMemoryUsageStore({ clock });
    const repo = createTokenUsageRepository({ config: { store: 'memory', cache: { ttlMs: 60_000 } }, store, clock, logger: new RecordingLogger() });
    const other = createTokenUsageRepository({ config: { store: 'memory' }, store, clock, logger: new RecordingLogger() });
    await repo.incrementTotalUsage('u', 10);
    expect((await repo.getUsageStats('u', undefined, { allowStale: true })).totalTokens).toBe(10);
    await other.incrementTotalUsage('u', 5); // a write that bypasses the cache
    expect((await repo.getUsageStats('u', undefined, { allowStale: true })).totalTokens).toBe(10);
    expect((await repo.getUsageStats('u')).totalTokens).toBe(15);
    clock.advance(60_001);
    await other.incrementTotalUsage('u', 5);
    expect((await repo.getUsageStats('u', undefined, { allowStale: true })).totalTokens).toBe(20);
  });
});
