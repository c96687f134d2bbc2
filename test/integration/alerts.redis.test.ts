import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RedisUsageStore } from '../../src/adapters/redis/redis-usage-store.js';
import { systemClock } from '../../src/adapters/system-clock.js';
import { AlertMonitor } from '../../src/domain/alert-monitor.js';
import { CycleCalendar } from '../../src/domain/billing-cycle.js';
import { UsageAccounting } from '../../src/domain/usage-accounting.js';
import type { AlertSink, UsageAlert } from '../../src/ports/alert-sink.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { describeRedis, uniquePrefix } from '../support/redis.js';
import { rawRedis, realRedisStore } from '../support/redis-store.js';

describeRedis('alert thresholds on real Redis', () => {
  const prefix = uniquePrefix();
  const alerts: UsageAlert[] = [];
  const sink: AlertSink = { deliver: async (alert) => void alerts.push(alert) };
  const calendar = new CycleCalendar(systemClock, { policy: 'monthly', timeZone: 'UTC', retentionCycles: 3 });
  let stores: RedisUsageStore[];
  let raw: Redis;

  /** One "process": its own connection, accounting and monitor. */
  const processes = () =>
    stores.map((store) => ({
      store,
      accounting: new UsageAccounting(store, calendar, { dedupeWindowMs: 60_000 }),
      monitor: new AlertMonitor(store, calendar, { sinks: [sink] }, systemClock, new RecordingLogger()),
    }));

  beforeAll(() => {
    stores = Array.from({ length: 5 }, () => realRedisStore({ prefix, hashTags: true }));
    raw = rawRedis();
  });

  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    raw.disconnect();
  });

  it('50 concurrent recorders in 5 processes crossing 80 % at the same moment fire one alert', async () => {
    const procs = processes();
    const [first] = procs;
    await first?.store.setLimit({ userId: 'race' as never, limit: 1_000 as never, cycle: null });
    await first?.accounting.record({ userId: 'race', promptTokens: 790 });
    alerts.length = 0;
    const fired = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const proc = procs[i % procs.length] as (typeof procs)[number];
        await proc.accounting.record({ userId: 'race', promptTokens: 1 });
        return proc.monitor.observe('race');
      }),
    );
    await Promise.all(procs.map((proc) => proc.monitor.idle()));
    expect(fired.flat().map((alert) => alert.level)).toEqual(['info']);
    expect(alerts).toHaveLength(1);
    const cycle = calendar.currentStart();
    expect(await raw.hgetall(`${prefix}:{race}:${cycle}:alerts`)).toEqual({ '800000': '1' });
    expect(await raw.ttl(`${prefix}:{race}:${cycle}:alerts`)).toBeGreaterThan(0);
  });

  it('a reset re-arms (the claims go in the same MULTI as the counters) and a limit change re-arms above the new level', async () => {
    const [proc] = processes();
    if (proc === undefined) throw new Error('no process');
    await proc.store.setLimit({ userId: 'rearm' as never, limit: 100 as never, cycle: null });
    await proc.accounting.record({ userId: 'rearm', promptTokens: 96 });
    expect((await proc.monitor.observe('rearm')).map((a) => a.level)).toEqual(['info', 'warning']);
    await proc.accounting.reset('rearm');
    await proc.accounting.record({ userId: 'rearm', promptTokens: 81 });
    expect((await proc.monitor.observe('rearm')).map((a) => a.level)).toEqual(['info']);
    await proc.accounting.record({ userId: 'rearm', promptTokens: 15 });
    expect((await proc.monitor.observe('rearm')).map((a) => a.level)).toEqual(['warning']);
    await proc.store.setLimit({ userId: 'rearm' as never, limit: 110 as never, cycle: null });
    expect(await proc.monitor.observe('rearm')).toEqual([]); // 96 / 110: warning re-armed, info stays fired
    await proc.accounting.record({ userId: 'rearm', promptTokens: 9 });
    expect((await proc.monitor.observe('rearm')).map((a) => a.level)).toEqual(['warning']);
  });

  it('the health probe uses its own key and reports the server version', async () => {
    const [store] = stores;
    const health = await store?.probe();
    expect(health?.store).toBe('redis');
    expect(health?.version).toMatch(/^\d+\.\d+/);
    expect(await raw.exists(`${prefix}:__health__`)).toBe(1);
    expect(await raw.keys(`${prefix}:*health*`)).toEqual([`${prefix}:__health__`]);
  });
});
