import { describe, expect, it } from 'vitest';
import { assertTimeZone, CYCLE_POLICIES, CycleCalendar, cycleStart } from '../../src/domain/billing-cycle.js';
import type { CycleCalendarOptions, CyclePolicy } from '../../src/domain/billing-cycle.js';
import { ConfigError, isUsageError, ValidationError } from '../../src/domain/errors.js';
import { FakeClock } from '../support/fake-clock.js';

const DAY_MS = 86_400_000;
const NOMINAL_MS: Record<CyclePolicy, number> = { daily: DAY_MS, weekly: 7 * DAY_MS, monthly: 31 * DAY_MS };

function calendar(
  options: Partial<CycleCalendarOptions> = {},
  now: number | string = '2024-01-15T12:00:00Z',
): { clock: FakeClock; calendar: CycleCalendar } {
  const clock = new FakeClock(now);
  return {
    clock,
    calendar: new CycleCalendar(clock, { policy: 'monthly', timeZone: 'UTC', retentionCycles: 3, ...options }),
  };
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return expect.unreachable('expected a throw');
}

interface CycleCase {
  readonly policy: CyclePolicy;
  readonly timeZone: string;
  readonly at: string;
  readonly expected: string;
  readonly note: string;
}

describe('CycleCalendar.currentStart', () => {
  const CASES: readonly CycleCase[] = [
    // UTC month ends
    { policy: 'monthly', timeZone: 'UTC', at: '2024-01-31T23:59:59Z', expected: '2024-01-01', note: 'last second of January' },
    { policy: 'monthly', timeZone: 'UTC', at: '2024-02-01T00:00:00Z', expected: '2024-02-01', note: 'first instant of February' },
    { policy: 'monthly', timeZone: 'UTC', at: '2024-02-29T23:59:59.999Z', expected: '2024-02-01', note: 'leap day, last ms' },
    { policy: 'monthly', timeZone: 'UTC', at: '2024-12-31T23:59:59.999Z', expected: '2024-12-01', note: 'last ms of the year' },
    { policy: 'monthly', timeZone: 'UTC', at: '2025-01-01T00:00:00Z', expected: '2025-01-01', note: 'new year' },
    // UTC days and leap years
    { policy: 'daily', timeZone: 'UTC', at: '2024-02-29T12:00:00Z', expected: '2024-02-29', note: 'leap day' },
    { policy: 'daily', timeZone: 'UTC', at: '2024-02-28T23:59:59Z', expected: '2024-02-28', note: 'before a leap day' },
    { policy: 'daily', timeZone: 'UTC', at: '2024-03-01T00:00:00Z', expected: '2024-03-01', note: 'after a leap day' },
    { policy: 'daily', timeZone: 'UTC', at: '2023-02-28T23:59:59Z', expected: '2023-02-28', note: 'end of a non-leap February' },
    { policy: 'daily', timeZone: 'UTC', at: '2023-03-01T00:00:00Z', expected: '2023-03-01', note: 'no 2023-02-29' },
    { policy: 'daily', timeZone: 'UTC', at: '2000-02-29T00:00:00Z', expected: '2000-02-29', note: 'leap day of 2000' },
    // ISO weeks (Monday starts)
    { policy: 'weekly', timeZone: 'UTC', at: '2024-02-29T12:00:00Z', expected: '2024-02-26', note: 'Thursday leap day' },
    { policy: 'weekly', timeZone: 'UTC', at: '2024-03-01T12:00:00Z', expected: '2024-02-26', note: 'Friday, week spans a month end' },
    { policy: 'weekly', timeZone: 'UTC', at: '2024-03-10T23:59:59Z', expected: '2024-03-04', note: 'Sunday → previous Monday' },
    { policy: 'weekly', timeZone: 'UTC', at: '2024-03-04T00:00:00Z', expected: '2024-03-04', note: 'Monday → itself' },
    { policy: 'weekly', timeZone: 'UTC', at: '2024-03-03T23:59:59Z', expected: '2024-02-26', note: 'Sunday before that Monday' },
    { policy: 'weekly', timeZone: 'UTC', at: '2025-01-01T12:00:00Z', expected: '2024-12-30', note: 'Wednesday, week spans a year end' },
    { policy: 'weekly', timeZone: 'UTC', at: '2021-01-03T12:00:00Z', expected: '2020-12-28', note: 'Sunday, week spans a year end' },
    // Asia/Shanghai (UTC+8)
    { policy: 'monthly', timeZone: 'Asia/Shanghai', at: '2024-01-31T17:00:00Z', expected: '2024-02-01', note: 'already Feb 1 01:00 local' },
    { policy: 'monthly', timeZone: 'Asia/Shanghai', at: '2024-01-31T15:59:59Z', expected: '2024-01-01', note: 'Jan 31 23:59:59 local' },
    { policy: 'monthly', timeZone: 'Asia/Shanghai', at: '2024-01-31T16:00:00Z', expected: '2024-02-01', note: 'local midnight' },
    // America/Los_Angeles (UTC-8 in winter)
    { policy: 'monthly', timeZone: 'America/Los_Angeles', at: '2024-03-01T05:00:00Z', expected: '2024-02-01', note: 'still Feb 29 21:00 local' },
    { policy: 'monthly', timeZone: 'America/Los_Angeles', at: '2024-03-01T07:59:59Z', expected: '2024-02-01', note: 'Feb 29 23:59:59 local' },
    { policy: 'monthly', timeZone: 'America/Los_Angeles', at: '2024-03-01T08:00:00Z', expected: '2024-03-01', note: 'local midnight' },
    { policy: 'daily', timeZone: 'America/Los_Angeles', at: '2024-03-01T05:00:00Z', expected: '2024-02-29', note: 'local leap day' },
    // Pacific/Kiritimati (UTC+14, the earliest zone)
    { policy: 'monthly', timeZone: 'Pacific/Kiritimati', at: '2024-01-31T09:59:59Z', expected: '2024-01-01', note: 'Jan 31 23:59:59 local' },
    { policy: 'monthly', timeZone: 'Pacific/Kiritimati', at: '2024-01-31T10:00:00Z', expected: '2024-02-01', note: 'Feb starts 14h before UTC' },
    { policy: 'monthly', timeZone: 'Pacific/Kiritimati', at: '2024-12-31T10:00:00Z', expected: '2025-01-01', note: 'new year 14h before UTC' },
    { policy: 'weekly', timeZone: 'Pacific/Kiritimati', at: '2024-03-10T10:00:00Z', expected: '2024-03-11', note: 'UTC Sunday is local Monday' },
    { policy: 'daily', timeZone: 'Pacific/Kiritimati', at: '1994-12-31T09:59:59Z', expected: '1994-12-30', note: 'before the skipped day' },
    { policy: 'daily', timeZone: 'Pacific/Kiritimati', at: '1994-12-31T10:00:00Z', expected: '1995-01-01', note: '1994-12-31 never happened there' },
    // Pacific/Pago_Pago (UTC-11, one of the latest zones)
    { policy: 'daily', timeZone: 'Pacific/Pago_Pago', at: '2024-03-01T10:59:59Z', expected: '2024-02-29', note: 'still leap day locally' },
    { policy: 'monthly', timeZone: 'Pacific/Pago_Pago', at: '2024-03-01T10:59:59Z', expected: '2024-02-01', note: 'still February locally' },
    { policy: 'monthly', timeZone: 'Pacific/Pago_Pago', at: '2024-03-01T11:00:00Z', expected: '2024-03-01', note: 'local midnight' },
    { policy: 'monthly', timeZone: 'Pacific/Pago_Pago', at: '2025-01-01T10:59:59Z', expected: '2024-12-01', note: 'still last year locally' },
    { policy: 'weekly', timeZone: 'Pacific/Pago_Pago', at: '2024-03-04T10:59:59Z', expected: '2024-02-26', note: 'UTC Monday is local Sunday' },
    // Europe/Berlin daylight saving time
    { policy: 'daily', timeZone: 'Europe/Berlin', at: '2024-03-30T22:59:59Z', expected: '2024-03-30', note: 'spring: before local midnight (CET)' },
    { policy: 'daily', timeZone: 'Europe/Berlin', at: '2024-03-30T23:00:00Z', expected: '2024-03-31', note: 'spring: local midnight (CET)' },
    { policy: 'daily', timeZone: 'Europe/Berlin', at: '2024-03-31T01:00:00Z', expected: '2024-03-31', note: 'spring: right after 02:00 → 03:00' },
    { policy: 'daily', timeZone: 'Europe/Berlin', at: '2024-03-31T21:59:59Z', expected: '2024-03-31', note: 'spring: the 23h day ends (CEST)' },
    { policy: 'daily', timeZone: 'Europe/Berlin', at: '2024-03-31T22:00:00Z', expected: '2024-04-01', note: 'spring: next local midnight (CEST)' },
    { policy: 'daily', timeZone: 'Europe/Berlin', at: '2024-10-26T22:00:00Z', expected: '2024-10-27', note: 'autumn: local midnight (CEST)' },
    { policy: 'daily', timeZone: 'Europe/Berlin', at: '2024-10-27T22:59:59Z', expected: '2024-10-27', note: 'autumn: the 25h day ends (CET)' },
    { policy: 'daily', timeZone: 'Europe/Berlin', at: '2024-10-27T23:00:00Z', expected: '2024-10-28', note: 'autumn: next local midnight (CET)' },
  ];

  it.each(CASES)('$policy in $timeZone at $at → $expected ($note)', ({ policy, timeZone, at, expected }) => {
    const { calendar: c } = calendar({ policy, timeZone }, at);
    expect(c.currentStart()).toBe(expected);
    // The same instant passed explicitly gives the same answer, whatever the clock says.
    const { calendar: other } = calendar({ policy, timeZone }, '2000-01-01T00:00:00Z');
    expect(other.currentStart(Date.parse(at))).toBe(expected);
  });

  it('follows the clock', () => {
    const { clock, calendar: c } = calendar({ policy: 'daily' }, '2024-01-31T23:59:59.999Z');
    expect(c.currentStart()).toBe('2024-01-31');
    clock.advance(1);
    expect(c.currentStart()).toBe('2024-02-01');
  });

  it('always returns a valid cycle start that is a Monday for weekly cycles', () => {
    const { calendar: c } = calendar({ policy: 'weekly', timeZone: 'America/New_York' });
    for (let at = Date.parse('2023-12-20T00:00:00Z'); at < Date.parse('2024-01-20T00:00:00Z'); at += 5 * 3_600_000) {
      const start = c.currentStart(at);
      expect(cycleStart(start)).toBe(start);
      expect(new Date(`${start}T00:00:00Z`).getUTCDay()).toBe(1);
    }
  });

  it('offers exactly the monthly, weekly and daily policies', () => {
    expect(CYCLE_POLICIES).toEqual(['monthly', 'weekly', 'daily']);
  });
});

