import { describe, expect, it } from 'vitest';
import { cycleStart, CycleCalendar } from '../../src/domain/billing-cycle.js';
import { addDays, addMonths, datesBetween, daysBetween, localDate, startOfDay } from '../../src/domain/calendar-days.js';
import { FakeClock } from '../support/fake-clock.js';

const d = (value: string) => cycleStart(value);
const iso = (ms: number) => new Date(ms).toISOString();

describe('calendar days', () => {
  it('adds days and months across month and leap-year ends', () => {
    expect(addDays(d('2024-02-28'), 1)).toBe('2024-02-29');
    expect(addDays(d('2024-03-01'), -1)).toBe('2024-02-29');
    expect(addMonths(d('2024-01-31'), 1)).toBe('2024-02-29');
    expect(addMonths(d('2023-01-31'), 1)).toBe('2023-02-28');
    expect(addMonths(d('2024-12-01'), 1)).toBe('2025-01-01');
    expect(daysBetween(d('2024-01-01'), d('2025-01-01'))).toBe(366);
    expect(datesBetween(d('2024-02-28'), d('2024-03-01'))).toEqual(['2024-02-28', '2024-02-29', '2024-03-01']);
    expect(datesBetween(d('2024-03-01'), d('2024-02-28'))).toEqual([]);
  });

  it('finds local midnight in zones with offsets, half-hour offsets and DST changes', () => {
    expect(iso(startOfDay(d('2024-06-01'), 'UTC'))).toBe('2024-06-01T00:00:00.000Z');
    expect(iso(startOfDay(d('2024-06-01'), 'Europe/Berlin'))).toBe('2024-05-31T22:00:00.000Z');
    expect(iso(startOfDay(d('2024-01-01'), 'Europe/Berlin'))).toBe('2023-12-31T23:00:00.000Z');
    expect(iso(startOfDay(d('2024-03-31'), 'Europe/Berlin'))).toBe('2024-03-30T23:00:00.000Z'); // DST starts at 02:00 that day
    expect(iso(startOfDay(d('2024-04-01'), 'Europe/Berlin'))).toBe('2024-03-31T22:00:00.000Z');
    expect(iso(startOfDay(d('2024-06-01'), 'Asia/Kolkata'))).toBe('2024-05-31T18:30:00.000Z');
    expect(iso(startOfDay(d('2024-06-01'), 'America/Los_Angeles'))).toBe('2024-06-01T07:00:00.000Z');
    // Santiago skips midnight when DST starts (00:00 -> 01:00 on 2024-09-08): the day starts at 01:00 local.
    expect(iso(startOfDay(d('2024-09-08'), 'America/Santiago'))).toBe('2024-09-08T04:00:00.000Z');
    expect(localDate(Date.parse('2024-09-08T04:00:00Z'), 'America/Santiago')).toBe('2024-09-08');
    expect(localDate(Date.parse('2024-09-08T03:59:59Z'), 'America/Santiago')).toBe('2024-09-07');
  });

  it('gives the local date of an instant', () => {
    expect(localDate(Date.parse('2024-03-03T23:30:00Z'), 'Europe/Berlin')).toBe('2024-03-04');
    expect(localDate(Date.parse('2024-03-03T23:30:00Z'), 'UTC')).toBe('2024-03-03');
    expect(localDate(Date.parse('2024-03-04T03:00:00Z'), 'America/New_York')).toBe('2024-03-03');
  });
});

describe('CycleCalendar rollup days', () => {
  it.each([
    ['monthly', '2024-03-01', '2024-04-01'],
    ['weekly', '2024-03-04', '2024-03-11'],
    ['daily', '2024-03-04', '2024-03-05'],
  ] as const)('%s: the cycle after %s starts on %s', (policy, start, next) => {
    const calendar = new CycleCalendar(new FakeClock(), { policy, timeZone: 'UTC', retentionCycles: 1 });
    expect(calendar.nextStart(d(start))).toBe(next);
  });

  it('clamps the rollup day into the cycle', () => {
    const clock = new FakeClock('2024-03-10T12:00:00Z');
    const calendar = new CycleCalendar(clock, { policy: 'monthly', timeZone: 'UTC', retentionCycles: 1 });
    expect(calendar.rollupDay(d('2024-03-01'))).toBe('2024-03-10');
    expect(calendar.rollupDay(d('2024-02-01'))).toBe('2024-02-29');
    expect(calendar.rollupDay(d('2024-04-01'))).toBe('2024-04-01');
    clock.set('2024-03-10T23:59:59Z');
    expect(calendar.today()).toBe('2024-03-10');
    clock.advance(1_000);
    expect(calendar.today()).toBe('2024-03-11');
  });
});
