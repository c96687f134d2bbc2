import type { CycleCalendar } from './billing-cycle.js';
import { ValidationError } from './errors.js';
import { functionOption, parseOptions } from './options.js';
import type { UserId } from './user-id.js';
import type { InspectedRecord, UsageInspector } from '../ports/usage-inspector.js';
import type { UsageCounters } from '../ports/usage-store.js';

/** One user's counters in one cycle, as exported. */
export interface UserCycleUsage extends UsageCounters {
  readonly userId: string;
  readonly cycleStartDate: string;
}

/** One user's place in a cycle's ranking, with the effective limit. */
export interface TopUser extends UserCycleUsage {
  /** The cycle override, else the standing limit; `null` when none applies. */
  readonly limit: number | null;
  /** `totalTokens / limit`, or `null` without a limit. */
  readonly usedFraction: number | null;
}

/** What `top` found: the ranking and how much it looked at. */
export interface TopReport {
  readonly cycleStartDate: string;
  readonly by: TopOrder;
  readonly users: readonly TopUser[];
  /** Cycle hashes read. */
  readonly scanned: number;
  /** Hashes left out because a counter or limit is not an integer (run `verifyConsistency`). */
  readonly skipped: number;
}

// The numbers and `by` are checked by `top` and `#scan` (defaults, bounds); here the names and `onPage`.
const asGiven = (value: unknown): unknown => value;
const PAGES_OPTIONS = { batchSize: asGiven } as const;
/** The options of `top` besides `n` (the facade takes `n` positionally). */
export const TOP_CALL_OPTIONS = { by: asGiven, batchSize: asGiven, onPage: functionOption } as const;
const TOP_OPTIONS = { ...TOP_CALL_OPTIONS, n: asGiven } as const;

/** `total`: most tokens first; `limit`: nearest their limit first (users without one left out). */
export type TopOrder = 'total' | 'limit';

/** Options of a ranking; validated. */
export interface TopOptions {
  /** Default 10, at most 1,000. */
  readonly n?: unknown;
  /** Default `total`. */
  readonly by?: unknown;
  /** Hashes per SCAN page; default 500, 1-10,000. */
  readonly batchSize?: unknown;
  /** Called after each page. */
  readonly onPage?: (scanned: number) => void;
}

/** A cycle's users page by page; the counts are running totals. */
export interface UsagePages {
  readonly cycleStartDate: string;
  readonly pages: AsyncIterable<readonly UserCycleUsage[]>;
  /** Cycle hashes read so far. */
  readonly scanned: number;
  /** Hashes left out so far because a counter is not an integer. */
  readonly skipped: number;
}

interface Row extends UserCycleUsage {
  readonly cycleLimit: number | null;
}

const COUNTER = /^(0|[1-9]\d{0,17})$/;

/** Ranks a cycle's users over SCAN pages: memory holds one page plus the best n. */
export class UsageRanking {
  readonly #inspector: UsageInspector;
  readonly #calendar: CycleCalendar;

  constructor(inspector: UsageInspector, calendar: CycleCalendar) {
    this.#inspector = inspector;
    this.#calendar = calendar;
  }