describe('CycleCalendar.resolve', () => {
  it.each([
    { label: 'undefined', value: undefined },
    { label: 'null', value: null },
  ])('picks the current cycle for $label', ({ value }) => {
    const { calendar: c } = calendar({ policy: 'weekly' }, '2024-03-10T12:00:00Z');
    expect(c.resolve(value).start).toBe('2024-03-04');
  });

  it('picks the current cycle without an argument', () => {
    const { calendar: c } = calendar({}, '2024-03-10T12:00:00Z');
    expect(c.resolve()).toEqual({ start: '2024-03-01', retainUntil: c.retainUntil(cycleStart('2024-03-01')) });
  });

  it('still rejects null in cycleStart itself', () => {
    expect(thrown(() => cycleStart(null))).toBeInstanceOf(ValidationError);
  });

  it.each(['monthly', 'weekly', 'daily'] as const)('uses an explicit date as given under the %s policy', (policy) => {
    const { calendar: c } = calendar({ policy });
    expect(c.resolve('2024-05-17').start).toBe('2024-05-17');
  });

  it('returns the retention of an explicit date', () => {
    const { calendar: c } = calendar({ policy: 'daily', retentionCycles: 2 }, '2024-05-17T06:00:00Z');
    expect(c.resolve('2024-05-17')).toEqual({
      start: '2024-05-17',
      retainUntil: Date.parse('2024-05-19T00:00:00Z') + 2 * DAY_MS,
    });
  });

  it.each([
    { label: "'2024-02-30'", value: '2024-02-30' },
    { label: "'' (empty is not 'current')", value: '' },
    { label: 'a number', value: 20240101 },
    { label: "'2024-05-17T00:00:00Z'", value: '2024-05-17T00:00:00Z' },
  ])('rejects $label with a ValidationError', ({ value }) => {
    const { calendar: c } = calendar();
    const error = thrown(() => c.resolve(value));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('cycleStartDate');
    expect(isUsageError(error, 'USAGE.INVALID_CYCLE_DATE')).toBe(true);
  });
});

