import { createRequire } from 'node:module';
import type { AlertMonitor, SweepProgress, SweepReport } from '../domain/alert-monitor.js';
import type { CycleCalendar } from '../domain/billing-cycle.js';
import type { ConsistencyVerifier, VerificationReport, VerifyCycleOptions } from '../domain/consistency-verifier.js';
import { ConfigError, QuotaExceededError, StoreUnavailableError, UsageError, ValidationError } from '../domain/errors.js';
import { actualUsage } from '../domain/limit-policy.js';
import {
  booleanOption,
  cycleStartOption,
  functionOption,
  idempotencyKeyOption,
  integerOption,
  parseOptions,
  RECORD_OPTIONS,
} from '../domain/options.js';
import { tokenCount } from '../domain/token-count.js';
import type { LimitCheck, LimitPolicy } from '../domain/limit-policy.js';
import type { ActualUsage, ConsumeCheck, Reservation, ReserveResult } from '../domain/reservation.js';
import { RECORD_ARGUMENTS } from '../domain/usage-accounting.js';
import type { UsageAccounting } from '../domain/usage-accounting.js';
import { guardOptions } from '../domain/usage-guard.js';
import type { GuardOptions, UsageGuard } from '../domain/usage-guard.js';
import type { UsageHistory, UsageHistoryQuery, UsageProjection, UsageWindow } from '../domain/usage-history.js';
import { TOP_CALL_OPTIONS } from '../domain/usage-ranking.js';
import type { TopOptions, TopReport, UsagePages, UsageRanking } from '../domain/usage-ranking.js';
import type { StreamStart } from '../domain/guarded-stream.js';
import type { GuardedStream, StreamGuardOptions, StreamMeter } from '../domain/stream-guard.js';
import type { UsageAlert } from '../ports/alert-sink.js';
import type { Clock } from '../ports/clock.js';
import type { HealthProbe } from '../ports/health-probe.js';
import type { Logger } from '../ports/logger.js';
import type { Metrics, OperationName, OperationOutcome } from '../ports/metrics.js';
import type { ReadOptions, RecordOutcome, UsageCounters, UsageStore } from '../ports/usage-store.js';
import type { LazyRecorder } from './buffered-usage-recorder.js';

const PACKAGE_VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

/** What the facade delegates to. */
export interface TokenUsageServices {
  readonly accounting: UsageAccounting;
  readonly limits: LimitPolicy;
  readonly guard: UsageGuard;
  readonly store: UsageStore;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
  /** Present when alerts are enabled. */
  readonly monitor?: AlertMonitor | undefined;
  readonly health: HealthProbe;
  readonly calendar: CycleCalendar;
  readonly healthTimeoutMs: number;
  /** The buffered recorder, built on first use (shared with `TOKENS.BufferedUsageRecorder`). */
  readonly recorder: LazyRecorder;
  /** Builds the consistency verifier on first use (throws `ConfigError` for a store it cannot inspect). */
  readonly verifier: () => ConsistencyVerifier;
  /** Builds the history service on first use (throws `ConfigError` for a store without daily rollups). */
  readonly history: () => UsageHistory;
  /** Builds the ranking on first use (throws `ConfigError` for a store it cannot inspect). */
  readonly ranking: () => UsageRanking;
}

/** Options of a recording call. */
export interface RecordOptions {
  /** E.g. the provider's response id: repeating it within the dedupe window changes nothing. */
  readonly idempotencyKey?: string;
}

/** Options of `reserve`. */
export interface ReserveCallOptions {
  readonly cycleStartDate?: string;
  /** Overrides the configured lease for this reservation, in ms. */
  readonly leaseMs?: number;
  /** Names the request, so a re-sent reserve holds its tokens once (see `ReserveOptions.idempotencyKey`). */
  readonly idempotencyKey?: string;
}

/** What a record did, and the alert thresholds it crossed (empty when alerts are off). */
export interface RecordResult extends RecordOutcome {
  readonly alerts: readonly UsageAlert[];
}