  /**
   * The `n` users of the cycle (default: the current one) with the most total tokens, or (`by:
   * 'limit'`) nearest their effective limit; ties by user id. Standing limits are read for the final
   * `n` only when ranking by total, for every user with usage when ranking by limit.
   */
  async top(cycleStartDate?: unknown, optionsArgument?: TopOptions): Promise<TopReport> {
    const options: TopOptions = parseOptions(optionsArgument, TOP_OPTIONS);
    const n = bounded(options.n, 'n', 10, 1_000);
    if (options.by !== undefined && options.by !== 'total' && options.by !== 'limit') {
      throw new ValidationError('USAGE.INVALID_OPTION', 'by', options.by, `by must be 'total' or 'limit'`);
    }
    const by: TopOrder = options.by ?? 'total';
    const scan = this.#scan(cycleStartDate, options.batchSize);
    const trim = <T extends Ranked>(rows: T[]): T[] => (rows.length > 2 * n ? rank(rows, by).slice(0, n) : rows);
    let users: TopUser[];
    if (by === 'total') {
      // Trim now and then rather than per record: amortised O(log n) per user, and at most 2n kept.
      let best: Row[] = [];
      for await (const page of scan.pages) {
        best = trim([...best, ...page]);
        options.onPage?.(scan.scanned);
      }
      users = await this.#withLimits(rank(best, by).slice(0, n));
    } else {
      let best: TopUser[] = [];
      for await (const page of scan.pages) {
        best = trim([...best, ...(await this.#withLimits(page)).filter((row) => row.limit !== null)]);
        options.onPage?.(scan.scanned);
      }
      users = rank(best, by).slice(0, n);
    }
    return { cycleStartDate: scan.cycleStartDate, by, users, scanned: scan.scanned, skipped: scan.skipped };
  }

  /**
   * Every user's counters in the cycle (default: the current one), one SCAN page at a time, for
   * exports. Validates at once (throws `ValidationError`); `scanned` and `skipped` (hashes with a
   * corrupt counter, left out) grow as the pages are read.
   */
  pages(cycleStartDate?: unknown, optionsArgument?: { readonly batchSize?: unknown }): UsagePages {
    const options = parseOptions(optionsArgument, PAGES_OPTIONS);
    const scan = this.#scan(cycleStartDate, options.batchSize);
    async function* pages(): AsyncGenerator<readonly UserCycleUsage[]> {
      for await (const page of scan.pages) yield page.map(({ cycleLimit: _, ...usage }) => usage);
    }
    return {
      cycleStartDate: scan.cycleStartDate,
      pages: pages(),
      get scanned() {
        return scan.scanned;
      },
      get skipped() {
        return scan.skipped;
      },
    };
  }

  #scan(cycleStartDate: unknown, batchSizeInput: unknown): { cycleStartDate: string; pages: AsyncGenerator<Row[]>; scanned: number; skipped: number } {
    const batchSize = bounded(batchSizeInput, 'batchSize', 500, 10_000);
    const cycle = this.#calendar.resolve(cycleStartDate).start;
    const inspector = this.#inspector;
    const state = { cycleStartDate: cycle as string, scanned: 0, skipped: 0, pages: undefined as unknown as AsyncGenerator<Row[]> };
    state.pages = (async function* (): AsyncGenerator<Row[]> {
      for await (const page of inspector.scanCycles({ cycle, batchSize })) {
        const rows: Row[] = [];
        for (const record of page) {
          if (record.target.kind !== 'cycle') continue;
          state.scanned += 1;
          const row = rowOf(record, cycle);
          if (row === null) state.skipped += 1;
          else rows.push(row);
        }
        yield rows;
      }
    })();
    return state;
  }

  /** Adds the effective limit: the cycle override from the hash, else the standing limit (read concurrently). */
  async #withLimits(rows: readonly Row[]): Promise<TopUser[]> {
    const standing = await Promise.all(
      rows.map(async (row) => {
        if (row.cycleLimit !== null) return null;
        const policy = await this.#inspector.readRecord({ kind: 'policy', userId: row.userId as UserId });
        const raw = policy?.type === 'hash' ? policy.fields['usage_limit'] : undefined;
        return raw !== undefined && COUNTER.test(raw) && raw !== '0' ? Number(raw) : null;
      }),
    );
    return rows.map(({ cycleLimit, ...usage }, i) => {
      const limit = cycleLimit ?? standing[i] ?? null;
      return { ...usage, limit, usedFraction: limit === null ? null : usage.totalTokens / limit };
    });
  }
}

function rowOf(record: InspectedRecord, cycle: string): Row | null {
  if (record.type !== 'hash' || record.target.kind !== 'cycle') return null;
  const { fields } = record;
  const values = [fields['prompt_tokens'] ?? '0', fields['completion_tokens'] ?? '0', fields['total_tokens'] ?? '0'];
  const limit = fields['usage_limit'];
  if (!values.every((value) => COUNTER.test(value)) || (limit !== undefined && !COUNTER.test(limit))) return null;
  const [promptTokens, completionTokens, totalTokens] = values.map(Number) as [number, number, number];
  const cycleLimit = limit === undefined || limit === '0' ? null : Number(limit);
  return { userId: record.target.userId, cycleStartDate: cycle, promptTokens, completionTokens, totalTokens, cycleLimit };
}

type Ranked = { readonly userId: string; readonly totalTokens: number; readonly usedFraction?: number | null };

function rank<T extends Ranked>(users: T[], by: TopOrder): T[] {
  const key = (u: T): number => (by === 'limit' ? (u.usedFraction ?? -1) : u.totalTokens);
  return users.sort((a, b) => key(b) - key(a) || b.totalTokens - a.totalTokens || (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
}

function bounded(value: unknown, field: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 && value <= max) return value;
  throw new ValidationError('USAGE.INVALID_OPTION', field, value, `${field} must be an integer from 1 to ${max}`);
}