describe('CycleCalendar construction', () => {
  it.each(['Mars/Base', 'UTC+2', '+05:00', '', 'Europe/Nowhere'])('rejects the unknown time zone %j with a ConfigError', (timeZone) => {
    const error = thrown(() => calendar({ timeZone }));
    expect(error).toBeInstanceOf(ConfigError);
    const e = error as ConfigError;
    expect(e.variable).toBe('timeZone');
    expect(e.code).toBe('USAGE.INVALID_CONFIG');
    expect(e.message).toBe(`timeZone: unknown time zone "${timeZone}"`);
    expect(e.cause).toBeInstanceOf(RangeError);
  });

  it.each(['UTC', 'Etc/GMT+5', 'Asia/Kolkata', 'America/St_Johns', 'Australia/Lord_Howe'])('accepts the time zone %s', (timeZone) => {
    expect(() => calendar({ timeZone })).not.toThrow();
  });

  it('assertTimeZone names the given variable', () => {
    const error = thrown(() => assertTimeZone('Mars/Base', 'TOKEN_STATS_TIMEZONE'));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe('TOKEN_STATS_TIMEZONE');
  });

  it.each([
    { label: 'negative', value: -1 },
    { label: 'fractional', value: 1.5 },
    { label: 'NaN', value: Number.NaN },
    { label: 'Infinity', value: Number.POSITIVE_INFINITY },
    { label: 'unsafe', value: 2 ** 53 },
  ])('rejects a $label retentionCycles with a ConfigError', ({ value }) => {
    const error = thrown(() => calendar({ retentionCycles: value }));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe('retentionCycles');
    expect(isUsageError(error, 'USAGE.INVALID_CONFIG')).toBe(true);
  });

  it('accepts retentionCycles 0', () => {
    expect(() => calendar({ retentionCycles: 0 })).not.toThrow();
  });
});

