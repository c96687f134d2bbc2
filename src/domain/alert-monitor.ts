import type { CycleCalendar } from './billing-cycle.js';
import { ConfigError } from './errors.js';
import { userId } from './user-id.js';
import type { UserId } from './user-id.js';
import type { AlertLevel, AlertSink, UsageAlert } from '../ports/alert-sink.js';
import type { AlertStateStore } from '../ports/alert-state-store.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { Metrics } from '../ports/metrics.js';
import type { UsageInspector } from '../ports/usage-inspector.js';
import { functionOption, integerOption, parseOptions } from './options.js';

const SWEEP_OPTIONS = { batchSize: integerOption(1, 10_000), onProgress: functionOption } as const;

/** Progress of a sweep, after each page. */
export interface SweepProgress {
  readonly scanned: number;
  readonly alerts: number;
}

/** What a sweep found. */
export interface SweepReport {
  readonly cycleStartDate: string;
  /** Cycle hashes visited. */
  readonly scanned: number;
  /** Alerts claimed (and handed to the sinks) by this sweep. */
  readonly alerts: readonly UsageAlert[];
}

/** A fraction of the limit and how serious crossing it is. */
export interface AlertThreshold {
  /** E.g. 0.8 for 80 % of the limit. */
  readonly ratio: number;
  readonly level: AlertLevel;
}

/** The seed's thresholds: 80 % info, 95 % warning, 100 % critical. */
export const DEFAULT_ALERT_THRESHOLDS: readonly AlertThreshold[] = [
  { ratio: 0.8, level: 'info' },
  { ratio: 0.95, level: 'warning' },
  { ratio: 1, level: 'critical' },
];

const LEVELS: readonly AlertLevel[] = ['info', 'warning', 'critical'];

/** Validates thresholds (ratio in (0, 10], distinct, a known level); throws `ConfigError` naming `field`. */
export function alertThresholds(value: readonly AlertThreshold[], field = 'alerts.thresholds'): AlertThreshold[] {
  if (!Array.isArray(value) || value.length === 0) throw new ConfigError(field, 'must list at least one threshold');
  const seen = new Set<number>();
  for (const threshold of value) {
    const { ratio, level } = threshold ?? {};
    if (typeof ratio !== 'number' || !Number.isFinite(ratio) || ratio <= 0 || ratio > 10) {
      throw new ConfigError(field, `a ratio must be a number in (0, 10], got ${String(ratio)}`);
    }
    if (!LEVELS.includes(level)) throw new ConfigError(field, `a level must be one of ${LEVELS.join(', ')}, got ${String(level)}`);
    const ppm = Math.round(ratio * 1_000_000);
    if (seen.has(ppm)) throw new ConfigError(field, `ratio ${ratio} is listed twice`);
    seen.add(ppm);
  }
  return [...value].sort((a, b) => a.ratio - b.ratio);
}

/**
 * Fires each threshold exactly once per user and cycle, across processes and restarts: the crossing
 * is claimed atomically in the store, never remembered in process memory. A usage reset or a limit
 * change re-arms the thresholds that are no longer crossed. Sinks are called in the background; a
 * failing sink or a failing claim never fails the recording path (both are logged).
 */
export class AlertMonitor {
  readonly #state: AlertStateStore;
  readonly #calendar: CycleCalendar;
  readonly #sinks: readonly AlertSink[];
  readonly #thresholds: readonly AlertThreshold[];
  readonly #byPpm: ReadonlyMap<number, AlertThreshold>;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #metrics: Metrics | undefined;
  readonly #deliveries = new Set<Promise<void>>();
  readonly #inspector: UsageInspector | undefined;

  constructor(
    state: AlertStateStore,
    calendar: CycleCalendar,
    options: {
      readonly sinks: readonly AlertSink[];
      readonly thresholds?: readonly AlertThreshold[];
      /** Lets {@link sweep} visit every user of a cycle. */
      readonly inspector?: UsageInspector;
    },
    clock: Clock,
    logger: Logger,
    metrics?: Metrics,
  ) {
    this.#state = state;
    this.#calendar = calendar;
    this.#sinks = options.sinks;
    this.#thresholds = alertThresholds(options.thresholds ?? DEFAULT_ALERT_THRESHOLDS);
    this.#byPpm = new Map(this.#thresholds.map((t) => [Math.round(t.ratio * 1_000_000), t]));
    this.#clock = clock;
    this.#logger = logger;
    this.#metrics = metrics;
    this.#inspector = options.inspector;
  }

  /** The configured thresholds, ascending. */
  get thresholds(): readonly AlertThreshold[] {
    return this.#thresholds;
  }

