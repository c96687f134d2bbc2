import { describe, expect, it } from 'vitest';
import { InMemoryUsageStore } from '../../src/adapters/memory/in-memory-usage-store.js';
import { BufferedUsageRecorder, LazyRecorder } from '../../src/application/buffered-usage-recorder.js';
import { CycleCalendar } from '../../src/domain/billing-cycle.js';
import { isUsageError } from '../../src/domain/errors.js';
import { UsageAccounting } from '../../src/domain/usage-accounting.js';
import type { RecordUsageCommand } from '../../src/ports/usage-store.js';
import { FakeClock } from '../support/fake-clock.js';
import { RecordingLogger } from '../support/recording-logger.js';

function recorderWith(onWritten?: (command: RecordUsageCommand) => unknown) {
  const clock = new FakeClock('2024-01-15T12:00:00Z');
  const store = new InMemoryUsageStore({ clock });
  const calendar = new CycleCalendar(clock, { policy: 'monthly', timeZone: 'UTC', retentionCycles: 3 });
  const accounting = new UsageAccounting(store, calendar, { dedupeWindowMs: 86_400_000 });
  const create = () =>
    new BufferedUsageRecorder(store, accounting, { flushIntervalMs: 3_600_000 }, new RecordingLogger(), {
      ...(onWritten === undefined ? {} : { onWritten }),
    });
  return { create, accounting };
}

describe('BufferedUsageRecorder.close and follow-up work', () => {
  it('close() resolves only after the promise onWritten returned for the final flush has settled', async () => {
    let release: () => void = () => undefined;
    const followUp = new Promise<void>((resolve) => (release = resolve));
    const { create } = recorderWith(() => followUp);
    const recorder = create();
    await recorder.record({ userId: 'u', promptTokens: 5 });
    let closed = false;
    const closing = recorder.close().then(() => (closed = true));
    for (let i = 0; i < 20; i += 1) await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    release();
    await closing;
    expect(closed).toBe(true);
  });

  it('a follow-up that throws or rejects is logged and does not block close()', async () => {
    const { create } = recorderWith(() => {
      throw new Error('boom');
    });
    const recorder = create();
    await recorder.record({ userId: 'u', promptTokens: 5 });
    await expect(recorder.close()).resolves.toBeUndefined();
  });

  it.each([[null], [undefined], [42], [{ userId: 'u', promptTokens: 1, extra: 1 }]])('record(%j) is a ValidationError, buffering nothing', async (input) => {
    const recorder = recorderWith().create();
    const error = await recorder.record(input as never).catch((e: unknown) => e);
    expect(isUsageError(error, 'USAGE.INVALID_OPTION')).toBe(true);
    expect(recorder.pendingRecords).toBe(0);
    await recorder.close();
  });

  it('close({ timeoutMs: -1 }) is INVALID_OPTION', async () => {
    const recorder = recorderWith().create();
    await expect(recorder.close({ timeoutMs: -1 })).rejects.toMatchObject({ code: 'USAGE.INVALID_OPTION' });
    await recorder.close();
  });
});

describe('LazyRecorder after close', () => {
  it('never builds a recorder once closed: get() throws StoreUnavailableError', async () => {
    const { create } = recorderWith();
    const lazy = new LazyRecorder(create);
    await lazy.close();
    expect(lazy.current).toBeUndefined();
    let error: unknown;
    try {
      lazy.get();
    } catch (e) {
      error = e;
    }
    expect(isUsageError(error, 'USAGE.STORE_UNAVAILABLE')).toBe(true);
  });

  it('a recorder built before close keeps rejecting records after it', async () => {
    const lazy = new LazyRecorder(recorderWith().create);
    const recorder = lazy.get();
    await lazy.close();
    expect(lazy.get()).toBe(recorder);
    await expect(recorder.record({ userId: 'u', promptTokens: 1 })).rejects.toMatchObject({ code: 'USAGE.STORE_UNAVAILABLE' });
  });
});
