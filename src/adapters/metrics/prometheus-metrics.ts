import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ConfigError } from '../../domain/errors.js';
import type { AlertLevel } from '../../ports/alert-sink.js';
import type { Metrics, OperationName, OperationOutcome, StoreErrorKind, TokenType } from '../../ports/metrics.js';
import { CounterTally, HistogramTally, histogramBounds, publishOnCollect } from './local-tally.js';

/** Options of {@link PrometheusMetrics}. */
export interface PrometheusMetricsOptions {
  /** Where the metrics are registered. Default: a new private `Registry` (never prom-client's global one). */
  readonly registry?: Registry;
  /** Prefix of every metric name. Default `token_usage_`. */
  readonly prefix?: string;
  /** Upper bounds (seconds) of the duration histogram. Default {@link DEFAULT_DURATION_BUCKETS}. */
  readonly durationBuckets?: readonly number[];
}

/** 0.1 ms to 5 s, roughly 1-2.5-5 per decade: from an in-memory call to a slow Redis round trip. */
export const DEFAULT_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
]);

// Every label value allowed, per label. Records (not arrays) so a new union member is a compile error here.
const TOKEN_TYPES: Record<TokenType, true> = { prompt: true, completion: true, other: true };
const OPERATIONS: Record<OperationName, true> = {
  record: true, read: true, reset: true, 'set-limit': true, 'check-limit': true, reserve: true,
  commit: true, release: true, 'can-consume': true, guard: true, flush: true, health: true,
};
const OUTCOMES: Record<OperationOutcome, true> = { ok: true, duplicate: true, denied: true, invalid: true, error: true };
const STORE_ERROR_KINDS: Record<StoreErrorKind, true> = { unavailable: true, corrupt: true, other: true };
const ALERT_LEVELS: Record<AlertLevel, true> = { info: true, warning: true, critical: true };

// Hot-path label lookups: a label value to its index (undefined for a value outside the union).
const indexOf = <T extends string>(set: Record<T, true>): Map<string, number> =>
  new Map(Object.keys(set).map((value, i) => [value, i]));
const TYPE_NAMES = Object.keys(TOKEN_TYPES);
const TYPE_INDEX = indexOf(TOKEN_TYPES);
const OPERATION_NAMES = Object.keys(OPERATIONS);
const OPERATION_INDEX = indexOf(OPERATIONS);
const OUTCOME_NAMES = Object.keys(OUTCOMES);
const OUTCOME_INDEX = indexOf(OUTCOMES);

const LATEST = new WeakMap<object, { value: number; dirty: boolean }>();

const allowed = <T extends string>(set: Record<T, true>, value: string): value is T => Object.hasOwn(set, value);

/**
 * The `Metrics` port on prom-client. Metric names (with the default prefix):
 *
 * - `token_usage_tokens_recorded_total{type}` counter
 * - `token_usage_operations_total{operation,outcome}` counter
 * - `token_usage_operation_duration_seconds{operation}` histogram
 * - `token_usage_store_errors_total{kind}` counter
 * - `token_usage_alerts_fired_total{level}` counter
 * - `token_usage_buffered_records` gauge
 *
 * Labels take only the values of the port's fixed unions (a value outside them, possible from untyped
 * callers, is dropped rather than recorded), so no user id can ever become a series. Methods never throw.
 * Two instances on one registry with one prefix share the metrics instead of failing to register (the
 * first one's histogram buckets win); a different metric already under one of the names is a `ConfigError`.
 * Serve `exposition()` with `contentType` on your `/metrics` route.
 *
 * The per-call methods (`tokensRecorded`, `operation`, `bufferedRecords`) only write local arrays; the sums reach
 * prom-client when the registry is collected, so a call costs tens of nanoseconds instead of a label
 * hash and a histogram lookup, and the exposition is the same.
 */
