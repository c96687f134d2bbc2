import { describe, expect, it } from 'vitest';
import { InMemoryUsageStore } from '../../src/adapters/memory/in-memory-usage-store.js';
import { cycleStart } from '../../src/domain/billing-cycle.js';
import type { CycleStart } from '../../src/domain/billing-cycle.js';
import { FakeClock } from '../support/fake-clock.js';
import { aCycle, aUsageRecord, aUserId } from '../support/mothers.js';

/*
 * The in-memory store keeps users per cycle and remembers the rollup day it wrote last (the common
 * case of a record): these check that the shortcuts never change what is stored.
 */

const JAN = cycleStart('2024-01-01');
const FEB = cycleStart('2024-02-01');
const day = (date: string): CycleStart => cycleStart(date);

describe('InMemoryUsageStore record path', () => {
  it('adds to the right day when records go back and forth between days', async () => {
    const store = new InMemoryUsageStore({ clock: new FakeClock('2024-01-15T12:00:00Z') });
    const user = aUserId();
    const cycle = aCycle(JAN, null);
    for (const [rollupDay, prompt] of [
      ['2024-01-14', 1],
      ['2024-01-15', 10],
      ['2024-01-15', 20],
      ['2024-01-14', 100], // a late write to the day before
      ['2024-01-15', 1_000],
    ] as const) {
      await store.recordUsage(aUsageRecord({ userId: user, cycle, prompt, completion: 0, rollupDay: day(rollupDay) }));
    }
    expect(store.dailyUsage(user, JAN)).toEqual([
      { day: '2024-01-14', promptTokens: 101, completionTokens: 0, totalTokens: 101 },
      { day: '2024-01-15', promptTokens: 1_030, completionTokens: 0, totalTokens: 1_030 },
    ]);
  });

  it('starts the rollup afresh after a reset', async () => {
    const store = new InMemoryUsageStore({ clock: new FakeClock('2024-01-15T12:00:00Z') });
    const user = aUserId();
    const record = aUsageRecord({ userId: user, cycle: aCycle(JAN, null), prompt: 7, completion: 3, rollupDay: day('2024-01-15') });
    await store.recordUsage(record);
    await store.resetUsage({ userId: user, cycle: JAN });
    expect(store.dailyUsage(user, JAN)).toEqual([]);
    await store.recordUsage(record);
    expect(store.dailyUsage(user, JAN)).toEqual([{ day: '2024-01-15', promptTokens: 7, completionTokens: 3, totalTokens: 10 }]);
  });

  it('keeps each of a user\'s cycles apart and drops an expired one, then records it anew', async () => {
    const clock = new FakeClock('2024-02-10T00:00:00Z');
    const store = new InMemoryUsageStore({ clock });
    const user = aUserId();
    const other = aUserId();
    await store.recordUsage(aUsageRecord({ userId: user, cycle: aCycle(JAN, clock.now() + 1_000), prompt: 1, completion: 0 }));
    await store.recordUsage(aUsageRecord({ userId: user, cycle: aCycle(FEB, null), prompt: 2, completion: 0 }));
    await store.recordUsage(aUsageRecord({ userId: other, cycle: aCycle(JAN, null), prompt: 4, completion: 0 }));
    const totals = (): Record<string, string> =>
      Object.fromEntries([...store.inspectRecords()].map((r) => [`${r.userId === user ? 'user' : 'other'} ${r.cycle}`, r.fields['total_tokens'] as string]));
    expect(totals()).toEqual({ 'user 2024-01-01': '1', 'user 2024-02-01': '2', 'other 2024-01-01': '4' });
    clock.advance(1_000); // the user's January is past its retention
    expect(totals()).toEqual({ 'user 2024-02-01': '2', 'other 2024-01-01': '4' });
    expect((await store.readUsage({ userId: user, cycle: JAN })).totalTokens).toBe(0);
    const outcome = await store.recordUsage(aUsageRecord({ userId: user, cycle: aCycle(JAN, null), prompt: 8, completion: 0 }));
    expect(outcome.counters.totalTokens).toBe(8);
    expect(store.dailyUsage(user, JAN)).toEqual([{ day: '2024-01-01', promptTokens: 8, completionTokens: 0, totalTokens: 8 }]);
  });

  it('forgets a user whose only cycle expired', async () => {
    const clock = new FakeClock('2024-01-10T00:00:00Z');
    const store = new InMemoryUsageStore({ clock });
    const user = aUserId();
    await store.recordUsage(aUsageRecord({ userId: user, cycle: aCycle(JAN, clock.now() + 10), prompt: 5, completion: 0 }));
    clock.advance(10);
    expect((await store.readUsage({ userId: user, cycle: JAN })).totalTokens).toBe(0);
    expect([...store.inspectRecords()]).toEqual([]);
    expect(await store.alertedCycles(user)).toEqual([]);
  });
});
