import { afterEach, describe, expect, it, vi } from 'vitest';
import { InMemoryUsageStore } from '../../src/adapters/memory/in-memory-usage-store.js';
import { BufferedUsageRecorder } from '../../src/application/buffered-usage-recorder.js';
import type { BufferedRecorderOptions } from '../../src/application/buffered-usage-recorder.js';
import { CycleCalendar } from '../../src/domain/billing-cycle.js';
import { CorruptUsageDataError, StoreUnavailableError, ValidationError } from '../../src/domain/errors.js';
import { UsageAccounting } from '../../src/domain/usage-accounting.js';
import type { RecordUsageCommand, UsageStore } from '../../src/ports/usage-store.js';
import { FakeClock } from '../support/fake-clock.js';
import { SwitchableStore } from '../support/failing-store.js';
import { RecordingLogger } from '../support/recording-logger.js';

const CYCLE = '2024-01-01';
const open: BufferedUsageRecorder[] = [];

/** Counts batches and remembers every command the inner store was sent. */
class CountingStore extends SwitchableStore {
  batches: RecordUsageCommand[][] = [];
  /** Apply the next batch, then fail as if the reply was lost. */
  loseNextReply = false;

  override async recordUsageBatch(commands: readonly RecordUsageCommand[]) {
    this.batches.push([...commands]);
    const results = await super.recordUsageBatch(commands);
    if (this.loseNextReply) {
      this.loseNextReply = false;
      throw new StoreUnavailableError('recordUsageBatch', 'Connection is closed (reply lost after apply)');
    }
    return results;
  }
}

function setup(options: Partial<BufferedRecorderOptions> = {}) {
  const clock = new FakeClock('2024-01-15T12:00:00Z');
  const store = new CountingStore(new InMemoryUsageStore({ clock }));
  const calendar = new CycleCalendar(clock, { policy: 'monthly', timeZone: 'UTC', retentionCycles: 3 });
  const accounting = new UsageAccounting(store, calendar, { dedupeWindowMs: 86_400_000 });
  const logger = new RecordingLogger();
  const recorder = new BufferedUsageRecorder(
    store,
    accounting,
    { flushIntervalMs: 3_600_000, retryBaseDelayMs: 1, retryMaxDelayMs: 5, ...options },
    logger,
  );
  open.push(recorder);
  const total = async (user: string) => (await accounting.stats(user, CYCLE)).totalTokens;
  return { store, accounting, recorder, logger, total };
}

afterEach(async () => {
  for (const recorder of open.splice(0)) await recorder.close({ timeoutMs: 1_000 }).catch(() => undefined);
});