/** The answer of `healthCheck()`. */
export interface HealthReport {
  readonly status: 'healthy' | 'unhealthy';
  /** `redis` or `memory` (when known). */
  readonly store: string | null;
  /** The store server's version (Redis `redis_version`), when it answered. */
  readonly storeVersion: string | null;
  /** This package's version. */
  readonly version: string;
  /** Round-trip time of the probe, in ms. */
  readonly latencyMs: number;
  readonly checkedAt: string;
  /** Why it is unhealthy. */
  readonly error?: string;
}

/**
 * The seed-compatible API: the Python `TokenUsageRepository`'s eight methods in camelCase, with the
 * same argument order, plus quota enforcement (`reserve` / `commit` / `release`, `canConsume`,
 * `guard`), buffered recording, `healthCheck()` and `metrics()`. `cycleStartDate` (`YYYY-MM-DD`) is
 * optional everywhere; without it the configured cycle policy picks the current cycle.
 */
export class TokenUsageRepository {
  #services: TokenUsageServices | undefined;
  readonly #resolve: (() => TokenUsageServices) | undefined;
  #closed = false;

  /** Takes ready services, or a function that builds them on first use (a lazy instance). */
  constructor(services: TokenUsageServices | (() => TokenUsageServices)) {
    if (typeof services === 'function') this.#resolve = services;
    else this.#services = services;
  }

  /** Adds prompt tokens (and the same to the total). `null` when the count is 0 (nothing to do). */
  incrementPromptTokens(
    userId: string,
    promptTokens: number,
    cycleStartDate?: string,
    options?: RecordOptions,
  ): Promise<RecordResult | null> {
    return this.#record('incrementPromptTokens', userId, promptTokens, 0, 0, cycleStartDate, options);
  }

  /** Adds completion tokens (and the same to the total). */
  incrementCompletionTokens(
    userId: string,
    completionTokens: number,
    cycleStartDate?: string,
    options?: RecordOptions,
  ): Promise<RecordResult | null> {
    return this.#record('incrementCompletionTokens', userId, 0, completionTokens, 0, cycleStartDate, options);
  }

  /** Adds tokens to the total only, for usage that is not broken down into prompt and completion. */
  incrementTotalUsage(
    userId: string,
    totalTokens: number,
    cycleStartDate?: string,
    options?: RecordOptions,
  ): Promise<RecordResult | null> {
    return this.#record('incrementTotalUsage', userId, 0, 0, totalTokens, cycleStartDate, options);
  }

  /** Adds prompt and completion tokens, and their sum to the total, in one atomic step. */
  incrementDetailedUsage(
    userId: string,
    promptTokens: number,
    completionTokens: number,
    cycleStartDate?: string,
    options?: RecordOptions,
  ): Promise<RecordResult | null> {
    return this.#record('incrementDetailedUsage', userId, promptTokens, completionTokens, 0, cycleStartDate, options);
  }