export class PrometheusMetrics implements Metrics {
  /** The registry the metrics live in. */
  readonly registry: Registry;
  readonly #tokens: Counter<'type'>;
  readonly #operations: Counter<'operation' | 'outcome'>;
  readonly #durations: Histogram<'operation'>;
  readonly #storeErrors: Counter<'kind'>;
  readonly #alerts: Counter<'level'>;
  readonly #buffered: Gauge;
  readonly #tokenTally = new CounterTally<'type'>(TYPE_NAMES.length, (i) => ({ type: TYPE_NAMES[i]! }));
  readonly #operationTally = new CounterTally<'operation' | 'outcome'>(
    OPERATION_NAMES.length * OUTCOME_NAMES.length,
    (i) => ({ operation: OPERATION_NAMES[Math.floor(i / OUTCOME_NAMES.length)]!, outcome: OUTCOME_NAMES[i % OUTCOME_NAMES.length]! }),
  );
  readonly #durationTally: HistogramTally<'operation'>;
  readonly #bufferedCell: { value: number; dirty: boolean };

  constructor(options: PrometheusMetricsOptions = {}) {
    const prefix = options.prefix ?? 'token_usage_';
    if (typeof prefix !== 'string' || !/^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/.test(prefix)) {
      throw new ConfigError('metrics.prefix', 'must be empty or letters, digits, _ and :, not starting with a digit');
    }
    const buckets = options.durationBuckets ?? DEFAULT_DURATION_BUCKETS;
    if (buckets.length === 0 || buckets.some((b, i) => !Number.isFinite(b) || b <= 0 || (i > 0 && b <= buckets[i - 1]!))) {
      throw new ConfigError('metrics.durationBuckets', 'must be positive, finite and strictly increasing');
    }
    const registry = options.registry ?? new Registry();
    this.registry = registry;
    const registers = [registry];

    this.#tokens = reuse(registry, `${prefix}tokens_recorded_total`, Counter, ['type'], (name) =>
      new Counter({ name, help: 'Tokens recorded (duplicates excluded), by type.', labelNames: ['type'], registers }),
    );
    this.#operations = reuse(registry, `${prefix}operations_total`, Counter, ['operation', 'outcome'], (name) =>
      new Counter({
        name,
        help: 'Finished operations, by operation and outcome.',
        labelNames: ['operation', 'outcome'],
        registers,
      }),
    );
    this.#durations = reuse(registry, `${prefix}operation_duration_seconds`, Histogram, ['operation'], (name) =>
      new Histogram({
        name,
        help: 'Operation duration in seconds, by operation.',
        labelNames: ['operation'],
        buckets: [...buckets],
        registers,
      }),
    );
    this.#storeErrors = reuse(registry, `${prefix}store_errors_total`, Counter, ['kind'], (name) =>
      new Counter({ name, help: 'Usage store failures, by kind.', labelNames: ['kind'], registers }),
    );
    this.#alerts = reuse(registry, `${prefix}alerts_fired_total`, Counter, ['level'], (name) =>
      new Counter({ name, help: 'Usage alerts claimed for delivery, by level.', labelNames: ['level'], registers }),
    );
    this.#buffered = reuse(registry, `${prefix}buffered_records`, Gauge, [], (name) =>
      new Gauge({ name, help: 'Usage records waiting in a buffer.', registers }),
    );

    // Export the small label sets at 0 from the start, so rate() and absent() work before the first event.
    for (const type of Object.keys(TOKEN_TYPES)) this.#tokens.inc({ type }, 0);
    for (const kind of Object.keys(STORE_ERROR_KINDS)) this.#storeErrors.inc({ kind }, 0);
    for (const level of Object.keys(ALERT_LEVELS)) this.#alerts.inc({ level }, 0);

    this.#durationTally = new HistogramTally(OPERATION_NAMES.length, histogramBounds(this.#durations), (i) => ({
      operation: OPERATION_NAMES[i]!,
    }));
    publishOnCollect(this.#tokens, () => this.#tokenTally.publish(this.#tokens));
    publishOnCollect(this.#operations, () => this.#operationTally.publish(this.#operations));
    publishOnCollect(this.#durations, () => this.#durationTally.publish(this.#durations));
    // Set on every buffered record: the latest value (shared by instances on one gauge) is set on collect.
    let cell = LATEST.get(this.#buffered);
    if (cell === undefined) {
      const created = { value: 0, dirty: false };
      cell = created;
      LATEST.set(this.#buffered, created);
      publishOnCollect(this.#buffered, () => {
        if (created.dirty) this.#buffered.set(created.value);
        created.dirty = false;
      });
    }
    this.#bufferedCell = cell;
  }

  /** The `Content-Type` of `exposition()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  tokensRecorded(type: TokenType, count: number): void {
    const index = TYPE_INDEX.get(type);
    if (index !== undefined && Number.isFinite(count) && count >= 0) this.#tokenTally.add(index, count);
  }

  operation(name: OperationName, outcome: OperationOutcome, durationSeconds: number): void {
    const op = OPERATION_INDEX.get(name);
    const out = OUTCOME_INDEX.get(outcome);
    if (op === undefined || out === undefined) return;
    this.#operationTally.add(op * OUTCOME_NAMES.length + out, 1);
    if (Number.isFinite(durationSeconds) && durationSeconds >= 0) this.#durationTally.observe(op, durationSeconds);
  }

  storeError(kind: StoreErrorKind): void {
    if (allowed(STORE_ERROR_KINDS, kind)) this.#storeErrors.inc({ kind });
  }

  alertFired(level: AlertLevel): void {
    if (allowed(ALERT_LEVELS, level)) this.#alerts.inc({ level });
  }

  bufferedRecords(count: number): void {
    if (Number.isFinite(count) && count >= 0) {
      this.#bufferedCell.value = count;
      this.#bufferedCell.dirty = true;
    }
  }

  exposition(): Promise<string> {
    return this.registry.metrics();
  }
}

/** The metric already registered under `name` (by another instance), or a new one from `create`. */
function reuse<M extends object>(
  registry: Registry,
  name: string,
  kind: abstract new (...args: never[]) => M,
  labelNames: readonly string[],
  create: (name: string) => M,
): M {
  const existing: unknown = registry.getSingleMetric(name);
  if (existing === undefined) return create(name);
  const existingLabels = (existing as { labelNames?: readonly string[] }).labelNames ?? [];
  if (!(existing instanceof kind) || [...existingLabels].sort().join() !== [...labelNames].sort().join()) {
    throw new ConfigError(
      'metrics.registry',
      `already holds a different metric named ${name}; use another prefix or registry`,
    );
  }
  return existing;
}
