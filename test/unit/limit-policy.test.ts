import { beforeEach, describe, expect, it, vi } from 'vitest';
import { InMemoryUsageStore } from '../../src/adapters/memory/in-memory-usage-store.js';
import { CycleCalendar, cycleStart } from '../../src/domain/billing-cycle.js';
import { effectiveLimit, limitCheck, LimitPolicy } from '../../src/domain/limit-policy.js';
import type { LimitCheck } from '../../src/domain/limit-policy.js';
import { UsageAccounting } from '../../src/domain/usage-accounting.js';
import { userId } from '../../src/domain/user-id.js';
import type { UsageSnapshot } from '../../src/ports/usage-store.js';
import { FakeClock } from '../support/fake-clock.js';
import { RecordingLogger } from '../support/recording-logger.js';

function snapshot(overrides: Partial<UsageSnapshot> = {}): UsageSnapshot {
  return {
    promptTokens: 0,
    completionTokens: 0,
    totalTokens: 0,
    cycleLimit: null,
    standingLimit: null,
    reservedTokens: 0,
    ...overrides,
  };
}

const NO_LIMIT = (usage: number): LimitCheck => ({
  exceeded: false,
  currentUsage: usage,
  limit: 0,
  remaining: Number.POSITIVE_INFINITY,
});

describe('effectiveLimit', () => {
  it.each([
    { label: 'no limits', cycleLimit: null, standingLimit: null, expected: null },
    { label: 'standing only', cycleLimit: null, standingLimit: 100, expected: 100 },
    { label: 'override only', cycleLimit: 50, standingLimit: null, expected: 50 },
    { label: 'override below standing', cycleLimit: 50, standingLimit: 100, expected: 50 },
    { label: 'override above standing', cycleLimit: 500, standingLimit: 100, expected: 500 },
  ])('$label → $expected', ({ cycleLimit, standingLimit, expected }) => {
    expect(effectiveLimit({ cycleLimit, standingLimit })).toBe(expected);
  });
});

describe('limitCheck', () => {
  it.each<{ label: string; snapshot: UsageSnapshot; expected: LimitCheck }>([
    { label: 'no limit, no usage', snapshot: snapshot(), expected: NO_LIMIT(0) },
    { label: 'no limit, heavy usage', snapshot: snapshot({ totalTokens: 1_000_000_000 }), expected: NO_LIMIT(1_000_000_000) },
    {
      label: 'usage below the standing limit',
      snapshot: snapshot({ totalTokens: 99, standingLimit: 100 }),
      expected: { exceeded: false, currentUsage: 99, limit: 100, remaining: 1 },
    },
    {
      label: 'no usage against a limit',
      snapshot: snapshot({ standingLimit: 100 }),
      expected: { exceeded: false, currentUsage: 0, limit: 100, remaining: 100 },
    },
    {
      label: 'usage exactly at the limit counts as exceeded',
      snapshot: snapshot({ totalTokens: 100, standingLimit: 100 }),
      expected: { exceeded: true, currentUsage: 100, limit: 100, remaining: 0 },
    },
    {
      label: 'usage above the limit: remaining stays 0',
      snapshot: snapshot({ totalTokens: 150, standingLimit: 100 }),
      expected: { exceeded: true, currentUsage: 150, limit: 100, remaining: 0 },
    },
    {
      label: 'a lower cycle override beats the standing limit',
      snapshot: snapshot({ totalTokens: 60, cycleLimit: 50, standingLimit: 100 }),
      expected: { exceeded: true, currentUsage: 60, limit: 50, remaining: 0 },
    },
    {
      label: 'a higher cycle override beats the standing limit',
      snapshot: snapshot({ totalTokens: 150, cycleLimit: 200, standingLimit: 100 }),
      expected: { exceeded: false, currentUsage: 150, limit: 200, remaining: 50 },
    },
    {
      label: 'a cycle override alone',
      snapshot: snapshot({ totalTokens: 9, cycleLimit: 10 }),
      expected: { exceeded: false, currentUsage: 9, limit: 10, remaining: 1 },
    },
    {
      label: 'the standing limit when there is no override',
      snapshot: snapshot({ totalTokens: 30, cycleLimit: null, standingLimit: 40 }),
      expected: { exceeded: false, currentUsage: 30, limit: 40, remaining: 10 },
    },
    {
      label: 'usage is the total, not prompt + completion',
      snapshot: snapshot({ promptTokens: 1, completionTokens: 1, totalTokens: 80, standingLimit: 100 }),
      expected: { exceeded: false, currentUsage: 80, limit: 100, remaining: 20 },
    },
    {
      // Reservations are for reserve/canConsume: check reports recorded usage only.
      label: 'reserved tokens do not count as usage',
      snapshot: snapshot({ totalTokens: 60, standingLimit: 100, reservedTokens: 40 }),
      expected: { exceeded: false, currentUsage: 60, limit: 100, remaining: 40 },
    },
    {
      label: 'reserved tokens alone never exceed the limit',
      snapshot: snapshot({ standingLimit: 100, reservedTokens: 500 }),
      expected: { exceeded: false, currentUsage: 0, limit: 100, remaining: 100 },
    },
    {
      label: 'reserved tokens without a limit',
      snapshot: snapshot({ totalTokens: 5, reservedTokens: 50 }),
      expected: NO_LIMIT(5),
    },
    {
      label: 'limits up to MAX_SAFE_INTEGER',
      snapshot: snapshot({ totalTokens: 1, standingLimit: Number.MAX_SAFE_INTEGER }),
      expected: { exceeded: false, currentUsage: 1, limit: Number.MAX_SAFE_INTEGER, remaining: Number.MAX_SAFE_INTEGER - 1 },
    },
  ])('$label', ({ snapshot: s, expected }) => {
    expect(limitCheck(s)).toEqual(expected);
  });

  it('reports limit 0 and an infinite remaining when no limit applies', () => {
    const result = limitCheck(snapshot({ totalTokens: 5 }));
    expect(result.limit).toBe(0);
    expect(result.remaining).toBe(Number.POSITIVE_INFINITY);
    expect(result.exceeded).toBe(false);
  });
});

