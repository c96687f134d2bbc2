import { ConfigError, ValidationError } from './errors.js';
import { describe } from './user-id.js';
import { addDays, addMonths, localDate, maxDate, minDate } from './calendar-days.js';
import type { Clock } from '../ports/clock.js';

/** A validated billing-cycle start date, `YYYY-MM-DD`, a real calendar date. */
export type CycleStart = string & { readonly __brand: 'CycleStart' };

/** How the current cycle is chosen when the caller gives no date. */
export type CyclePolicy = 'monthly' | 'weekly' | 'daily';

/** Every accepted cycle policy. */
export const CYCLE_POLICIES: readonly CyclePolicy[] = ['monthly', 'weekly', 'daily'];

/** One user-independent billing cycle and how long its data is kept. */
export interface BillingCycle {
  readonly start: CycleStart;
  /** Epoch ms after which the cycle's data may be deleted, or `null` to keep it forever. */
  readonly retainUntil: number | null;
}

const DATE_SHAPE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAY_MS = 86_400_000;
const NOMINAL_CYCLE_MS: Record<CyclePolicy, number> = {
  daily: DAY_MS,
  weekly: 7 * DAY_MS,
  monthly: 31 * DAY_MS,
};

// Dates that passed `cycleStart` (whether a string is a calendar date never changes): nearly every
// call names one of a few dates, and the shape and calendar check is most of a record's validation.
const VALID_DATES = new Set<string>();
const MAX_VALID_DATES = 4_096;

/** Validates a cycle start date; throws `ValidationError` (`USAGE.INVALID_CYCLE_DATE`). */
export function cycleStart(value: unknown, field = 'cycleStartDate'): CycleStart {
  if (typeof value === 'string' && VALID_DATES.has(value)) return value as CycleStart;
  if (typeof value !== 'string') {
    throw new ValidationError(
      'USAGE.INVALID_CYCLE_DATE',
      field,
      value,
      `${field} must be a YYYY-MM-DD string, got ${describe(value)}`,
    );
  }
  const match = DATE_SHAPE.exec(value);
  if (match === null) {
    throw new ValidationError('USAGE.INVALID_CYCLE_DATE', field, value, `${field} must look like YYYY-MM-DD`);
  }
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (year < 1000 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    throw new ValidationError('USAGE.INVALID_CYCLE_DATE', field, value, `${field} is not a calendar date: ${value}`);
  }
  if (VALID_DATES.size >= MAX_VALID_DATES) VALID_DATES.clear(); // bounded: a backfill over years must not grow it forever
  VALID_DATES.add(value);
  return value as CycleStart;
}

function daysInMonth(year: number, month: number): number {
  const lastDay = new Date(0);
  lastDay.setUTCFullYear(year, month, 0); // day 0 of the next month
  return lastDay.getUTCDate();
}

