import type { CycleStart } from '../../domain/billing-cycle.js';
import { StoreUnavailableError } from '../../domain/errors.js';
import type { UserId } from '../../domain/user-id.js';
import type { Clock } from '../../ports/clock.js';
import type {
  BatchRecordResult,
  CycleRef,
  LeaseRef,
  RecordOutcome,
  RecordUsageCommand,
  ReleaseCommand,
  ReserveCommand,
  ReserveOutcome,
  SetLimitCommand,
  UsageCounters,
  UsageSnapshot,
  UsageStore,
} from '../../ports/usage-store.js';
import type { AlertStateStore, SyncThresholdsCommand, SyncThresholdsOutcome } from '../../ports/alert-state-store.js';
import type { HealthProbe, StoreHealth } from '../../ports/health-probe.js';
import { systemClock } from '../system-clock.js';

interface CycleEntry {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** Tokens not broken down (the Redis `other_tokens` field). */
  otherTokens: number;
  cycleLimit: number | null;
  retainUntil: number | null;
  /** Live leases by `id:tokens` (the same identity as the Redis member), with their expiry. */
  leases: Map<string, { tokens: number; expiresAt: number }>;
  /** Claimed alert thresholds, in ppm of the limit. */
  claimedThresholds: Set<number>;
  /** The daily rollup (the Redis `:daily` hash): usage recorded into this cycle per day. */
  daily: Map<CycleStart, { promptTokens: number; completionTokens: number; totalTokens: number }>;
}

/**
 * A `UsageStore` in process memory: for tests, demos and single-process tools. Every method runs to
 * completion without yielding, so each is atomic. Retention, leases and idempotency windows follow
 * the given clock and are cleaned lazily.
 */
export class InMemoryUsageStore implements UsageStore, AlertStateStore, HealthProbe {
  readonly #clock: Clock;
  readonly #cycles = new Map<string, CycleEntry>();
  readonly #standingLimits = new Map<UserId, number>();
  readonly #claimedKeys = new Map<string, number>();
  #sweepClaimsAt = 1_024;
  #closed = false;

