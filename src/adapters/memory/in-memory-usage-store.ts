import type { CycleStart } from '../../domain/billing-cycle.js';
import { CorruptUsageDataError, StoreUnavailableError } from '../../domain/errors.js';
import { readOptions } from '../../domain/options.js';
import {
  cycleRefFrom,
  recordBatchFrom,
  recordCommandFrom,
  releaseCommandFrom,
  reserveCommandFrom,
  setLimitCommandFrom,
} from '../../domain/store-commands.js';
import { RECORD_NOW, twinOf } from '../../domain/synchronous-record.js';
import type { RecordsNow } from '../../domain/synchronous-record.js';
import type { UserId } from '../../domain/user-id.js';
import type { Clock } from '../../ports/clock.js';
import type {
  BatchRecordResult,
  CycleRef,
  LeaseRef,
  ReadOptions,
  RecordOutcome,
  RecordUsageCommand,
  ReleaseCommand,
  ReserveCommand,
  ReserveOutcome,
  SetLimitCommand,
  UsageCounters,
  UsageDetails,
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
  /** Details of prompt/completion (the Redis `cache_read_tokens`, ... fields); not in the total. */
  details: { cacheReadTokens: number; cacheWriteTokens: number; reasoningTokens: number };
  cycleLimit: number | null;
  retainUntil: number | null;
  /** Live leases by `id:tokens` (the same identity as the Redis member), with their expiry. */
  leases: Map<string, { tokens: number; expiresAt: number }>;
  /** Sum of the tokens of every lease in `leases` (expired ones until pruned), as the Redis `:leases:total`. */
  leaseTotal: number;
  /** Claimed alert thresholds, in ppm of the limit. */
  claimedThresholds: Set<number>;
  /**
   * With `day`, the daily rollup (the Redis `:daily` hash): usage recorded into this cycle per day.
   * The day written last is kept in the entry's own fields instead (nearly every record adds to it, and
   * then touches no other object); every other day is in `daily`.
   */
  daily: Map<CycleStart, DayUsage>;
  day: CycleStart | undefined;
  dayPromptTokens: number;
  dayCompletionTokens: number;
  dayTotalTokens: number;
}

interface DayUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly totalTokens: number;
}

/**
 * A `UsageStore` in process memory: for tests, demos and single-process tools. Every method runs to
 * completion without yielding, so each is atomic. Retention, leases and idempotency windows follow
 * the given clock and are cleaned lazily.
 */
export class InMemoryUsageStore implements UsageStore, AlertStateStore, HealthProbe, RecordsNow {
  readonly #clock: Clock;
  // Per cycle, then per user: a lookup by the caller's own strings, no `user + cycle` key built per call.
  // Nearly every record names the current cycle, so its map stays hot and a record touches little more
  // than the user's own entry (per user first, each record also walked a map of the user's own).
  readonly #cycles = new Map<CycleStart, Map<UserId, CycleEntry>>();
  readonly #standingLimits = new Map<UserId, number>();
  readonly #claimedKeys = new Map<string, number>();
  #sweepClaimsAt = 1_024;
  #closed = false;