describe('BufferedUsageRecorder', () => {
  it('keeps the records of each local day in their own sum, so the daily rollup puts usage on the day it was recorded', async () => {
    const clock = new FakeClock('2024-01-15T23:59:30Z');
    const memory = new InMemoryUsageStore({ clock });
    const calendar = new CycleCalendar(clock, { policy: 'monthly', timeZone: 'UTC', retentionCycles: 3 });
    const accounting = new UsageAccounting(memory, calendar, { dedupeWindowMs: 86_400_000 });
    const recorder = new BufferedUsageRecorder(memory, accounting, { flushIntervalMs: 3_600_000 }, new RecordingLogger());
    open.push(recorder);
    await recorder.record({ userId: 'night-owl', promptTokens: 3, completionTokens: 1 });
    clock.advance(60_000); // past midnight, same cycle, same buffer
    await recorder.record({ userId: 'night-owl', promptTokens: 5, completionTokens: 2 });
    await recorder.flush();
    const days = memory.dailyUsage('night-owl' as never, '2024-01-01' as never);
    expect(days).toEqual([
      { day: '2024-01-15', promptTokens: 3, completionTokens: 1, totalTokens: 4 },
      { day: '2024-01-16', promptTokens: 5, completionTokens: 2, totalTokens: 7 },
    ]);
    expect((await accounting.stats('night-owl', CYCLE)).totalTokens).toBe(11);
  });

  it('coalesces with its DEFAULT options: 50,000 records of 10,000 users become 10,000 sums, flushed on the interval', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const clock = new FakeClock('2024-01-15T12:00:00Z');
      const store = new CountingStore(new InMemoryUsageStore({ clock }));
      const calendar = new CycleCalendar(clock, { policy: 'monthly', timeZone: 'UTC', retentionCycles: 3 });
      const accounting = new UsageAccounting(store, calendar, { dedupeWindowMs: 86_400_000 });
      const recorder = new BufferedUsageRecorder(store, accounting, {}, new RecordingLogger());
      open.push(recorder);
      const users = 10_000;
      for (let round = 0; round < 5; round += 1) {
        await Promise.all(
          Array.from({ length: users }, (_, i) => recorder.record({ userId: `u${i}`, promptTokens: 100, completionTokens: 50 })),
        );
      }
      expect(store.batches).toHaveLength(0); // no count trigger below a million records
      expect(recorder.pendingRecords).toBe(50_000);
      vi.advanceTimersByTime(1_000);
      await recorder.flush();
      expect(store.batches).toHaveLength(1);
      expect(store.batches[0]).toHaveLength(users);
      for (const user of ['u0', 'u4321', 'u9999']) expect((await accounting.stats(user, CYCLE)).totalTokens).toBe(750);
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps records with a caller key apart, each claiming its own key, beside the merged sum', async () => {
    const { recorder, store, total } = setup();
    await recorder.record({ userId: 'k', promptTokens: 1, completionTokens: 0 });
    await recorder.record({ userId: 'k', promptTokens: 2, completionTokens: 0, idempotencyKey: 'a' });
    await recorder.record({ userId: 'k', promptTokens: 4, completionTokens: 0, idempotencyKey: 'b' });
    await recorder.record({ userId: 'k', promptTokens: 8, completionTokens: 0 });
    await recorder.flush();
    expect(store.batches[0]).toHaveLength(3);
    expect(await total('k')).toBe(15);
    await recorder.record({ userId: 'k', promptTokens: 2, completionTokens: 0, idempotencyKey: 'a' }); // a retry
    await recorder.flush();
    expect(await total('k')).toBe(15);
  });

  it('sums records per user and cycle and writes each flush as one batch', async () => {
    const { recorder, store, total } = setup({ maxBatchRecords: 10_000 });
    await Promise.all(
      Array.from({ length: 900 }, (_, i) => recorder.record({ userId: `u${i % 3}`, promptTokens: 2, completionTokens: 1 })),
    );
    expect(store.batches).toHaveLength(0);
    expect(recorder.pendingRecords).toBe(900);
    await recorder.flush();
    expect(store.batches).toHaveLength(1);
    expect(store.batches[0]).toHaveLength(3);
    for (const user of ['u0', 'u1', 'u2']) expect(await total(user)).toBe(900);
    expect(recorder.pendingRecords).toBe(0);
  });

  it('flushes by itself when maxBatchRecords records are buffered, and on its interval', async () => {
    const { recorder, store } = setup({ maxBatchRecords: 50 });
    for (let i = 0; i < 50; i += 1) await recorder.record({ userId: 'u', promptTokens: 1 });
    await recorder.flush(); // waits for the flush the 50th record started
    expect(store.batches.length).toBe(1);
    const timed = setup({ flushIntervalMs: 5 });
    await timed.recorder.record({ userId: 'u', promptTokens: 1 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(timed.store.batches.length).toBeGreaterThanOrEqual(1);
    expect(await timed.total('u')).toBe(1);
  });

  it('keeps a failed batch and retries it until the store is back; nothing is lost', async () => {
    const { recorder, store, total, logger } = setup();
    store.down = true;
    for (let i = 0; i < 100; i += 1) await recorder.record({ userId: `u${i % 10}`, completionTokens: 3 });
    const flushed = recorder.flush();
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(logger.lines.some((line) => line.level === 'warn' && line.message?.includes('retrying'))).toBe(true);
    store.down = false;
    await flushed;
    for (let i = 0; i < 10; i += 1) expect(await total(`u${i}`)).toBe(30);
  });

  it('a flush applied but reported as failed is retried with the same keys and counted once', async () => {
    const { recorder, store, total } = setup();
    for (let i = 0; i < 20; i += 1) await recorder.record({ userId: 'u', promptTokens: 5 });
    await recorder.record({ userId: 'v', promptTokens: 7, idempotencyKey: 'resp-1' });
    store.loseNextReply = true;
    await recorder.flush();
    expect(store.batches).toHaveLength(2);
    expect(store.batches[1]?.map((c) => c.idempotencyKeys)).toEqual(store.batches[0]?.map((c) => c.idempotencyKeys));
    expect(await total('u')).toBe(100);
    expect(await total('v')).toBe(7);
  });

  it('a sum whose retried flush finds its generated key claimed (the lost attempt landed) is still reported written', async () => {
    const clock = new FakeClock('2024-01-15T12:00:00Z');
    const store = new CountingStore(new InMemoryUsageStore({ clock }));
    const calendar = new CycleCalendar(clock, { policy: 'monthly', timeZone: 'UTC', retentionCycles: 3 });
    const accounting = new UsageAccounting(store, calendar, { dedupeWindowMs: 86_400_000 });
    const written: string[] = [];
    const recorder = new BufferedUsageRecorder(store, accounting, { flushIntervalMs: 3_600_000, retryBaseDelayMs: 1 }, new RecordingLogger(), {
      onWritten: (command) => written.push(command.userId),
    });
    open.push(recorder);
    await recorder.record({ userId: 'u', promptTokens: 5 });
    await recorder.record({ userId: 'v', promptTokens: 7, idempotencyKey: 'resp-1' });
    store.loseNextReply = true;
    await recorder.flush();
    // Both came back duplicate on the retry; both writes are reported (the alert check is idempotent).
    expect(written).toEqual(['u', 'v']);
    expect((await accounting.stats('u', CYCLE)).totalTokens).toBe(5);
  });

  it('counts a caller idempotency key once, within the buffer and across flushes', async () => {
    const { recorder, total } = setup();
    await recorder.record({ userId: 'u', promptTokens: 5, idempotencyKey: 'resp-1' });
    await recorder.record({ userId: 'u', promptTokens: 5, idempotencyKey: 'resp-1' });
    await recorder.flush();
    await recorder.record({ userId: 'u', promptTokens: 5, idempotencyKey: 'resp-1' });
    await recorder.record({ userId: 'u', promptTokens: 5, idempotencyKey: 'resp-2' });
    await recorder.flush();
    expect(await total('u')).toBe(10);
  });

  it('applies backpressure at the high-water mark instead of growing while the store is down', async () => {
    const { recorder, store, total } = setup({ highWaterMark: 10 });
    store.down = true;
    for (let i = 0; i < 10; i += 1) await recorder.record({ userId: `u${i}`, promptTokens: 1 });
    let accepted = false;
    const blocked = recorder.record({ userId: 'u10', promptTokens: 1 }).then(() => {
      accepted = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(accepted).toBe(false);
    expect(recorder.pendingRecords).toBe(10);
    store.down = false;
    await blocked;
    await recorder.close();
    for (let i = 0; i <= 10; i += 1) expect(await total(`u${i}`)).toBe(1);
  });

  it('close() during a burst flushes everything', async () => {
    const { recorder, total } = setup({ maxBatchRecords: 7 });
    const burst = Array.from({ length: 1_000 }, (_, i) => recorder.record({ userId: `u${i % 13}`, promptTokens: 1 }));
    await Promise.all(burst);
    await recorder.close();
    let sum = 0;
    for (let i = 0; i < 13; i += 1) sum += await total(`u${i}`);
    expect(sum).toBe(1_000);
    await expect(recorder.record({ userId: 'u', promptTokens: 1 })).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('close({ timeoutMs }) rejects, saying how many records are unflushed, when the store stays down', async () => {
    const { recorder, store, logger } = setup();
    store.down = true;
    await recorder.record({ userId: 'u', promptTokens: 1 });
    await recorder.record({ userId: 'v', promptTokens: 1 });
    await expect(recorder.close({ timeoutMs: 30 })).rejects.toThrow('2 records are still unflushed');
    expect(logger.lines.some((line) => line.level === 'error' && line.fields['pendingRecords'] === 2)).toBe(true);
    store.down = false;
  });

  it('keeps a record the store refuses for good in deadLetters and writes the rest', async () => {
    const { recorder, store, total } = setup();
    const inner = store.inner as UsageStore;
    const original = inner.recordUsageBatch.bind(inner);
    inner.recordUsageBatch = async (commands) => {
      const results = await original(commands.filter((c) => c.userId !== 'bad'));
      return commands.map((c) =>
        c.userId === 'bad'
          ? { ok: false as const, error: new CorruptUsageDataError('k', 'total_tokens', 'corrupt') }
          : (results.shift() as (typeof results)[number]),
      );
    };
    await recorder.record({ userId: 'bad', promptTokens: 4 });
    await recorder.record({ userId: 'bad', promptTokens: 4 });
    await recorder.record({ userId: 'good', promptTokens: 4 });
    await recorder.flush();
    expect(await total('good')).toBe(4);
    expect(recorder.deadLetters()).toHaveLength(1);
    expect(recorder.deadLetters()[0]).toMatchObject({ records: 2, command: { userId: 'bad', promptTokens: 8 } });
  });

  it('runs one drain loop however many records pass the batch size: never two batches in flight', async () => {
    const { recorder, store, total } = setup({ maxBatchRecords: 10 });
    let inFlight = 0;
    let maxInFlight = 0;
    const original = store.recordUsageBatch.bind(store);
    store.recordUsageBatch = async (commands) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      try {
        await new Promise((resolve) => setTimeout(resolve, 1));
        return await original(commands);
      } finally {
        inFlight -= 1;
      }
    };
    await Promise.all(Array.from({ length: 5_000 }, (_, i) => recorder.record({ userId: `u${i % 50}`, promptTokens: 1 })));
    await recorder.flush();
    expect(maxInFlight).toBe(1);
    expect(store.batches.length).toBeLessThan(5_000 / 10);
    let sum = 0;
    for (let i = 0; i < 50; i += 1) sum += await total(`u${i}`);
    expect(sum).toBe(5_000);
  });

  it("claims a flushed sum's generated key for keyWindowMs, a caller's key for the dedupe window", async () => {
    const { recorder, store } = setup({ keyWindowMs: 60_000 });
    await recorder.record({ userId: 'u', promptTokens: 1 });
    await recorder.record({ userId: 'v', promptTokens: 1, idempotencyKey: 'resp-1' });
    await recorder.flush();
    const windows = store.batches[0]?.map((command) => [command.idempotencyKeys[0]?.slice(0, 2), command.dedupeWindowMs]);
    expect(windows).toEqual([
      ['g:', 60_000],
      ['c:', 86_400_000],
    ]);
  });

  it('rejects bad input with a ValidationError and buffers nothing', async () => {
    const { recorder } = setup();
    await expect(recorder.record({ userId: '', promptTokens: 1 })).rejects.toBeInstanceOf(ValidationError);
    await expect(recorder.record({ userId: 'u', promptTokens: -1 })).rejects.toBeInstanceOf(ValidationError);
    await recorder.record({ userId: 'u', promptTokens: 0 }); // a valid no-op
    expect(recorder.pendingRecords).toBe(0);
  });
});