  /**
   * Buffers a record for a batched write (see `BufferedUsageRecorder`): resolves once it is buffered.
   * Cheaper than the increments under load; a crash loses at most the unflushed window. `totalTokens`,
   * when given, is the whole usage (>= prompt + completion), as in `commit`.
   */
  recordBuffered(input: {
    readonly userId: string;
    readonly promptTokens?: number;
    readonly completionTokens?: number;
    readonly totalTokens?: number;
    readonly cycleStartDate?: string;
    readonly idempotencyKey?: string;
  }): Promise<void> {
    return this.#run('recordBuffered', 'record', async (s) => {
      const { totalTokens, ...rest } = parseOptions(input, BUFFERED_INPUT, {
        field: 'input',
        required: true,
        definedWhenPresent: ['promptTokens', 'completionTokens', 'totalTokens'],
      });
      const record = { ...rest, userId: rest.userId };
      if (totalTokens === undefined) return s.recorder.get().record(record);
      // As in `commit`: the total is the whole usage; what prompt and completion do not explain is "other".
      const { prompt, completion, total } = actualUsage({
        promptTokens: rest.promptTokens ?? 0,
        completionTokens: rest.completionTokens ?? 0,
        totalTokens,
      });
      return s.recorder.get().record({ ...record, unattributedTokens: total - prompt - completion });
    });
  }

  /** Writes every buffered record now. */
  flush(): Promise<void> {
    return this.#services?.recorder.current?.flush() ?? Promise.resolve();
  }

  /**
   * The user's counters for the cycle; zeros when nothing was recorded. Throws when the store fails.
   * `{ allowStale: true }` lets the cache (when configured) answer with data up to its TTL old.
   */
  getUsageStats(userId: string, cycleStartDate?: string, options?: ReadOptions): Promise<UsageCounters> {
    return this.#run('getUsageStats', 'read', (s) => s.accounting.stats(userId, cycleStartDate, options));
  }

  /** Clears the user's counters for the cycle and re-arms its alerts; limits and reservations stay. */
  resetUsage(userId: string, cycleStartDate?: string): Promise<void> {
    return this.#run('resetUsage', 'reset', (s) => s.accounting.reset(userId, cycleStartDate));
  }

  /** Without a date: the standing limit for every cycle. With one: an override for that cycle. 0 removes. */
  setUsageLimit(userId: string, limit: number, cycleStartDate?: string): Promise<void> {
    return this.#run('setUsageLimit', 'set-limit', async (s) => {
      await s.limits.setLimit(userId, limit, cycleStartDate);
      // Re-arms, or fires a threshold a lower limit crosses: in that cycle, or for a standing limit in
      // every cycle with claimed thresholds (it applies to all of them).
      if (cycleStartDate === undefined || cycleStartDate === null) await s.monitor?.observeStandingLimit(userId);
      else await s.monitor?.observe(userId, cycleStartDate);
    });
  }

  /** Compares the cycle's total with its effective limit (cycle override, else standing, else none). */
  checkUsageLimit(userId: string, cycleStartDate?: string, options?: ReadOptions): Promise<LimitCheck> {
    return this.#run('checkUsageLimit', 'check-limit', (s) => s.limits.check(userId, cycleStartDate, options));
  }

  /** Atomically holds `tokens` under the effective limit; a denial is a value, not an exception. */
  reserve(userId: string, tokens: number, options: ReserveCallOptions = {}): Promise<ReserveResult> {
    return this.#run(
      'reserve',
      'reserve',
      (s) => s.limits.reserve(userId, tokens, options),
      (result) => (result.granted ? 'ok' : 'denied'),
    );
  }

  /** Records the actual usage of a reservation and frees it, atomically and at most once. */
  commit(reservation: Reservation, usage: ActualUsage, options: RecordOptions = {}): Promise<RecordResult> {
    return this.#run(
      'commit',
      'commit',
      async (s) => {
        const outcome = await s.limits.commit(reservation, usage, options);
        return this.#withAlerts(s, outcome, reservation.userId, reservation.cycleStartDate);
      },
      duplicateOrOk,
    );
  }

  /** Frees a reservation without usage; false when it was already gone. */
  release(reservation: Reservation): Promise<boolean> {
    return this.#run('release', 'release', (s) => s.limits.release(reservation));
  }

  /** Would `requestedTokens` fit now, counting outstanding reservations? Read-only (the seed's `check_and_enforce_limit`). */
  canConsume(userId: string, requestedTokens: number, cycleStartDate?: string): Promise<ConsumeCheck> {
    return this.#run(
      'canConsume',
      'can-consume',
      (s) => s.limits.canConsume(userId, requestedTokens, cycleStartDate),
      (check) => (check.allowed ? 'ok' : 'denied'),
    );
  }

  /** Reserve, run `call`, commit the usage its result reports; release on failure. See `UsageGuard`. */
  guard<T>(userId: string, options: GuardOptions<T>, call: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
    return this.#run('guard', 'guard', async (s) => {
      // The cycle is fixed before the call, so the usage and the threshold check land in the same one.
      const parsed = guardOptions(options);
      const cycleStartDate = s.calendar.resolve(parsed.cycleStartDate).start;
      const value = await s.guard.run(userId, { ...(parsed as GuardOptions<T>), cycleStartDate }, call);
      await s.monitor?.observe(userId, cycleStartDate);
      return value;
    });
  }

  /**
   * Reserve, open a provider stream with `start`, and return it metered: the usage `meter` reads is
   * committed exactly once when the stream completes, errors, is abandoned or aborted (see `guardStream`).
   * The SDK adapters (`token-usage-repository/openai`, ...) build the meter for you.
   */
  guardStream<E>(userId: string, options: StreamGuardOptions, start: StreamStart<E>, meter: StreamMeter<E>): Promise<GuardedStream<E>> {
    return this.#run('guardStream', 'guard', async (s) => {
      const cycleStartDate = s.calendar.resolve(options?.cycleStartDate).start;
      const stream = await s.guard.stream(userId, options === null || typeof options !== 'object' ? options : { ...options, cycleStartDate }, start, meter);
      // Alerts are checked once the usage is in; a failed check is logged by the monitor, never thrown here.
      void stream.settled.then((settlement) => (settlement.action === 'committed' ? s.monitor?.observe(userId, cycleStartDate) : undefined)).catch(() => undefined);
      return stream;
    });
  }

  /**
   * A round trip to the store on a dedicated health key (never a user's data), within the configured
   * timeout. Never throws: an unreachable store is `{ status: 'unhealthy', error }`.
   */
  async healthCheck(): Promise<HealthReport> {
    if (this.#closed && this.#services === undefined) return closedReport();
    const s = this.#servicesOrThrow();
    const started = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${s.healthTimeoutMs} ms`)), s.healthTimeoutMs);
    });
    const report = (fields: Pick<HealthReport, 'status' | 'store' | 'storeVersion'> & { error?: string }): HealthReport => ({
      ...fields,
      version: PACKAGE_VERSION,
      latencyMs: Math.round((performance.now() - started) * 1000) / 1000,
      checkedAt: new Date(s.clock.now()).toISOString(),
    });
    try {
      const health = await Promise.race([s.health.probe(), timeout]);
      s.metrics.operation('health', 'ok', (performance.now() - started) / 1000);
      return report({ status: 'healthy', store: health.store, storeVersion: health.version });
    } catch (error) {
      s.metrics.operation('health', 'error', (performance.now() - started) / 1000);
      return report({ status: 'unhealthy', store: null, storeVersion: null, error: (error as Error).message });
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Checks stored usage for broken invariants (see docs/consistency.md): one user's cycle when
   * `userId` is given, else every user of the cycle (every cycle with `allCycles`), by SCAN. Dry run
   * unless `repair: true`.
   */
  verifyConsistency(
    options?: VerifyCycleOptions & { readonly userId?: string; readonly cycleStartDate?: string; readonly allCycles?: boolean },
  ): Promise<VerificationReport> {
    return this.#run('verifyConsistency', 'read', (s) => {
      const { userId, cycleStartDate, allCycles, ...verify } = parseOptions(options, VERIFY_OPTIONS) as VerifyCycleOptions & {
        readonly userId?: string;
        readonly cycleStartDate?: string;
        readonly allCycles?: boolean;
      };
      const verifier = s.verifier();
      if (userId !== undefined) return verifier.verifyUser(userId, cycleStartDate ?? s.calendar.currentStart(), verify);
      return verifier.verifyCycle(allCycles === true ? undefined : (cycleStartDate ?? s.calendar.currentStart()), verify);
    });
  }

  /**
   * The user's usage per local day (`granularity: 'day'`, the default) or per billing cycle, from
   * `from` to `to` (`YYYY-MM-DD`, both included; default the current cycle's start to today). Day rows
   * come from the daily rollups the record step writes atomically with the counters, so a cycle's
   * days always sum to its counters. See README "Usage history".
   */
  usageHistory(userId: string, query?: UsageHistoryQuery): Promise<UsageWindow[]> {
    return this.#run('usageHistory', 'read', (s) => s.history().history(userId, query));
  }

  /** The cycle's burn rate and the date the limit is reached at that rate (default: the current cycle). */
  projectUsage(userId: string, cycleStartDate?: string): Promise<UsageProjection> {
    return this.#run('projectUsage', 'read', (s) => s.history().project(userId, cycleStartDate));
  }

  /** The `n` users (default 10) with the most total tokens in the cycle (default: the current one), by SCAN. */
  top(cycleStartDate?: string, n?: number, options?: Omit<TopOptions, 'n'>): Promise<TopReport> {
    // Parsed before the spread: a non-object (or an `n` inside it) is a ValidationError, not dropped.
    return this.#run('top', 'read', (s) => s.ranking().top(cycleStartDate, { ...parseOptions(options, TOP_CALL_OPTIONS), n }));
  }

  /**
   * Every user's counters in the cycle (default: the current one), one SCAN page of `batchSize`
   * (default 500) at a time, for exports: memory holds one page. Throws `ValidationError` at once.
   */
  usagePages(cycleStartDate?: string, options?: { readonly batchSize?: number }): UsagePages {
    return this.#servicesOrThrow().ranking().pages(cycleStartDate, options);
  }

  /**
   * Checks the alert thresholds of every user of a cycle (default: the current one), for writers that
   * bypass the monitor. Throws `ConfigError` when alerts are off.
   */
  sweepAlerts(
    cycleStartDate?: string,
    options?: { readonly batchSize?: number; readonly onProgress?: (progress: SweepProgress) => void },
  ): Promise<SweepReport> {
    return this.#run('sweepAlerts', 'read', (s) => {
      if (s.monitor === undefined) throw new ConfigError('alerts.enabled', 'alerts are off');
      return s.monitor.sweep(cycleStartDate, options);
    });
  }

  /** The Prometheus text exposition of this repository's metrics (serve it on `/metrics`). */
  metrics(): Promise<string> {
    if (this.#closed && this.#services === undefined) return Promise.resolve(''); // never built: nothing measured
    return this.#servicesOrThrow().metrics.exposition();
  }

  /** Waits for alert deliveries in flight (e.g. before exiting). */
  async alertsIdle(): Promise<void> {
    await this.#services?.monitor?.idle();
  }

  /**
   * Flushes buffered records, waits for the alerts they cross and every alert delivery in flight, then
   * closes the store's connections. From the call on, every operation but `healthCheck`, `metrics` and
   * `flush` rejects with `StoreUnavailableError` (a write is never acknowledged that cannot be written).
   * A lazy instance that never connected has nothing to close.
   */
  async close(options?: { timeoutMs?: number }): Promise<void> {
    const { timeoutMs } = parseOptions(options, CLOSE_OPTIONS);
    this.#closed = true;
    const services = this.#services;
    if (services === undefined) return;
    try {
      await services.recorder.close(timeoutMs === undefined ? {} : { timeoutMs });
      await services.monitor?.idle();
    } finally {
      await services.store.close();
    }
  }

  /**
   * The counts a method names are passed as given, so a missing one (`undefined`) is an error; those
   * it does not name are 0. The hot path: one async frame (no per-call closures or input object), the
   * same checks and metrics as `#run`.
   */
  async #record(
    operation: string,
    userId: unknown,
    promptTokens: unknown,
    completionTokens: unknown,
    unattributedTokens: unknown,
    cycleStartDate: unknown,
    options: RecordOptions | undefined,
  ): Promise<RecordResult | null> {
    const s = this.#servicesOrThrow(operation);
    const started = performance.now();
    try {
      if (this.#closed) throw new StoreUnavailableError(operation, 'the repository is closed');
      const idempotencyKey = options === undefined ? undefined : parseOptions(options, RECORD_OPTIONS).idempotencyKey;
      let result: RecordResult | null;
      if (s.monitor === undefined) {
        const pending = s.accounting[RECORD_ARGUMENTS](userId, promptTokens, completionTokens, unattributedTokens, cycleStartDate, idempotencyKey);
        const outcome = isPromise(pending) ? await pending : pending;
        result = outcome === null ? null : { duplicate: outcome.duplicate, counters: outcome.counters, alerts: NO_ALERTS };
      } else {
        // The cycle is resolved once, so the record and its threshold check use the same one even
        // when the record straddles a cycle boundary.
        const cycle = s.calendar.resolve(cycleStartDate).start;
        const pending = s.accounting[RECORD_ARGUMENTS](userId, promptTokens, completionTokens, unattributedTokens, cycle, idempotencyKey);
        const outcome = isPromise(pending) ? await pending : pending;
        result = outcome === null ? null : await this.#withAlerts(s, outcome, userId as string, cycle);
      }
      s.metrics.operation('record', result === null ? 'ok' : duplicateOrOk(result), (performance.now() - started) / 1000);
      return result;
    } catch (error) {
      this.#failed(s, operation, 'record', started, error);
      throw error;
    }
  }

  /**
   * Checks the thresholds after every record, duplicates included: a duplicate may be the retry of a
   * write whose first attempt landed but went unanswered, and the claim is idempotent anyway.
   */
  async #withAlerts(s: TokenUsageServices, outcome: RecordOutcome, userId: string, cycleStartDate: string): Promise<RecordResult> {
    if (s.monitor === undefined) return { ...outcome, alerts: NO_ALERTS };
    return { ...outcome, alerts: await s.monitor.observe(userId, cycleStartDate) };
  }

  #servicesOrThrow(operation = 'repository'): TokenUsageServices {
    // A closed lazy instance must not build (and connect) its services now.
    if (this.#services === undefined && this.#closed) throw new StoreUnavailableError(operation, 'the repository is closed');
    return (this.#services ??= (this.#resolve as () => TokenUsageServices)());
  }

  async #run<T>(
    operation: string,
    metric: OperationName,
    action: (services: TokenUsageServices) => Promise<T>,
    outcomeOf: (value: T) => OperationOutcome = () => 'ok',
  ): Promise<T> {
    const services = this.#servicesOrThrow(operation);
    const started = performance.now();
    try {
      if (this.#closed) throw new StoreUnavailableError(operation, 'the repository is closed');
      const value = await action(services);
      services.metrics.operation(metric, outcomeOf(value), (performance.now() - started) / 1000);
      return value;
    } catch (error) {
      this.#failed(services, operation, metric, started, error);
      throw error;
    }
  }

  /** Counts and logs a failed operation (the caller rethrows `error`). */
  #failed(services: TokenUsageServices, operation: string, metric: OperationName, started: number, error: unknown): void {
    const seconds = (performance.now() - started) / 1000;
    if (error instanceof ValidationError) {
      services.metrics.operation(metric, 'invalid', seconds);
      services.logger.debug({ operation, code: error.code, field: error.field }, 'rejected invalid input');
    } else if (error instanceof QuotaExceededError) {
      services.metrics.operation(metric, 'denied', seconds);
      services.logger.debug({ operation, reason: error.reason }, 'quota exceeded');
    } else {
      services.metrics.operation(metric, 'error', seconds);
      // A guarded call's own errors are the caller's business; ours and unexpected ones are logged.
      if (error instanceof UsageError || (operation !== 'guard' && operation !== 'guardStream')) {
        const { code, name, message } = error as { code?: string; name?: string; message?: string };
        services.logger.error({ operation, err: { code, name, message } }, 'token usage operation failed');
      }
    }
  }
}