  constructor(options: { clock?: Clock } = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  async recordUsage(recordCommand: RecordUsageCommand): Promise<RecordOutcome> {
    return this.#record(recordCommand, this.#clock.now());
  }

  /** `recordUsage`, synchronously (see `RECORD_NOW`): it never yields anyway. */
  [RECORD_NOW](recordCommand: RecordUsageCommand, clock: Clock, now: number): RecordOutcome {
    return this.#record(recordCommand, clock === this.#clock ? now : this.#clock.now());
  }

  #record(recordCommand: RecordUsageCommand, now: number): RecordOutcome {
    const command = recordCommandFrom(recordCommand);
    this.#assertOpen('recordUsage');
    // No closure in this method: what it captured would be allocated on every record, keys or not.
    const claims = command.idempotencyKeys.length === 0 ? NO_CLAIMS : claimsOf(command);
    if (claims !== NO_CLAIMS && this.#anyLive(claims, now)) return this.#duplicate(command, claims, now);
    const found = this.#entry(command.userId, command.cycle.start, false, now);
    const before = found ?? EMPTY_ENTRY;
    const added = command.promptTokens + command.completionTokens + command.otherTokens;
    const overflow =
      before.promptTokens + command.promptTokens > Number.MAX_SAFE_INTEGER
        ? 'prompt_tokens'
        : before.completionTokens + command.completionTokens > Number.MAX_SAFE_INTEGER
          ? 'completion_tokens'
          : before.otherTokens + command.otherTokens > Number.MAX_SAFE_INTEGER
            ? 'other_tokens'
            : before.totalTokens + added > Number.MAX_SAFE_INTEGER
              ? 'total_tokens'
              : undefined;
    if (overflow !== undefined) {
      const key = `memory:${command.userId}:${command.cycle.start}`;
      throw new CorruptUsageDataError(key, overflow, `${key} field ${overflow} would pass ${Number.MAX_SAFE_INTEGER}; nothing was written`);
    }
    const entry = found ?? this.#entry(command.userId, command.cycle.start, true, now);
    entry.promptTokens += command.promptTokens;
    entry.completionTokens += command.completionTokens;
    entry.otherTokens += command.otherTokens;
    entry.totalTokens += added;
    if (entry.day !== command.rollupDay) switchDay(entry, command.rollupDay);
    entry.dayPromptTokens += command.promptTokens;
    entry.dayCompletionTokens += command.completionTokens;
    entry.dayTotalTokens += added;
    if (command.details !== undefined) {
      for (const name of DETAIL_NAMES) {
        // As on Redis: a detail that would pass 2^53 - 1 is left as it is (details never block usage).
        const sum = entry.details[name] + (command.details[name] ?? 0);
        if (sum <= Number.MAX_SAFE_INTEGER) entry.details[name] = sum;
      }
    }
    if (command.cycle.retainUntil !== null) entry.retainUntil = command.cycle.retainUntil;
    if (command.releaseLease !== null) dropLease(entry, leaseMember(command.releaseLease));
    for (const claim of claims) this.#claimedKeys.set(claim, now + command.dedupeWindowMs);
    if (this.#claimedKeys.size >= this.#sweepClaimsAt) this.#sweepClaims(now);
    return { duplicate: false, counters: counters(entry) };
  }

  /** A record one of whose keys is claimed: nothing is added, the lease is freed all the same. */
  #duplicate(command: RecordUsageCommand, claims: readonly string[], now: number): RecordOutcome {
    // As the Redis script: the other key names the same usage, so it is claimed too.
    for (const claim of claims) if (!this.#live(claim, now)) this.#claimedKeys.set(claim, now + command.dedupeWindowMs);
    const entry = this.#entry(command.userId, command.cycle.start, false);
    if (command.releaseLease !== null && entry !== undefined) dropLease(entry, leaseMember(command.releaseLease));
    return { duplicate: true, counters: counters(entry ?? EMPTY) };
  }

  #anyLive(claims: readonly string[], now: number): boolean {
    for (const claim of claims) if (this.#live(claim, now)) return true;
    return false;
  }

  #live(claim: string, now: number): boolean {
    return (this.#claimedKeys.get(claim) ?? 0) > now;
  }

  async recordUsageBatch(batch: readonly RecordUsageCommand[]): Promise<BatchRecordResult[]> {
    const commands = recordBatchFrom(batch);
    this.#assertOpen('recordUsageBatch');
    const results: BatchRecordResult[] = [];
    for (const command of commands) {
      try {
        results.push({ ok: true, outcome: await this.recordUsage(command) });
      } catch (error) {
        if (!(error instanceof CorruptUsageDataError)) throw error;
        results.push({ ok: false, error }); // refused on its own, as Redis answers one record of a pipeline
      }
    }
    return results;
  }

  async readUsage(cycleRef: CycleRef, options?: ReadOptions): Promise<UsageSnapshot> {
    readOptions(options); // validated, then ignored: there is no cache to be stale
    const ref = cycleRefFrom(cycleRef);
    this.#assertOpen('readUsage');
    const entry = this.#entry(ref.userId, ref.cycle, false);
    const now = this.#clock.now();
    let reservedTokens = 0;
    for (const lease of entry?.leases.values() ?? []) if (lease.expiresAt > now) reservedTokens += lease.tokens;
    return {
      ...counters(entry ?? EMPTY),
      ...(entry === undefined ? {} : presentDetails(entry.details)),
      cycleLimit: entry?.cycleLimit ?? null,
      standingLimit: this.#standingLimits.get(ref.userId) ?? null,
      reservedTokens,
    };
  }

  async resetUsage(cycleRef: CycleRef): Promise<void> {
    const ref = cycleRefFrom(cycleRef);
    this.#assertOpen('resetUsage');
    const entry = this.#entry(ref.userId, ref.cycle, false);
    if (entry === undefined) return;
    entry.promptTokens = entry.completionTokens = entry.totalTokens = entry.otherTokens = 0;
    entry.details = { cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 };
    entry.claimedThresholds.clear();
    entry.daily.clear();
    entry.day = undefined;
    entry.dayPromptTokens = entry.dayCompletionTokens = entry.dayTotalTokens = 0;
  }

  async setLimit(setLimitCommand: SetLimitCommand): Promise<void> {
    const command = setLimitCommandFrom(setLimitCommand);
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

  async reserve(reserveCommand: ReserveCommand): Promise<ReserveOutcome> {
    const command = reserveCommandFrom(reserveCommand);
    this.#assertOpen('reserve');
    const now = this.#clock.now();
    const entry = this.#entry(command.userId, command.cycle.start, true);
    // As the Redis script: the running total, after pruning the oldest expired leases in a bounded step;
    // a request that would be denied prunes every expired lease first.
    pruneLeases(entry, now, PRUNE_STEP);
    const member = leaseMember(command.lease);
    // A repeat of a held lease (a retry whose first attempt was granted) does not count against itself.
    const others = (): number => entry.leaseTotal - (entry.leases.has(member) ? command.lease.tokens : 0);
    const limit = entry.cycleLimit ?? this.#standingLimits.get(command.userId) ?? null;
    const currentUsage = entry.totalTokens;
    const over = (): boolean => limit !== null && currentUsage + others() + command.lease.tokens > limit;
    if (over()) pruneLeases(entry, now, Number.POSITIVE_INFINITY);
    const reservedTokens = others();
    if (over()) return { granted: false, currentUsage, reservedTokens, limit, expiresAt: 0 };
    if (currentUsage + reservedTokens + command.lease.tokens > Number.MAX_SAFE_INTEGER) {
      const key = `memory:${command.userId}:${command.cycle.start}`;
      throw new CorruptUsageDataError(key, 'reserved', `${key} field reserved would pass ${Number.MAX_SAFE_INTEGER}; nothing was written`);
    }
    const expiresAt = now + command.leaseMs;
    if (!entry.leases.has(member)) entry.leaseTotal += command.lease.tokens;
    entry.leases.set(member, { tokens: command.lease.tokens, expiresAt });
    if (command.cycle.retainUntil !== null) entry.retainUntil = command.cycle.retainUntil;
    return { granted: true, currentUsage, reservedTokens, limit, expiresAt };
  }

  async releaseLease(releaseCommand: ReleaseCommand): Promise<boolean> {
    const command = releaseCommandFrom(releaseCommand);
    this.#assertOpen('releaseLease');
    const entry = this.#entry(command.userId, command.cycle, false);
    const member = leaseMember(command.lease);
    const lease = entry?.leases.get(member);
    if (entry === undefined || lease === undefined) return false;
    dropLease(entry, member);
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
      const crossed = limit !== null && BigInt(used) * 1_000_000n >= BigInt(ppm) * BigInt(limit); // exact, as the script
      if (crossed && !entry.claimedThresholds.has(ppm)) {
        entry.claimedThresholds.add(ppm);
        newlyCrossedPpm.push(ppm);
      } else if (!crossed) {
        entry.claimedThresholds.delete(ppm);
      }
    }
    return { currentUsage: used, limit, newlyCrossedPpm };
  }

  async alertedCycles(user: UserId): Promise<CycleStart[]> {
    this.#assertOpen('alertedCycles');
    const cycles: CycleStart[] = [];
    for (const [cycle, users] of this.#cycles) {
      const entry = users.get(user);
      if (entry !== undefined && entry.claimedThresholds.size > 0 && this.#entry(user, cycle, false) !== undefined) cycles.push(cycle);
    }
    return cycles;
  }

  async probe(): Promise<StoreHealth> {
    this.#assertOpen('probe');
    return { store: 'memory', version: 'in-process' };
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #entry(user: UserId, cycle: CycleStart, create: true, now?: number): CycleEntry;
  #entry(user: UserId, cycle: CycleStart, create: boolean, now?: number): CycleEntry | undefined;
  #entry(user: UserId, cycle: CycleStart, create: boolean, now?: number): CycleEntry | undefined {
    let users = this.#cycles.get(cycle);
    let entry = users?.get(user);
    if (entry !== undefined && entry.retainUntil !== null && (now ?? this.#clock.now()) >= entry.retainUntil) {
      users?.delete(user);
      entry = undefined;
    }
    if (entry === undefined && create) {
      // What a record reads and writes first, so it lies in as few cache lines as can be.
      entry = {
        promptTokens: 0,
        completionTokens: 0,
        totalTokens: 0,
        otherTokens: 0,
        retainUntil: null,
        day: undefined,
        dayPromptTokens: 0,
        dayCompletionTokens: 0,
        dayTotalTokens: 0,
        details: { cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 },
        cycleLimit: null,
        leases: new Map(),
        leaseTotal: 0,
        claimedThresholds: new Set(),
        daily: new Map(),
      };
      if (users === undefined) {
        users = new Map();
        this.#cycles.set(cycle, users);
      }
      users.set(user, entry);
    } else if (users?.size === 0) {
      this.#cycles.delete(cycle); // its last user's data expired
    }
    return entry;
  }

  *#allCycles(): Generator<[UserId, CycleStart, CycleEntry]> {
    for (const [cycle, users] of this.#cycles) for (const [user, entry] of users) yield [user, cycle, entry];
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
    const days = [...(entry?.daily ?? [])];
    if (entry?.day !== undefined) days.push([entry.day, dayUsage(entry)]);
    return days
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([day, counters]) => ({ day, ...counters }));
  }

  /**
   * Every live cycle (`cycle` set) and standing limit (`cycle: null`) with its fields as the Redis
   * hash would hold them (decimal strings, `other_tokens` and `usage_limit` only when set). Read-only.
   */
  *inspectRecords(): Generator<{ userId: UserId; cycle: CycleStart | null; fields: Record<string, string> }> {
    const now = this.#clock.now();
    for (const [user, cycle, entry] of this.#allCycles()) {
      if (entry.retainUntil !== null && now >= entry.retainUntil) continue;
      const fields: Record<string, string> = {
        prompt_tokens: String(entry.promptTokens),
        completion_tokens: String(entry.completionTokens),
        total_tokens: String(entry.totalTokens),
      };
      if (entry.otherTokens !== 0) fields['other_tokens'] = String(entry.otherTokens);
      DETAIL_NAMES.forEach((name, i) => {
        if (entry.details[name] !== 0) fields[DETAIL_FIELDS[i] as string] = String(entry.details[name]);
      });
      if (entry.cycleLimit !== null) fields['usage_limit'] = String(entry.cycleLimit);
      // As Redis, where a cycle hash exists only while it holds a field: a cycle with nothing recorded
      // (only leases, a denied reserve, a reset without a limit) is no record to scan.
      if (entry.totalTokens === 0 && Object.keys(fields).length === 3) continue;
      yield { userId: user, cycle, fields };
    }
    for (const [user, limit] of this.#standingLimits) yield { userId: user, cycle: null, fields: { usage_limit: String(limit) } };
  }
}

twinOf(InMemoryUsageStore.prototype[RECORD_NOW], InMemoryUsageStore.prototype.recordUsage);

const EMPTY: UsageCounters = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
const EMPTY_ENTRY = { ...EMPTY, otherTokens: 0 };
const NO_CLAIMS: readonly string[] = [];

const DETAIL_NAMES = ['cacheReadTokens', 'cacheWriteTokens', 'reasoningTokens'] as const;
const DETAIL_FIELDS = ['cache_read_tokens', 'cache_write_tokens', 'reasoning_tokens'] as const;

/** The details that are not 0, as a read returns them. */
function presentDetails(details: CycleEntry['details']): UsageDetails {
  const present: { -readonly [K in keyof UsageDetails]: number } = {};
  for (const name of DETAIL_NAMES) if (details[name] !== 0) present[name] = details[name];
  return present;
}

const PRUNE_STEP = 100;

function dropLease(entry: CycleEntry, member: string): void {
  const lease = entry.leases.get(member);
  if (lease === undefined) return;
  entry.leases.delete(member);
  entry.leaseTotal -= lease.tokens;
}

/**
 * Removes expired leases from the front of the map (insertion order, which is expiry order for one
 * lease duration), at most `max`, stopping at the first live lease unless `max` is unbounded.
 */
function pruneLeases(entry: CycleEntry, now: number, max: number): void {
  let removed = 0;
  for (const [member, lease] of entry.leases) {
    if (removed >= max) return;
    if (lease.expiresAt > now) {
      if (max === Number.POSITIVE_INFINITY) continue;
      return;
    }
    dropLease(entry, member);
    removed += 1;
  }
}

function dayUsage(entry: CycleEntry): DayUsage {
  return { promptTokens: entry.dayPromptTokens, completionTokens: entry.dayCompletionTokens, totalTokens: entry.dayTotalTokens };
}

/** Makes `day` the entry's own rollup day: the one it held goes into `daily`, and `day`'s counters come out of it. */
function switchDay(entry: CycleEntry, day: CycleStart): void {
  if (entry.day !== undefined) entry.daily.set(entry.day, dayUsage(entry));
  const stored = entry.daily.get(day);
  entry.daily.delete(day);
  entry.day = day;
  entry.dayPromptTokens = stored?.promptTokens ?? 0;
  entry.dayCompletionTokens = stored?.completionTokens ?? 0;
  entry.dayTotalTokens = stored?.totalTokens ?? 0;
}

/** The claims of a record's keys: per user, as the Redis keys are. */
function claimsOf(command: RecordUsageCommand): string[] {
  return command.idempotencyKeys.map((key) => `${command.userId}\u0000${key}`);
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
