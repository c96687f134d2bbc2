import type { CycleCalendar, CycleStart } from './billing-cycle.js';
import { cycleStart } from './billing-cycle.js';
import { addDays, datesBetween, daysBetween, localDate, startOfDay } from './calendar-days.js';
import { ValidationError } from './errors.js';
import { parseOptions } from './options.js';
import { userId } from './user-id.js';
import type { UserId } from './user-id.js';
import type { Clock } from '../ports/clock.js';
import type { UsageHistoryStore } from '../ports/usage-history-store.js';
import type { UsageCounters, UsageStore } from '../ports/usage-store.js';

// Each field is checked by `history` itself (defaults, cross-field rules); here only the names.
const asGiven = (value: unknown): unknown => value;
const HISTORY_QUERY = { from: asGiven, to: asGiven, granularity: asGiven, timeZone: asGiven } as const;

/** `day`: one row per local day; `cycle`: one row per billing cycle (the policy's cycles). */
export type HistoryGranularity = 'day' | 'cycle';

/** Options of a history query; unvalidated input straight from the caller. */
export interface UsageHistoryQuery {
  /** First local date, `YYYY-MM-DD`, included. Default: the current cycle's start. */
  readonly from?: unknown;
  /** Last local date, `YYYY-MM-DD`, included. Default: today. */
  readonly to?: unknown;
  /** Default `day`. */
  readonly granularity?: unknown;
  /** Must be the configured cycle time zone (the default): the rollups are kept in its days. */
  readonly timeZone?: unknown;
}

/** One window of usage (OpenMeter's row shape); the bounds are ISO 8601 instants, end exclusive. */
export interface UsageWindow extends UsageCounters {
  readonly windowStart: string;
  readonly windowEnd: string;
}

/** "At this rate the limit is reached on ...": a straight-line projection over the cycle. */
export interface UsageProjection {
  readonly cycleStartDate: string;
  /** The next cycle's start: the cycle ends at that date's local midnight. */
  readonly cycleEndDate: string;
  readonly totalTokens: number;
  /** Tokens per day so far: the total over the time elapsed in the cycle (at least an hour). */
  readonly ratePerDay: number;
  /** The total at the cycle's end if the rate holds. */
  readonly projectedTotal: number;
  /** The effective limit, or `null`. */
  readonly limit: number | null;
  /** The local date the limit is (or was) reached, or `null` when it is not reached within the cycle. */
  readonly limitReachedOn: string | null;
}

/** At most this many windows per query, so one call stays one bounded round trip. */
export const MAX_HISTORY_WINDOWS = 400;
const DAY_MS = 86_400_000;
const MIN_ELAPSED_MS = 3_600_000;

/** Usage over time, from the daily rollups the record step writes, and burn-rate projections. */
export class UsageHistory {
  readonly #store: UsageStore;
  readonly #history: UsageHistoryStore;
  readonly #calendar: CycleCalendar;
  readonly #clock: Clock;

  constructor(store: UsageStore, history: UsageHistoryStore, calendar: CycleCalendar, clock: Clock) {
    this.#store = store;
    this.#history = history;
    this.#calendar = calendar;
    this.#clock = clock;
  }

  /**
   * Day rows cover every date from `from` to `to` (zeros included) and read the rollups of the
   * policy's cycles that overlap the range; cycle rows are the counters of each policy cycle that
   * overlaps it. Throws `ValidationError` on bad input; reads only.
   */
  async history(user: unknown, queryArgument?: UsageHistoryQuery): Promise<UsageWindow[]> {
    const id = userId(user);
    // A plain object of known names (a typo such as `granulariy` must not silently give day rows).
    const query: UsageHistoryQuery = parseOptions(queryArgument, HISTORY_QUERY, { field: 'query' });
    const granularity = this.#granularity(query.granularity);
    this.#checkTimeZone(query.timeZone);
    const from = query.from === undefined ? this.#calendar.currentStart() : cycleStart(query.from, 'from');
    const to = query.to === undefined ? this.#calendar.today() : cycleStart(query.to, 'to');
    if (to < from) throw new ValidationError('USAGE.INVALID_OPTION', 'to', to, `to (${to}) is before from (${from})`);
    const cycles = this.#cyclesOverlapping(from, to);
    const windows = granularity === 'day' ? daysBetween(from, to) + 1 : cycles.length;
    if (windows > MAX_HISTORY_WINDOWS) {
      throw new ValidationError('USAGE.INVALID_OPTION', 'to', to, `at most ${MAX_HISTORY_WINDOWS} windows per query, this asks ${windows}`);
    }
    return granularity === 'day' ? this.#days(id, from, to, cycles) : this.#cycles(id, cycles);
  }