describe('LimitPolicy with the in-memory store', () => {
  let clock: FakeClock;
  let store: InMemoryUsageStore;
  let limits: LimitPolicy;
  let accounting: UsageAccounting;

  beforeEach(() => {
    clock = new FakeClock('2024-01-15T12:00:00Z'); // current monthly cycle: 2024-01-01
    store = new InMemoryUsageStore({ clock });
    const calendar = new CycleCalendar(clock, { policy: 'monthly', timeZone: 'UTC', retentionCycles: 3 });
    limits = new LimitPolicy(
      store,
      calendar,
      { leaseMs: 60_000, dedupeWindowMs: 86_400_000, failurePolicy: 'fail-closed' },
      clock,
      new RecordingLogger(),
    );
    accounting = new UsageAccounting(store, calendar, { dedupeWindowMs: 86_400_000 });
  });

  it('has no limit before one is set', async () => {
    expect(await limits.check('alice')).toEqual(NO_LIMIT(0));
  });

  it('without a date sets the standing limit for every cycle', async () => {
    const spy = vi.spyOn(store, 'setLimit');
    await limits.setLimit('alice', 100);
    expect(spy).toHaveBeenCalledExactlyOnceWith({ userId: 'alice', limit: 100, cycle: null });

    for (const cycle of [undefined, '2024-01-01', '2023-06-01', '2030-12-01', '2024-05-17']) {
      expect(await limits.check('alice', cycle)).toEqual({ exceeded: false, currentUsage: 0, limit: 100, remaining: 100 });
    }
    clock.set('2024-07-04T00:00:00Z'); // a later current cycle
    expect(await limits.check('alice')).toMatchObject({ limit: 100 });
  });

  it('with a null date sets the standing limit', async () => {
    const spy = vi.spyOn(store, 'setLimit');
    await limits.setLimit('alice', 70, null);
    expect(spy).toHaveBeenCalledExactlyOnceWith({ userId: 'alice', limit: 70, cycle: null });
    expect(await limits.check('alice', '2022-02-01')).toMatchObject({ limit: 70 });
  });

  it('with a date overrides that cycle only', async () => {
    const spy = vi.spyOn(store, 'setLimit');
    await limits.setLimit('alice', 50, '2024-02-01');
    expect(spy).toHaveBeenCalledExactlyOnceWith({
      userId: 'alice',
      limit: 50,
      // a future cycle: kept 3 nominal months after its end + a day of slack
      cycle: { start: '2024-02-01', retainUntil: Date.parse('2024-02-01T00:00:00Z') + (32 + 93) * 86_400_000 },
    });

    expect(await limits.check('alice', '2024-02-01')).toEqual({ exceeded: false, currentUsage: 0, limit: 50, remaining: 50 });
    expect(await limits.check('alice', '2024-01-01')).toEqual(NO_LIMIT(0));
    expect(await limits.check('alice', '2024-03-01')).toEqual(NO_LIMIT(0));
    expect(await limits.check('alice')).toEqual(NO_LIMIT(0));
  });

  it('a cycle override beats the standing limit in that cycle only', async () => {
    await limits.setLimit('alice', 100);
    await limits.setLimit('alice', 20, '2024-01-01');
    await accounting.record({ userId: 'alice', promptTokens: 15, completionTokens: 10 });
    await accounting.record({ userId: 'alice', promptTokens: 25, cycleStartDate: '2023-12-01' });

    expect(await limits.check('alice')).toEqual({ exceeded: true, currentUsage: 25, limit: 20, remaining: 0 });
    expect(await limits.check('alice', '2023-12-01')).toEqual({ exceeded: false, currentUsage: 25, limit: 100, remaining: 75 });
  });

  it('counts unattributed tokens toward the limit', async () => {
    await limits.setLimit('alice', 100);
    await accounting.record({ userId: 'alice', promptTokens: 30, unattributedTokens: 70 });
    expect(await limits.check('alice')).toEqual({ exceeded: true, currentUsage: 100, limit: 100, remaining: 0 });
  });

  it('setting the standing limit to 0 removes it', async () => {
    await limits.setLimit('alice', 100);
    await accounting.record({ userId: 'alice', promptTokens: 500 });
    await limits.setLimit('alice', 0);
    expect(await limits.check('alice')).toEqual(NO_LIMIT(500));
  });

  it('setting a cycle override to 0 removes it, so the standing limit applies again', async () => {
    await limits.setLimit('alice', 100);
    await limits.setLimit('alice', 10, '2024-01-01');
    expect(await limits.check('alice')).toMatchObject({ limit: 10 });
    await limits.setLimit('alice', 0, '2024-01-01');
    expect(await limits.check('alice')).toMatchObject({ limit: 100 });
  });

  it('removing the standing limit keeps cycle overrides', async () => {
    await limits.setLimit('alice', 100);
    await limits.setLimit('alice', 10, '2024-01-01');
    await limits.setLimit('alice', 0);
    expect(await limits.check('alice')).toMatchObject({ limit: 10 });
    expect(await limits.check('alice', '2023-12-01')).toEqual(NO_LIMIT(0));
  });

  it('a new value replaces the old one', async () => {
    await limits.setLimit('alice', 100);
    await limits.setLimit('alice', 300);
    expect(await limits.check('alice')).toMatchObject({ limit: 300, remaining: 300 });
  });

  it('keeps limits per user', async () => {
    await limits.setLimit('alice', 100);
    await limits.setLimit('bob', 5, '2024-01-01');
    expect(await limits.check('alice')).toMatchObject({ limit: 100 });
    expect(await limits.check('bob')).toMatchObject({ limit: 5 });
    expect(await limits.check('carol')).toEqual(NO_LIMIT(0));
  });

  it('check counts recorded usage only, not live reservations', async () => {
    await limits.setLimit('alice', 100);
    await accounting.record({ userId: 'alice', promptTokens: 30 });
    const reserved = await limits.reserve('alice', 50);
    expect(reserved.granted).toBe(true);
    expect(await store.readUsage({ userId: userId('alice'), cycle: cycleStart('2024-01-01') })).toMatchObject({
      totalTokens: 30,
      reservedTokens: 50,
    });
    expect(await limits.check('alice')).toEqual({ exceeded: false, currentUsage: 30, limit: 100, remaining: 70 });
  });

  it('check reads the current cycle from the clock', async () => {
    await limits.setLimit('alice', 10, '2024-02-01');
    expect(await limits.check('alice')).toMatchObject({ limit: 0 });
    clock.set('2024-02-01T00:00:00Z');
    expect(await limits.check('alice')).toMatchObject({ limit: 10 });
  });
});