function format(year: number, month: number, day: number): CycleStart {
  const pad = (n: number, width: number): string => String(n).padStart(width, '0');
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}` as CycleStart;
}

/** Throws `ConfigError` unless `timeZone` is an IANA time zone this runtime knows. */
export function assertTimeZone(timeZone: string, variable = 'timeZone'): void {
  // Node >= 22 (ICU 74+) also accepts UTC offsets such as "+05:00"; they are not IANA names (no DST,
  // and Node 20 refused them), so they are refused on every runtime alike.
  if (/^[+-]/.test(timeZone)) {
    const cause = new RangeError(`${timeZone} is a UTC offset, not an IANA time zone (e.g. Etc/GMT-5)`);
    throw new ConfigError(variable, `unknown time zone "${timeZone}"`, { cause });
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch (error) {
    throw new ConfigError(variable, `unknown time zone "${timeZone}"`, { cause: error });
  }
}

/** Options of a {@link CycleCalendar}. */
export interface CycleCalendarOptions {
  readonly policy: CyclePolicy;
  /** IANA time zone in which cycles start at local midnight. */
  readonly timeZone: string;
  /** Keep a cycle's data this many cycles after the cycle ends; 0 keeps it forever. */
  readonly retentionCycles: number;
}

/** Decides which billing cycle a call belongs to and how long that cycle's data is kept. */
export class CycleCalendar {
  readonly #clock: Clock;
  readonly #options: CycleCalendarOptions;
  readonly #localDate: Intl.DateTimeFormat;

  constructor(clock: Clock, options: CycleCalendarOptions) {
    assertTimeZone(options.timeZone);
    if (!Number.isSafeInteger(options.retentionCycles) || options.retentionCycles < 0) {
      throw new ConfigError('retentionCycles', `must be a non-negative integer, got ${options.retentionCycles}`);
    }
    this.#clock = clock;
    this.#options = options;
    this.#localDate = new Intl.DateTimeFormat('en-US', {
      timeZone: options.timeZone,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
    });
  }

  /** The start date of the cycle that contains `at` (default: now) under the configured policy. */
  currentStart(at: number = this.#clock.now()): CycleStart {
    // Every time zone's offset is a whole number of minutes, so a cycle can only change on a minute
    // boundary: the answer is cached per minute (formatting a date in a time zone is the costly part).
    const minute = Math.floor(at / 60_000);
    if (minute === this.#cachedMinute) return this.#cachedStart as CycleStart;
    const start = this.#computeStart(at);
    this.#cachedMinute = minute;
    this.#cachedStart = start;
    return start;
  }

  #cachedMinute = Number.NaN;
  #cachedStart: CycleStart | undefined;

  #computeStart(at: number): CycleStart {
    const parts = this.#localDate.formatToParts(at);
    const part = (type: Intl.DateTimeFormatPartTypes): number =>
      Number(parts.find((p) => p.type === type)?.value);
    const [year, month, day] = [part('year'), part('month'), part('day')];
    switch (this.#options.policy) {
      case 'daily':
        return format(year, month, day);
      case 'monthly':
        return format(year, month, 1);
      case 'weekly': {
        const local = new Date(0);
        local.setUTCFullYear(year, month - 1, day);
        const daysSinceMonday = (local.getUTCDay() + 6) % 7;
        local.setUTCDate(local.getUTCDate() - daysSinceMonday);
        return format(local.getUTCFullYear(), local.getUTCMonth() + 1, local.getUTCDate());
      }
    }
  }

  /** The clock the calendar reads. */
  get clock(): Clock {
    return this.#clock;
  }

  /** The calendar clock's reading (epoch ms), to pass the same instant to several of its methods. */
  now(): number {
    return this.#clock.now();
  }

  /** The IANA time zone cycles and days start in. */
  get timeZone(): string {
    return this.#options.timeZone;
  }

  /** The start of the cycle after the one starting at `start`: one policy period later (exclusive end). */
  nextStart(start: CycleStart): CycleStart {
    switch (this.#options.policy) {
      case 'daily':
        return addDays(start, 1);
      case 'weekly':
        return addDays(start, 7);
      case 'monthly':
        return addMonths(start, 1);
    }
  }

  /** The local date (in the calendar's time zone) of `at` (default: now). */
  today(at: number = this.#clock.now()): CycleStart {
    const minute = Math.floor(at / 60_000); // as in currentStart: a date changes only on a minute boundary
    if (minute !== this.#todayMinute) {
      this.#todayMinute = minute;
      this.#todayValue = localDate(at, this.#options.timeZone);
    }
    return this.#todayValue as CycleStart;
  }

  #todayMinute = Number.NaN;
  #todayValue: CycleStart | undefined;

  /**
   * The day of the cycle's daily rollup that usage recorded now belongs to: today, clamped into the
   * cycle's own days, so a late write (a buffered flush past the boundary, a backfill) lands on the
   * cycle's last day and an early one on its first, and a cycle's days always lie inside the cycle.
   */
  rollupDay(start: CycleStart, at: number = this.#clock.now()): CycleStart {
    if (start !== this.#lastDayStart) {
      // Memoised for the last cycle asked (nearly every record asks the current one).
      this.#lastDayStart = start;
      this.#lastDayValue = addDays(this.nextStart(start), -1);
    }
    return maxDate(start, minDate(this.today(at), this.#lastDayValue as CycleStart));
  }

  #lastDayStart: CycleStart | undefined;
  #lastDayValue: CycleStart | undefined;

  /**
   * Validates an explicit cycle date or, when it is `undefined` or `null`, picks the current cycle
   * (at `at`, default now). The answer is frozen.
   */
  resolve(cycleStartDate?: unknown, at: number = this.#clock.now()): BillingCycle {
    const start = cycleStartDate === undefined || cycleStartDate === null ? this.currentStart(at) : cycleStart(cycleStartDate);
    if (start === this.#resolved?.start && at <= this.#resolvedUntil) return this.#resolved;
    const cycle: BillingCycle = Object.freeze({ start, retainUntil: this.retainUntil(start, at) });
    // `retainUntil` depends on now only once now is past the cycle's end bound; before it, every instant
    // gets the same (frozen) answer, and nearly every call asks for the current cycle. An answer
    // computed past the bound is not reused (it was `at` + retention, right for that instant only).
    const { retentionCycles, policy } = this.#options;
    const bound = retentionCycles === 0 ? Number.POSITIVE_INFINITY : this.#cycleEndUpperBound(start, NOMINAL_CYCLE_MS[policy]);
    this.#resolved = cycle;
    this.#resolvedUntil = at <= bound ? bound : Number.NEGATIVE_INFINITY;
    return cycle;
  }

  #resolved: BillingCycle | undefined;
  #resolvedUntil = Number.NEGATIVE_INFINITY;

  /**
   * Epoch ms until which a cycle's data is kept: `retentionCycles` nominal cycle lengths (1, 7 or 31
   * days) after the later of the cycle's end and now, plus a day of slack for time-zone offsets, so a
   * late write to an old cycle is never expired at once.
   */
  retainUntil(start: CycleStart, at: number = this.#clock.now()): number | null {
    const { retentionCycles, policy } = this.#options;
    if (retentionCycles === 0) return null;
    const nominal = NOMINAL_CYCLE_MS[policy];
    return Math.max(this.#cycleEndUpperBound(start, nominal), at) + retentionCycles * nominal;
  }

  /** The cycle's start + one nominal cycle + a day; memoised for the last cycle asked (the common case). */
  #cycleEndUpperBound(start: CycleStart, nominal: number): number {
    if (start === this.#endCacheStart) return this.#endCacheValue;
    const [year, month, day] = start.split('-').map(Number) as [number, number, number];
    const value = new Date(0).setUTCFullYear(year, month - 1, day) + nominal + DAY_MS;
    this.#endCacheStart = start;
    this.#endCacheValue = value;
    return value;
  }

  #endCacheStart: string | undefined;
  #endCacheValue = 0;
}
