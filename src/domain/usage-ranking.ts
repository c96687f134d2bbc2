import type { CycleCalendar } from './billing-cycle.js';
import { ValidationError } from './errors.js';
import type { UsageInspector } from '../ports/usage-inspector.js';
import type { UsageCounters } from '../ports/usage-store.js';

/** One user's place in a cycle's ranking. */
export interface TopUser extends UsageCounters {
  readonly userId: string;
  readonly cycleStartDate: string;
}

/** What `top` found: the ranking and how much it looked at. */
export interface TopReport {
  readonly cycleStartDate: string;
  readonly users: readonly TopUser[];
  /** Cycle hashes read. */
  readonly scanned: number;
  /** Hashes left out because a counter is not an integer (run `verifyConsistency`). */
  readonly skipped: number;
}

/** Options of a ranking; `n` and `batchSize` are validated. */
export interface TopOptions {
  /** Default 10, at most 1,000. */
  readonly n?: unknown;
  /** Hashes per SCAN page; default 500, 1-10,000. */
  readonly batchSize?: unknown;
  /** Called after each page. */
  readonly onPage?: (scanned: number) => void;
}

const COUNTER = /^(0|[1-9]\d{0,17})$/;

/** Ranks a cycle's users by total tokens, over SCAN pages: memory holds one page plus the top n. */
export class UsageRanking {
  readonly #inspector: UsageInspector;
  readonly #calendar: CycleCalendar;

  constructor(inspector: UsageInspector, calendar: CycleCalendar) {
    this.#inspector = inspector;
    this.#calendar = calendar;
  }

  /** The `n` users with the most total tokens in the cycle (default: the current one); ties by user id. */
  async top(cycleStartDate?: unknown, options: TopOptions = {}): Promise<TopReport> {
    const n = bounded(options.n, 'n', 10, 1_000);
    const batchSize = bounded(options.batchSize, 'batchSize', 500, 10_000);
    const cycle = this.#calendar.resolve(cycleStartDate).start;
    let best: TopUser[] = [];
    let [scanned, skipped] = [0, 0];
    for await (const page of this.#inspector.scanCycles({ cycle, batchSize })) {
      for (const record of page) {
        if (record.target.kind !== 'cycle') continue;
        scanned += 1;
        const fields = record.type === 'hash' ? record.fields : null;
        const values = fields && [fields['prompt_tokens'] ?? '0', fields['completion_tokens'] ?? '0', fields['total_tokens'] ?? '0'];
        if (values === null || !values.every((value) => COUNTER.test(value))) {
          skipped += 1;
          continue;
        }
        const [promptTokens, completionTokens, totalTokens] = values.map(Number) as [number, number, number];
        best.push({ userId: record.target.userId, cycleStartDate: cycle, promptTokens, completionTokens, totalTokens });
      }
      // Trim now and then rather than per record: amortised O(log n) per user, and at most 2n kept.
      if (best.length > 2 * n) best = rank(best).slice(0, n);
      options.onPage?.(scanned);
    }
    return { cycleStartDate: cycle, users: rank(best).slice(0, n), scanned, skipped };
  }
}

function rank(users: TopUser[]): TopUser[] {
  return users.sort((a, b) => b.totalTokens - a.totalTokens || (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
}

function bounded(value: unknown, field: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 && value <= max) return value;
  throw new ValidationError('USAGE.INVALID_OPTION', field, value, `${field} must be an integer from 1 to ${max}`);
}