  /** Projects the cycle's total (default: the current cycle) to its end at the rate so far. */
  async project(user: unknown, cycleStartDate?: unknown): Promise<UsageProjection> {
    const id = userId(user);
    const start = this.#calendar.resolve(cycleStartDate).start;
    const end = this.#calendar.nextStart(start);
    const snapshot = await this.#store.readUsage({ userId: id, cycle: start });
    const limit = snapshot.cycleLimit ?? snapshot.standingLimit;
    const used = snapshot.totalTokens;
    const zone = this.#calendar.timeZone;
    const [startMs, endMs, now] = [startOfDay(start, zone), startOfDay(end, zone), this.#clock.now()];
    const elapsed = Math.min(Math.max(now - startMs, 0), endMs - startMs);
    const ratePerDay = elapsed === 0 ? 0 : (used * DAY_MS) / Math.max(elapsed, MIN_ELAPSED_MS);
    const remainingDays = (endMs - Math.min(Math.max(now, startMs), endMs)) / DAY_MS;
    const base = { cycleStartDate: start, cycleEndDate: end, totalTokens: used, limit };
    const projection = { ...base, ratePerDay: round(ratePerDay), projectedTotal: Math.round(used + ratePerDay * remainingDays) };
    if (limit === null) return { ...projection, limitReachedOn: null };
    if (used >= limit) return { ...projection, limitReachedOn: await this.#crossingDay(id, start, limit, now) };
    if (ratePerDay === 0) return { ...projection, limitReachedOn: null };
    const reachedAt = Math.max(now, startMs) + ((limit - used) / ratePerDay) * DAY_MS;
    return { ...projection, limitReachedOn: reachedAt < endMs ? localDate(reachedAt, zone) : null };
  }

  /** The first day whose running total reaches the limit; today (within the cycle) if the rollups predate the usage. */
  async #crossingDay(id: UserId, start: CycleStart, limit: number, now: number): Promise<string> {
    const [days = []] = await this.#history.readDailyUsage(id, [start]);
    let sum = 0;
    for (const day of days) {
      sum += day.totalTokens;
      if (sum >= limit) return day.day;
    }
    return this.#calendar.rollupDay(start, now);
  }

  async #days(id: UserId, from: CycleStart, to: CycleStart, cycles: readonly CycleStart[]): Promise<UsageWindow[]> {
    const byDay = new Map<string, { promptTokens: number; completionTokens: number; totalTokens: number }>();
    for (const days of await this.#history.readDailyUsage(id, cycles)) {
      for (const { day, promptTokens, completionTokens, totalTokens } of days) {
        const sum = byDay.get(day) ?? { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
        sum.promptTokens += promptTokens;
        sum.completionTokens += completionTokens;
        sum.totalTokens += totalTokens;
        byDay.set(day, sum);
      }
    }
    return datesBetween(from, to).map((day) => ({
      ...this.#window(day, addDays(day, 1)),
      ...(byDay.get(day) ?? { promptTokens: 0, completionTokens: 0, totalTokens: 0 }),
    }));
  }

  async #cycles(id: UserId, cycles: readonly CycleStart[]): Promise<UsageWindow[]> {
    const snapshots = await Promise.all(cycles.map((cycle) => this.#store.readUsage({ userId: id, cycle })));
    return cycles.map((cycle, i) => {
      const { promptTokens, completionTokens, totalTokens } = snapshots[i] as UsageCounters;
      return { ...this.#window(cycle, this.#calendar.nextStart(cycle)), promptTokens, completionTokens, totalTokens };
    });
  }

  #window(start: CycleStart, end: CycleStart): { windowStart: string; windowEnd: string } {
    const zone = this.#calendar.timeZone;
    return { windowStart: new Date(startOfDay(start, zone)).toISOString(), windowEnd: new Date(startOfDay(end, zone)).toISOString() };
  }

  /** The policy's cycle starts from the cycle holding `from` through the one holding `to`. */
  #cyclesOverlapping(from: CycleStart, to: CycleStart): CycleStart[] {
    const zone = this.#calendar.timeZone;
    const cycles: CycleStart[] = [];
    // Bounded: past the window limit the caller is refused anyway.
    for (let s = this.#calendar.currentStart(startOfDay(from, zone)); s <= to && cycles.length <= MAX_HISTORY_WINDOWS + 1; ) {
      cycles.push(s);
      s = this.#calendar.nextStart(s);
    }
    return cycles;
  }

  #granularity(value: unknown): HistoryGranularity {
    if (value === undefined || value === 'day' || value === 'cycle') return value ?? 'day';
    throw new ValidationError('USAGE.INVALID_OPTION', 'granularity', value, `granularity must be 'day' or 'cycle'`);
  }

  #checkTimeZone(value: unknown): void {
    if (value === undefined) return;
    const zone = this.#calendar.timeZone;
    if (typeof value === 'string' && canonicalZone(value) === canonicalZone(zone)) return;
    throw new ValidationError(
      'USAGE.INVALID_OPTION',
      'timeZone',
      value,
      `the daily rollups are kept in ${zone} days; regrouping them into another zone's days would misplace usage`,
    );
  }
}

function canonicalZone(zone: string): string | null {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