  constructor(options: { clock?: Clock } = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  async recordUsage(command: RecordUsageCommand): Promise<RecordOutcome> {
    this.#assertOpen('recordUsage');
    const now = this.#clock.now();
    const claims = command.idempotencyKeys.map((key) => `${command.userId}\u0000${key}`);
    if (claims.some((claim) => (this.#claimedKeys.get(claim) ?? 0) > now)) {
      const entry = this.#entry(command.userId, command.cycle.start, false);
      if (command.releaseLease !== null) entry?.leases.delete(leaseMember(command.releaseLease));
      return { duplicate: true, counters: counters(entry ?? EMPTY) };
    }
    const entry = this.#entry(command.userId, command.cycle.start, true);
    entry.promptTokens += command.promptTokens;
    entry.completionTokens += command.completionTokens;
    entry.otherTokens += command.otherTokens;
    entry.totalTokens += command.promptTokens + command.completionTokens + command.otherTokens;
    const day = entry.daily.get(command.rollupDay) ?? { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
    day.promptTokens += command.promptTokens;
    day.completionTokens += command.completionTokens;
    day.totalTokens += command.promptTokens + command.completionTokens + command.otherTokens;
    entry.daily.set(command.rollupDay, day);
    if (command.cycle.retainUntil !== null) entry.retainUntil = command.cycle.retainUntil;
    if (command.releaseLease !== null) entry.leases.delete(leaseMember(command.releaseLease));
    for (const claim of claims) this.#claimedKeys.set(claim, now + command.dedupeWindowMs);
    if (this.#claimedKeys.size >= this.#sweepClaimsAt) this.#sweepClaims(now);
    return { duplicate: false, counters: counters(entry) };
  }

  async recordUsageBatch(commands: readonly RecordUsageCommand[]): Promise<BatchRecordResult[]> {
    this.#assertOpen('recordUsageBatch');
    const results: BatchRecordResult[] = [];
    for (const command of commands) results.push({ ok: true, outcome: await this.recordUsage(command) });
    return results;
  }

  async readUsage(ref: CycleRef): Promise<UsageSnapshot> {
    this.#assertOpen('readUsage');
    const entry = this.#entry(ref.userId, ref.cycle, false);
    const now = this.#clock.now();
    let reservedTokens = 0;
    for (const lease of entry?.leases.values() ?? []) if (lease.expiresAt > now) reservedTokens += lease.tokens;
    return {
      ...counters(entry ?? EMPTY),
      cycleLimit: entry?.cycleLimit ?? null,
      standingLimit: this.#standingLimits.get(ref.userId) ?? null,
      reservedTokens,
    };
  }

  async resetUsage(ref: CycleRef): Promise<void> {
    this.#assertOpen('resetUsage');
    const entry = this.#entry(ref.userId, ref.cycle, false);
    if (entry === undefined) return;
    entry.promptTokens = entry.completionTokens = entry.totalTokens = entry.otherTokens = 0;
    entry.claimedThresholds.clear();
    entry.daily.clear();
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

  async reserve(command: ReserveCommand): Promise<ReserveOutcome> {
    this.#assertOpen('reserve');
    const now = this.#clock.now();
    const entry = this.#entry(command.userId, command.cycle.start, true);
    let reservedTokens = 0;
    for (const [member, lease] of entry.leases) {
      if (lease.expiresAt <= now) entry.leases.delete(member);
      else reservedTokens += lease.tokens;
    }
    const limit = entry.cycleLimit ?? this.#standingLimits.get(command.userId) ?? null;
    const currentUsage = entry.totalTokens;
    if (limit !== null && currentUsage + reservedTokens + command.lease.tokens > limit) {
      return { granted: false, currentUsage, reservedTokens, limit, expiresAt: 0 };
    }
    const expiresAt = now + command.leaseMs;
    entry.leases.set(leaseMember(command.lease), { tokens: command.lease.tokens, expiresAt });
    if (command.cycle.retainUntil !== null) entry.retainUntil = command.cycle.retainUntil;
    return { granted: true, currentUsage, reservedTokens, limit, expiresAt };
  }

  async releaseLease(command: ReleaseCommand): Promise<boolean> {
    this.#assertOpen('releaseLease');
    const entry = this.#entry(command.userId, command.cycle, false);
    const member = leaseMember(command.lease);
    const lease = entry?.leases.get(member);
    if (entry === undefined || lease === undefined) return false;
    entry.leases.delete(member);
    return lease.expiresAt > this.#clock.now();
  }

  async syncThresholds(command: SyncThresholdsCommand): Promise<SyncThresholdsOutcome> {
    this.#assertOpen('syncThresholds');
    const entry = this.#entry(command.userId, command.cycle.start, false);
    const limit = entry?.cycleLimit ?? this.#standingLimits.get(command.userId) ?? null;
    const used = entry?.totalTokens ?? 0;
    const newlyCrossedPpm: number[] = [];
    if (entry === undefined) return { currentUsage: used, limit, newlyCrossedPpm }; // nothing used: nothing crossed
    for (const ppm of command.thresholdsPpm) {
      const crossed = limit !== null && used * 1_000_000 >= ppm * limit;
      if (crossed && !entry.claimedThresholds.has(ppm)) {
        entry.claimedThresholds.add(ppm);
        newlyCrossedPpm.push(ppm);
      } else if (!crossed) {
        entry.claimedThresholds.delete(ppm);
      }
    }
    return { currentUsage: used, limit, newlyCrossedPpm };
  }

  async probe(): Promise<StoreHealth> {
    this.#assertOpen('probe');
    return { store: 'memory', version: 'in-process' };
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
      entry = {
        promptTokens: 0,
        completionTokens: 0,
        totalTokens: 0,
        otherTokens: 0,
        cycleLimit: null,
        retainUntil: null,
        leases: new Map(),
        claimedThresholds: new Set(),
        daily: new Map(),
      };
      this.#cycles.set(key, entry);
    }
    return entry;
  }

  /** Drops expired idempotency claims; runs when the map doubles, so the cost is amortised O(1). */
  #sweepClaims(now: number): void {
    for (const [claim, expiresAt] of this.#claimedKeys) if (expiresAt <= now) this.#claimedKeys.delete(claim);
    this.#sweepClaimsAt = Math.max(1_024, this.#claimedKeys.size * 2);
  }

  #assertOpen(operation: string): void {
    if (this.#closed) throw new StoreUnavailableError(operation, 'the in-memory store is closed');
  }

  // --- Read-only views for InMemoryUsageInspector and InMemoryUsageHistoryStore; kept last and separate. ---

  /** A copy of the cycle's daily rollup (days with usage, in date order). Read-only. */
  dailyUsage(user: UserId, cycle: CycleStart): { day: CycleStart; promptTokens: number; completionTokens: number; totalTokens: number }[] {
    const entry = this.#entry(user, cycle, false);
    return [...(entry?.daily ?? [])]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([day, counters]) => ({ day, ...counters }));
  }

  /**
   * Every live cycle (`cycle` set) and standing limit (`cycle: null`) with its fields as the Redis
   * hash would hold them (decimal strings, `other_tokens` and `usage_limit` only when set). Read-only.
   */
  *inspectRecords(): Generator<{ userId: UserId; cycle: CycleStart | null; fields: Record<string, string> }> {
    const now = this.#clock.now();
    for (const [key, entry] of this.#cycles) {
      if (entry.retainUntil !== null && now >= entry.retainUntil) continue;
      const [user, cycle] = key.split('\u0000') as [UserId, CycleStart];
      const fields: Record<string, string> = {
        prompt_tokens: String(entry.promptTokens),
        completion_tokens: String(entry.completionTokens),
        total_tokens: String(entry.totalTokens),
      };
      if (entry.otherTokens !== 0) fields['other_tokens'] = String(entry.otherTokens);
      if (entry.cycleLimit !== null) fields['usage_limit'] = String(entry.cycleLimit);
      yield { userId: user, cycle, fields };
    }
    for (const [user, limit] of this.#standingLimits) yield { userId: user, cycle: null, fields: { usage_limit: String(limit) } };
  }
}

const EMPTY: UsageCounters = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };

// User ids cannot contain control characters, so NUL separates the parts unambiguously.
function cycleKey(user: UserId, cycle: CycleStart): string {
  return `${user}\u0000${cycle}`;
}

function leaseMember(lease: LeaseRef): string {
  return `${lease.id}:${lease.tokens}`;
}

function counters(entry: UsageCounters): UsageCounters {
  return {
    promptTokens: entry.promptTokens,
    completionTokens: entry.completionTokens,
    totalTokens: entry.totalTokens,
  };
}