describe('CycleCalendar.retainUntil', () => {
  // The rule: retentionCycles nominal cycle lengths (1, 7, 31 days) after the later of
  // (the cycle's end as a UTC date + one day of time-zone slack) and now.
  function expectedRetainUntil(policy: CyclePolicy, start: string, now: number, retention: number): number {
    const end = Date.parse(`${start}T00:00:00Z`) + NOMINAL_MS[policy] + DAY_MS;
    return Math.max(end, now) + retention * NOMINAL_MS[policy];
  }

  it.each(['monthly', 'weekly', 'daily'] as const)('is null (keep forever) when retentionCycles is 0, %s', (policy) => {
    const { calendar: c } = calendar({ policy, retentionCycles: 0 });
    expect(c.retainUntil(cycleStart('2020-01-01'))).toBeNull();
    expect(c.retainUntil(c.currentStart())).toBeNull();
    expect(c.resolve().retainUntil).toBeNull();
    expect(c.resolve('2030-01-01').retainUntil).toBeNull();
  });

  it.each([
    { policy: 'monthly', start: '2024-01-01', now: '2024-01-15T12:00:00Z', retention: 3, expected: '2024-05-05T00:00:00Z', note: 'current month' },
    { policy: 'monthly', start: '2024-02-01', now: '2024-02-29T23:59:59Z', retention: 1, expected: '2024-04-04T00:00:00Z', note: 'current leap February' },
    { policy: 'monthly', start: '2020-01-01', now: '2024-01-15T12:00:00Z', retention: 3, expected: '2024-04-17T12:00:00Z', note: 'past month: from now' },
    { policy: 'monthly', start: '2030-01-01', now: '2024-01-15T12:00:00Z', retention: 1, expected: '2030-03-05T00:00:00Z', note: 'future month' },
    { policy: 'weekly', start: '2024-03-04', now: '2024-03-06T12:00:00Z', retention: 2, expected: '2024-03-26T00:00:00Z', note: 'current week' },
    { policy: 'weekly', start: '2024-01-01', now: '2024-03-06T12:00:00Z', retention: 2, expected: '2024-03-20T12:00:00Z', note: 'past week: from now' },
    { policy: 'daily', start: '2024-01-10', now: '2024-01-10T08:00:00Z', retention: 1, expected: '2024-01-13T00:00:00Z', note: 'current day' },
    { policy: 'daily', start: '2024-01-10', now: '2024-01-11T23:00:00Z', retention: 1, expected: '2024-01-13T00:00:00Z', note: 'within the slack day' },
    { policy: 'daily', start: '2024-01-10', now: '2024-01-12T00:00:00Z', retention: 1, expected: '2024-01-13T00:00:00Z', note: 'end of slack == now' },
    { policy: 'daily', start: '2024-01-10', now: '2024-01-12T06:00:00Z', retention: 1, expected: '2024-01-13T06:00:00Z', note: 'after the slack: from now' },
  ] as const)('$policy $start at $now, retention $retention → $expected ($note)', ({ policy, start, now, retention, expected }) => {
    const { calendar: c } = calendar({ policy, retentionCycles: retention }, now);
    const result = c.retainUntil(cycleStart(start));
    expect(result).toBe(Date.parse(expected));
    expect(result).toBe(expectedRetainUntil(policy, start, Date.parse(now), retention));
  });

  it('keeps a late write to a past cycle for the full retention from now', () => {
    const { clock, calendar: c } = calendar({ policy: 'monthly', retentionCycles: 3 });
    const old = cycleStart('2020-01-01');
    expect(c.retainUntil(old)).toBe(clock.now() + 3 * 31 * DAY_MS);
    expect(c.retainUntil(old)).toBeGreaterThan(clock.now());
    clock.advance(10 * DAY_MS);
    expect(c.resolve(old).retainUntil).toBe(clock.now() + 3 * 31 * DAY_MS);
  });

  it('keeps the current cycle at least retention cycle lengths past the cycle end', () => {
    const { clock, calendar: c } = calendar({ policy: 'monthly', retentionCycles: 3 }, '2024-01-31T23:59:59Z');
    const current = c.resolve();
    expect(current.start).toBe('2024-01-01');
    const cycleEnd = Date.parse('2024-02-01T00:00:00Z');
    expect(current.retainUntil).not.toBeNull();
    expect(current.retainUntil as number).toBeGreaterThanOrEqual(cycleEnd + 3 * 31 * DAY_MS);
    expect(current.retainUntil as number).toBeGreaterThan(clock.now() + 3 * 31 * DAY_MS);
  });

  it.each([
    // a late zone: the local cycle ends hours after the UTC date boundary
    { timeZone: 'Pacific/Pago_Pago', policy: 'daily', now: '2024-01-10T10:59:00Z', localEnd: '2024-01-10T11:00:00Z' },
    { timeZone: 'Pacific/Pago_Pago', policy: 'monthly', now: '2024-02-29T22:00:00Z', localEnd: '2024-03-01T11:00:00Z' },
    { timeZone: 'Pacific/Pago_Pago', policy: 'weekly', now: '2024-03-10T22:00:00Z', localEnd: '2024-03-11T11:00:00Z' },
    { timeZone: 'America/Los_Angeles', policy: 'daily', now: '2024-03-01T05:00:00Z', localEnd: '2024-03-01T08:00:00Z' },
    { timeZone: 'Pacific/Kiritimati', policy: 'daily', now: '2024-01-10T10:00:00Z', localEnd: '2024-01-11T10:00:00Z' },
  ] as const)('covers the local end of the current $policy cycle in $timeZone', ({ timeZone, policy, now, localEnd }) => {
    const retention = 2;
    const { calendar: c } = calendar({ policy, timeZone, retentionCycles: retention }, now);
    const { retainUntil } = c.resolve();
    expect(retainUntil).not.toBeNull();
    expect(retainUntil as number).toBeGreaterThanOrEqual(Date.parse(localEnd) + retention * NOMINAL_MS[policy]);
  });

  it('does not depend on the time zone for a given start date', () => {
    const start = cycleStart('2024-01-01');
    const results = ['UTC', 'Pacific/Kiritimati', 'Pacific/Pago_Pago', 'Asia/Shanghai'].map(
      (timeZone) => calendar({ timeZone }).calendar.retainUntil(start),
    );
    expect(new Set(results).size).toBe(1);
    expect(results[0]).toBe(Date.parse('2024-05-05T00:00:00Z'));
  });
});
