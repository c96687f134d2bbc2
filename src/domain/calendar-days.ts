import type { CycleStart } from './billing-cycle.js';

/**
 * Calendar arithmetic on `YYYY-MM-DD` dates (validated `CycleStart`s). Dates are compared as strings,
 * which orders them correctly because every part is zero-padded.
 */

const DAY_MS = 86_400_000;

/** The UTC epoch ms of the date's 00:00 UTC (the date as a plain calendar day). */
function utcDay(date: CycleStart): number {
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  return new Date(0).setUTCFullYear(year, month - 1, day);
}

function fromUtcDay(ms: number): CycleStart {
  const d = new Date(ms);
  const pad = (n: number, width: number): string => String(n).padStart(width, '0');
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}` as CycleStart;
}

/** The date `days` days after (or before, when negative) `date`. */
export function addDays(date: CycleStart, days: number): CycleStart {
  return fromUtcDay(utcDay(date) + days * DAY_MS);
}

/** The same day of the month `months` months later, clamped to the month's last day (Jan 31 + 1 = Feb 28/29). */
export function addMonths(date: CycleStart, months: number): CycleStart {
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  const first = new Date(0);
  first.setUTCFullYear(year, month - 1 + months, 1);
  const last = new Date(first.getTime());
  last.setUTCMonth(last.getUTCMonth() + 1, 0);
  return fromUtcDay(new Date(0).setUTCFullYear(first.getUTCFullYear(), first.getUTCMonth(), Math.min(day, last.getUTCDate())));
}

/** Whole days from `from` to `to` (negative when `to` is earlier). */
export function daysBetween(from: CycleStart, to: CycleStart): number {
  return Math.round((utcDay(to) - utcDay(from)) / DAY_MS);
}

/** Every date from `from` to `to`, both included (empty when `to` is earlier). */
export function datesBetween(from: CycleStart, to: CycleStart): CycleStart[] {
  const dates: CycleStart[] = [];
  for (let d = from; d <= to; d = addDays(d, 1)) dates.push(d);
  return dates;
}

/** The later of two dates. */
export function maxDate(a: CycleStart, b: CycleStart): CycleStart {
  return a >= b ? a : b;
}

/** The earlier of two dates. */
export function minDate(a: CycleStart, b: CycleStart): CycleStart {
  return a <= b ? a : b;
}

const offsetFormats = new Map<string, Intl.DateTimeFormat>();

/** The zone's offset from UTC at `at`, in ms (local wall clock − UTC). */
function zoneOffset(at: number, timeZone: string): number {
  let format = offsetFormats.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    offsetFormats.set(timeZone, format);
  }
  const parts = format.formatToParts(at);
  const part = (type: Intl.DateTimeFormatPartTypes): number => Number(parts.find((p) => p.type === type)?.value);
  const wall = new Date(0).setUTCFullYear(part('year'), part('month') - 1, part('day'));
  const local = wall + ((part('hour') * 60 + part('minute')) * 60 + part('second')) * 1000;
  return local - Math.floor(at / 1000) * 1000;
}

/**
 * The instant (epoch ms) the date begins in the time zone: its local midnight, or, where a DST jump
 * skips midnight, the first instant of the day.
 */
export function startOfDay(date: CycleStart, timeZone: string): number {
  const wall = utcDay(date);
  let at = wall - zoneOffset(wall, timeZone);
  // The offset at the guess may differ from the offset at the real midnight (a DST change that day).
  const corrected = wall - zoneOffset(at, timeZone);
  if (corrected !== at) at = Math.min(at, corrected);
  // Never report an instant that is still the previous local day (midnight skipped by a jump forward).
  while (utcDay(localDate(at, timeZone)) < wall) at += 15 * 60_000;
  return at;
}

/** The local calendar date of an instant in the time zone. */
export function localDate(at: number, timeZone: string): CycleStart {
  return fromUtcDay(Math.floor((at + zoneOffset(at, timeZone)) / DAY_MS) * DAY_MS);
}
