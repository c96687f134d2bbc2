import { describe, expect, it } from 'vitest';
import { InMemoryUsageStore } from '../../src/adapters/memory/in-memory-usage-store.js';
import { AlertMonitor, alertThresholds, DEFAULT_ALERT_THRESHOLDS } from '../../src/domain/alert-monitor.js';
import { CycleCalendar, cycleStart } from '../../src/domain/billing-cycle.js';
import { ConfigError, StoreUnavailableError } from '../../src/domain/errors.js';
import { tokenCount, usageLimit } from '../../src/domain/token-count.js';
import { userId } from '../../src/domain/user-id.js';
import type { AlertSink, UsageAlert } from '../../src/ports/alert-sink.js';
import { FakeClock } from '../support/fake-clock.js';
import { RecordingLogger } from '../support/recording-logger.js';

class CollectingSink implements AlertSink {
  readonly alerts: UsageAlert[] = [];
  async deliver(alert: UsageAlert): Promise<void> {
    this.alerts.push(alert);
  }
}

function setup(sinks: AlertSink[] = [new CollectingSink()]) {
  const clock = new FakeClock('2024-01-15T12:00:00Z');
  const store = new InMemoryUsageStore({ clock });
  const calendar = new CycleCalendar(clock, { policy: 'monthly', timeZone: 'UTC', retentionCycles: 3 });
  const logger = new RecordingLogger();
  const monitor = new AlertMonitor(store, calendar, { sinks }, clock, logger);
  const cycle = calendar.resolve();
  const record = (tokens: number, user = 'u') =>
    store.recordUsage({
      userId: userId(user),
      cycle,
      promptTokens: tokenCount(tokens),
      completionTokens: tokenCount(0),
      otherTokens: tokenCount(0),
      idempotencyKeys: [],
      dedupeWindowMs: 1_000,
      releaseLease: null,
      rollupDay: calendar.rollupDay(cycle.start),
    });
  const limit = (value: number, user = 'u') => store.setLimit({ userId: userId(user), limit: usageLimit(value), cycle: null });
  return { store, monitor, logger, record, limit, clock, sink: sinks[0] as CollectingSink };
}

const levels = (alerts: readonly UsageAlert[]) => alerts.map((alert) => alert.level);

describe('AlertMonitor', () => {
  it('fires 80 % info, 95 % warning and 100 % critical once each, with the numbers', async () => {
    const { monitor, record, limit, sink } = setup();
    await limit(1_000);
    await record(799);
    expect(await monitor.observe('u')).toEqual([]);
    await record(1);
    const [info] = await monitor.observe('u');
    expect(info).toEqual({
      id: `u|2024-01-01|0.8|${Date.parse('2024-01-15T12:00:00Z')}`,
      userId: 'u',
      cycleStartDate: '2024-01-01',
      level: 'info',
      threshold: 0.8,
      currentUsage: 800,
      limit: 1_000,
      usageRatio: 0.8,
      remaining: 200,
      at: Date.parse('2024-01-15T12:00:00Z'),
    });
    expect(await monitor.observe('u')).toEqual([]); // already fired
    await record(150);
    expect(levels(await monitor.observe('u'))).toEqual(['warning']);
    await record(100);
    expect(levels(await monitor.observe('u'))).toEqual(['critical']);
    await monitor.idle();
    expect(levels(sink.alerts)).toEqual(['info', 'warning', 'critical']);
  });

  it('a jump over several thresholds fires each of them once', async () => {
    const { monitor, record, limit } = setup();
    await limit(100);
    await record(500);
    expect(levels(await monitor.observe('u'))).toEqual(['info', 'warning', 'critical']);
    expect(await monitor.observe('u')).toEqual([]);
  });

  it('fires once however many observers race for the same crossing', async () => {
    const { monitor, record, limit, sink } = setup();
    await limit(1_000);
    await record(850);
    const results = await Promise.all(Array.from({ length: 50 }, () => monitor.observe('u')));
    expect(results.flat()).toHaveLength(1);
    await monitor.idle();
    expect(sink.alerts).toHaveLength(1);
  });

  it('a usage reset re-arms every threshold', async () => {
    const { monitor, record, limit, store } = setup();
    await limit(100);
    await record(100);
    expect(levels(await monitor.observe('u'))).toEqual(['info', 'warning', 'critical']);
    await store.resetUsage({ userId: userId('u'), cycle: cycleStart('2024-01-01') });
    await record(85); // crosses 80 % again straight after the reset
    expect(levels(await monitor.observe('u'))).toEqual(['info']);
  });

  it('raising the limit re-arms the thresholds above the new level, and only those', async () => {
    const { monitor, record, limit } = setup();
    await limit(100);
    await record(96);
    expect(levels(await monitor.observe('u'))).toEqual(['info', 'warning']);
    await limit(110); // 96 / 110 = 87 %: 80 % stays fired, 95 % is re-armed
    expect(await monitor.observe('u')).toEqual([]);
    await record(9); // 105 / 110 = 95.5 %
    expect(levels(await monitor.observe('u'))).toEqual(['warning']);
  });

  it('fires nothing without a limit', async () => {
    const { monitor, record } = setup();
    await record(1_000_000);
    expect(await monitor.observe('u')).toEqual([]);
  });

  it('a failing sink is logged and never fails the observation; other sinks still get the alert', async () => {
    const good = new CollectingSink();
    const failing: AlertSink = { deliver: async () => Promise.reject(new Error('webhook down')) };
    const throwing: AlertSink = {
      deliver: () => {
        throw new Error('sync throw');
      },
    };
    const { monitor, record, limit, logger } = setup([failing, throwing, good]);
    await limit(10);
    await record(10);
    expect(await monitor.observe('u')).toHaveLength(3);
    await monitor.idle();
    expect(good.alerts).toHaveLength(3);
    expect(logger.lines.filter((line) => line.level === 'error')).toHaveLength(6);
  });

  it('a store failure is logged and reported as no alerts, not thrown', async () => {
    const { monitor, store, logger } = setup();
    store.syncThresholds = async () => {
      throw new StoreUnavailableError('syncThresholds', 'down');
    };
    expect(await monitor.observe('u')).toEqual([]);
    expect(logger.lines.some((line) => line.level === 'warn')).toBe(true);
  });

  it('validates thresholds', () => {
    expect(alertThresholds(DEFAULT_ALERT_THRESHOLDS).map((t) => t.ratio)).toEqual([0.8, 0.95, 1]);
    expect(alertThresholds([{ ratio: 1, level: 'critical' }, { ratio: 0.5, level: 'info' }]).map((t) => t.ratio)).toEqual([0.5, 1]);
    for (const bad of [[], [{ ratio: 0, level: 'info' }], [{ ratio: 11, level: 'info' }], [{ ratio: 0.5, level: 'loud' }], [
      { ratio: 0.5, level: 'info' },
      { ratio: 0.5, level: 'warning' },
    ]]) {
      expect(() => alertThresholds(bad as never)).toThrow(ConfigError);
    }
  });
});