  /**
   * Claims the thresholds a user's cycle has crossed and not yet fired, re-arms those no longer
   * crossed, and hands the new alerts to the sinks (in the background). Returns the new alerts; on a
   * store failure logs it and returns none (the next observation or a sweep catches up).
   */
  async observe(user: UserId | string, cycleStartDate?: string): Promise<UsageAlert[]> {
    const id = userId(user);
    const cycle = this.#calendar.resolve(cycleStartDate);
    let outcome;
    try {
      outcome = await this.#state.syncThresholds({ userId: id, cycle, thresholdsPpm: [...this.#byPpm.keys()] });
    } catch (error) {
      this.#logger.warn(
        { err: { message: (error as Error).message } },
        'could not check alert thresholds; the next record or a sweep will catch up',
      );
      return [];
    }
    const { currentUsage, limit } = outcome;
    if (limit === null || outcome.newlyCrossedPpm.length === 0) return [];
    const at = this.#clock.now();
    const alerts = outcome.newlyCrossedPpm.map((ppm): UsageAlert => {
      const threshold = this.#byPpm.get(ppm) as AlertThreshold;
      return {
        // The claim time makes each firing's id unique: a re-armed threshold fires with a new id.
        id: `${id}|${cycle.start}|${threshold.ratio}|${at}`,
        userId: id,
        cycleStartDate: cycle.start,
        level: threshold.level,
        threshold: threshold.ratio,
        currentUsage,
        limit,
        usageRatio: currentUsage / limit,
        remaining: Math.max(0, limit - currentUsage),
        at,
      };
    });
    for (const alert of alerts) this.#deliver(alert);
    return alerts;
  }

  /**
   * After a change of the user's standing limit, which applies to every cycle: observes the current
   * cycle and every cycle that has claimed thresholds (so a raised limit re-arms them, whatever date
   * they were recorded with). Cycles without claims have nothing to re-arm; a lowered limit fires in
   * them at their next record or sweep. Returns the new alerts; a store failure is logged (as `observe`).
   */
  async observeStandingLimit(user: UserId | string): Promise<UsageAlert[]> {
    const id = userId(user);
    let cycles: readonly string[];
    try {
      cycles = await this.#state.alertedCycles(id);
    } catch (error) {
      this.#logger.warn(
        { err: { message: (error as Error).message } },
        'could not list the cycles with claimed alerts; only the current cycle is re-checked',
      );
      cycles = [];
    }
    const current = this.#calendar.currentStart();
    const alerts: UsageAlert[] = [];
    for (const cycle of new Set([current, ...cycles])) alerts.push(...(await this.observe(id, cycle)));
    return alerts;
  }

  /**
   * Observes every user of a cycle (default: the current one), page by page by SCAN, so crossings made
   * by writers that bypass the monitor (e.g. the Python original on the same Redis) fire too.
   */
  async sweep(
    cycleStartDate?: string,
    sweepOptions?: { readonly batchSize?: number; readonly onProgress?: (progress: SweepProgress) => void },
  ): Promise<SweepReport> {
    const options = parseOptions(sweepOptions, SWEEP_OPTIONS);
    if (this.#inspector === undefined) throw new ConfigError('alerts.inspector', 'sweeping needs a store that can be scanned');
    const cycle = this.#calendar.resolve(cycleStartDate).start;
    const batchSize = options.batchSize ?? 500;
    let scanned = 0;
    const alerts: UsageAlert[] = [];
    for await (const page of this.#inspector.scanCycles({ cycle, batchSize })) {
      for (const record of page) {
        scanned += 1;
        if (record.target.kind === 'cycle' && record.type === 'hash') alerts.push(...(await this.observe(record.target.userId, cycle)));
      }
      options.onProgress?.({ scanned, alerts: alerts.length });
    }
    return { cycleStartDate: cycle, scanned, alerts };
  }

  /** Resolves when every delivery started so far has finished (succeeded or failed). */
  async idle(): Promise<void> {
    while (this.#deliveries.size > 0) await Promise.allSettled([...this.#deliveries]);
  }

  #deliver(alert: UsageAlert): void {
    this.#metrics?.alertFired(alert.level);
    for (const sink of this.#sinks) {
      const delivery = Promise.resolve()
        .then(() => sink.deliver(alert))
        .catch((error: unknown) => {
          this.#logger.error(
            { alertId: alert.id, level: alert.level, err: { message: (error as Error)?.message ?? String(error) } },
            'alert sink failed; the alert was claimed and is not retried by the monitor',
          );
        })
        .finally(() => this.#deliveries.delete(delivery));
      this.#deliveries.add(delivery);
    }
  }
}