const NO_ALERTS: readonly UsageAlert[] = Object.freeze([]);

/** The fields of `recordBuffered`'s input; the recorder validates each again when it prepares the record. */
const BUFFERED_INPUT = {
  userId: (value: unknown) => value,
  promptTokens: (value: unknown) => tokenCount(value, 'promptTokens'),
  completionTokens: (value: unknown) => tokenCount(value, 'completionTokens'),
  totalTokens: (value: unknown) => tokenCount(value, 'totalTokens'),
  cycleStartDate: cycleStartOption,
  idempotencyKey: idempotencyKeyOption,
} as const;

/** The options of `verifyConsistency`: where to look, and the verifier's own options. */
const VERIFY_OPTIONS = {
  userId: (value: unknown) => value,
  cycleStartDate: cycleStartOption,
  allCycles: booleanOption,
  repair: booleanOption,
  batchSize: (value: unknown) => value,
  onProgress: functionOption,
  maxFindings: (value: unknown) => value,
  treatExcessAsUnattributed: booleanOption,
} as const;

const CLOSE_OPTIONS = { timeoutMs: integerOption(0, 2_147_483_647) } as const;

/** The health of a lazy instance closed before it was ever used (nothing to probe). */
function closedReport(): HealthReport {
  const at = Date.now();
  return {
    status: 'unhealthy',
    store: null,
    storeVersion: null,
    version: PACKAGE_VERSION,
    latencyMs: 0,
    checkedAt: new Date(at).toISOString(),
    error: 'the repository is closed',
  };
}

/** A store's pending answer, as opposed to an outcome a synchronous store returned (which never has `then`). */
function isPromise<T>(value: PromiseLike<T> | object | null): value is PromiseLike<T> {
  return value !== null && typeof (value as Partial<PromiseLike<T>>).then === 'function';
}

function duplicateOrOk(outcome: RecordOutcome): OperationOutcome {
  return outcome.duplicate ? 'duplicate' : 'ok';
}
