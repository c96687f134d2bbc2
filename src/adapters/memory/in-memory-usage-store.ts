import type { CycleStart } from '../../domain/billing-cycle.js';
import type { UserId } from '../../domain/user-id.js';
import type { Clock } from '../../ports/clock.js';
import type {
  CycleRef,
  RecordUsageCommand,
  SetLimitCommand,
  UsageCounters,
  UsageSnapshot,
  UsageStore,
} from '../../ports/usage-store.js';
import { StoreUnavailableError } from '../../domain/errors.js';
import { systemClock } from '../system-clock.js';

interface CycleEntry {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  cycleLimit: number | null;
  retainUntil: number | null;
}

/**
 * A `UsageStore` in process memory: for tests, demos and single-process tools. Every method runs to
 * completion without yielding, so each is atomic. Retention is applied lazily with the given clock.
 */
export class InMemoryUsageStore implements UsageStore {
  readonly #clock: Clock;
  readonly #cycles = new Map<string, CycleEntry>();
  readonly #standingLimits = new Map<UserId, number>();
  #closed = false;

  constructor(options: { clock?: Clock } = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  async recordUsage(command: RecordUsageCommand): Promise<UsageCounters> {
    this.#assertOpen('recordUsage');
    const entry = this.#entry(command.userId, command.cycle.start, true);
    entry.promptTokens += command.promptTokens;
    entry.completionTokens += command.completionTokens;
    entry.totalTokens += command.totalTokens;
    if (command.cycle.retainUntil !== null) entry.retainUntil = command.cycle.retainUntil;
    return counters(entry);
  }

  async readUsage(ref: CycleRef): Promise<UsageSnapshot> {
    this.#assertOpen('readUsage');
    const entry = this.#entry(ref.userId, ref.cycle, false);
    return {
      ...counters(entry ?? { promptTokens: 0, completionTokens: 0, totalTokens: 0 }),
      cycleLimit: entry?.cycleLimit ?? null,
      standingLimit: this.#standingLimits.get(ref.userId) ?? null,
    };
  }

  async resetUsage(ref: CycleRef): Promise<void> {
    this.#assertOpen('resetUsage');
    const entry = this.#entry(ref.userId, ref.cycle, false);
    if (entry === undefined) return;
    if (entry.cycleLimit === null) {
      this.#cycles.delete(cycleKey(ref.userId, ref.cycle));
    } else {
      entry.promptTokens = entry.completionTokens = entry.totalTokens = 0;
    }
  }

  async setLimit(command: SetLimitCommand): Promise<void> {
    this.#assertOpen('setLimit');
    const limit = command.limit === 0 ? null : command.limit;
    if (command.cycle === null) {
      if (limit === null) this.#standingLimits.delete(command.userId);
      else this.#standingLimits.set(command.userId, limit);
      return;
    }
    const entry = this.#entry(command.userId, command.cycle.start, limit !== null);
    if (entry === undefined) return;
    entry.cycleLimit = limit;
    if (limit !== null && command.cycle.retainUntil !== null) entry.retainUntil = command.cycle.retainUntil;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #entry(user: UserId, cycle: CycleStart, create: true): CycleEntry;
  #entry(user: UserId, cycle: CycleStart, create: boolean): CycleEntry | undefined;
  #entry(user: UserId, cycle: CycleStart, create: boolean): CycleEntry | undefined {
    const key = cycleKey(user, cycle);
    let entry = this.#cycles.get(key);
    if (entry !== undefined && entry.retainUntil !== null && this.#clock.now() >= entry.retainUntil) {
      this.#cycles.delete(key);
      entry = undefined;
    }
    if (entry === undefined && create) {
      entry = { promptTokens: 0, completionTokens: 0, totalTokens: 0, cycleLimit: null, retainUntil: null };
      this.#cycles.set(key, entry);
    }
    return entry;
  }

  #assertOpen(operation: string): void {
    if (this.#closed) throw new StoreUnavailableError(operation, 'the in-memory store is closed');
  }
}

// User ids cannot contain control characters, so NUL separates the parts unambiguously.
function cycleKey(user: UserId, cycle: CycleStart): string {
  return `${user}\u0000${cycle}`;
}

function counters(entry: UsageCounters): UsageCounters {
  return {
    promptTokens: entry.promptTokens,
    completionTokens: entry.completionTokens,
    totalTokens: entry.totalTokens,
  };
}
