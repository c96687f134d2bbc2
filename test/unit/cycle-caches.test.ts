import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CycleCalendar, cycleStart } from '../../src/domain/billing-cycle.js';
import type { CycleCalendarOptions, CyclePolicy } from '../../src/domain/billing-cycle.js';
import { ValidationError } from '../../src/domain/errors.js';
import { FakeClock } from '../support/fake-clock.js';

/*
 * The record path caches the resolved cycle (until the cycle's end bound) and the dates that passed
 * `cycleStart`. A cache must never answer differently from a fresh computation: these tests compare a
 * long-lived calendar, asked again and again as its fake clock moves, with a new calendar per instant.
 */

const ZONES = ['UTC', 'America/New_York', 'Europe/Berlin', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'Pacific/Chatham', 'Pacific/Kiritimati'];
const POLICIES: readonly CyclePolicy[] = ['monthly', 'weekly', 'daily'];

function fresh(options: CycleCalendarOptions, at: number): CycleCalendar {
  return new CycleCalendar(new FakeClock(at), options);
}

describe('CycleCalendar.resolve cache', () => {
  it('answers as a fresh calendar at every instant, across boundaries, DST and clock moves back', () => {
    // Instants near local midnights: a UTC hour and minute at the turn of a month or day, plus a few seconds.
    const instant = fc
      .record({
        year: fc.integer({ min: 2024, max: 2026 }),
        month: fc.integer({ min: 0, max: 11 }),
        day: fc.constantFrom(1, 2, 28, 29, 30, 31),
        hour: fc.integer({ min: 0, max: 23 }),
        minute: fc.constantFrom(0, 15, 30, 45, 59),
        ms: fc.integer({ min: -2_000, max: 2_000 }),
      })
      .map(({ year, month, day, hour, minute, ms }) => Date.UTC(year, month, day, hour, minute) + ms);
    const steps = fc.array(
      fc.oneof(fc.integer({ min: 0, max: 120_000 }), fc.integer({ min: -3_600_000, max: 3_600_000 }), fc.integer({ min: 0, max: 20 * 86_400_000 })),
      { maxLength: 30 },
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES),
        fc.constantFrom(...POLICIES),
        fc.constantFrom(0, 1, 3),
        instant,
        steps,
        fc.constantFrom('current', 'previous', 'old'),
        (timeZone, policy, retentionCycles, start, moves, which) => {
          const options = { policy, timeZone, retentionCycles };
          const clock = new FakeClock(start);
          const cached = new CycleCalendar(clock, options);
          // One date for the whole run, so the cache is asked again as the clock moves: the current
          // cycle, the one before (whose end bound the clock may cross) or an old one.
          const date = which === 'current' ? undefined : which === 'previous' ? fresh(options, start - 9 * 86_400_000).currentStart() : '2023-06-01';
          for (const move of [0, ...moves]) {
            clock.advance(move);
            const expected = fresh(options, clock.now());
            const cycle = cached.resolve(date);
            expect(cycle).toEqual(expected.resolve(date));
            expect(cached.rollupDay(cycle.start)).toBe(expected.rollupDay(cycle.start));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('moves to the next cycle at the first instant of the new local month (Berlin, the day DST starts)', () => {
    // 2024-03-31 is the DST switch in Berlin; April starts at 2024-03-31T22:00:00Z (00:00 CEST).
    const clock = new FakeClock('2024-03-31T21:59:59.999Z');
    const calendar = new CycleCalendar(clock, { policy: 'monthly', timeZone: 'Europe/Berlin', retentionCycles: 3 });
    expect(calendar.resolve().start).toBe('2024-03-01');
    expect(calendar.resolve().start).toBe('2024-03-01');
    clock.advance(1);
    expect(calendar.resolve().start).toBe('2024-04-01');
    expect(calendar.resolve()).toEqual(fresh({ policy: 'monthly', timeZone: 'Europe/Berlin', retentionCycles: 3 }, clock.now()).resolve());
  });

  it('moves to the next day at local midnight after a 23-hour day (New York, daily)', () => {
    // 2024-03-10 has 23 hours in New York: it starts at 05:00Z (EST) and ends at 2024-03-11T04:00:00Z (EDT).
    const clock = new FakeClock('2024-03-11T03:59:59.999Z');
    const calendar = new CycleCalendar(clock, { policy: 'daily', timeZone: 'America/New_York', retentionCycles: 3 });
    expect(calendar.resolve().start).toBe('2024-03-10');
    clock.advance(1);
    expect(calendar.resolve().start).toBe('2024-03-11');
    clock.set('2024-03-11T03:00:00Z'); // a clock stepped back: the earlier answer again, not the cached one
    expect(calendar.resolve().start).toBe('2024-03-10');
  });

  it('keeps a late write to a past cycle for the full retention from now: no stale retainUntil', () => {
    const clock = new FakeClock('2024-05-10T00:00:00Z');
    const calendar = new CycleCalendar(clock, { policy: 'monthly', timeZone: 'UTC', retentionCycles: 2 });
    const first = calendar.resolve('2024-01-01');
    clock.advance(1_000);
    const second = calendar.resolve('2024-01-01');
    expect(second.retainUntil).toBe((first.retainUntil as number) + 1_000);
    expect(second.retainUntil).toBe(calendar.retainUntil('2024-01-01' as never));
  });

  it('holds the current cycle retention fixed until the end bound, then follows now', () => {
    const clock = new FakeClock('2024-01-15T00:00:00Z');
    const calendar = new CycleCalendar(clock, { policy: 'daily', timeZone: 'UTC', retentionCycles: 1 });
    const cycle = calendar.resolve('2024-01-15');
    // The end bound of a daily cycle: start + one day + a day of slack.
    const bound = Date.parse('2024-01-17T00:00:00Z');
    clock.set(bound);
    expect(calendar.resolve('2024-01-15')).toBe(cycle); // the same frozen answer
    clock.advance(1);
    expect(calendar.resolve('2024-01-15').retainUntil).toBe(bound + 1 + 86_400_000);
  });

  it('does not reuse an answer computed past the end bound when the clock steps back before it', () => {
    const clock = new FakeClock('2024-01-17T00:00:10Z'); // 10 s past the end bound of 2024-01-15 (daily)
    const options = { policy: 'daily', timeZone: 'UTC', retentionCycles: 1 } as const;
    const calendar = new CycleCalendar(clock, options);
    calendar.resolve('2024-01-15');
    clock.set('2024-01-16T12:00:00Z');
    expect(calendar.resolve('2024-01-15')).toEqual(fresh(options, clock.now()).resolve('2024-01-15'));
  });

  it('returns frozen cycles', () => {
    const calendar = new CycleCalendar(new FakeClock(), { policy: 'monthly', timeZone: 'UTC', retentionCycles: 3 });
    const cycle = calendar.resolve();
    expect(Object.isFrozen(cycle)).toBe(true);
    expect(() => {
      (cycle as { start: string }).start = '1999-01-01';
    }).toThrow(TypeError);
    expect(calendar.resolve().start).toBe('2024-01-01');
  });

  it('keeps calendars of different time zones apart on one clock', () => {
    const clock = new FakeClock('2024-01-31T12:00:00Z'); // already February 1 on Kiritimati (UTC+14)
    const utc = new CycleCalendar(clock, { policy: 'monthly', timeZone: 'UTC', retentionCycles: 3 });
    const kiritimati = new CycleCalendar(clock, { policy: 'monthly', timeZone: 'Pacific/Kiritimati', retentionCycles: 3 });
    for (let i = 0; i < 3; i++) {
      expect(utc.resolve().start).toBe('2024-01-01');
      expect(kiritimati.resolve().start).toBe('2024-02-01');
    }
  });
});

describe('cycleStart validity cache', () => {
  it('accepts a date it has seen and keeps refusing an invalid one', () => {
    expect(cycleStart('2024-02-29')).toBe('2024-02-29');
    for (let i = 0; i < 3; i++) {
      expect(() => cycleStart('2023-02-29')).toThrow(ValidationError);
      expect(cycleStart('2024-02-29')).toBe('2024-02-29');
    }
  });

  it('refuses a non-string with the same text as a cached date', () => {
    expect(cycleStart('2024-01-01')).toBe('2024-01-01');
    expect(() => cycleStart(new String('2024-01-01'))).toThrow(ValidationError);
    expect(() => cycleStart({ toString: () => '2024-01-01' })).toThrow(ValidationError);
  });

  it('stays correct past its bound (thousands of distinct dates)', () => {
    const base = Date.UTC(2000, 0, 1);
    const dates = Array.from({ length: 6_000 }, (_, i) => new Date(base + i * 86_400_000).toISOString().slice(0, 10));
    for (const date of dates) expect(cycleStart(date)).toBe(date);
    expect(cycleStart(dates[0])).toBe(dates[0]);
    expect(() => cycleStart('2001-02-29')).toThrow(ValidationError);
    expect(() => cycleStart('2000-13-01')).toThrow(ValidationError);
  });
});
