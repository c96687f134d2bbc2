import fc from 'fast-check';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_DURATION_BUCKETS, PrometheusMetrics } from '../../src/adapters/metrics/prometheus-metrics.js';
import type { OperationName, OperationOutcome, TokenType } from '../../src/ports/metrics.js';

const TYPES: TokenType[] = ['prompt', 'completion', 'other'];
const OPERATIONS: OperationName[] = ['record', 'read', 'reserve', 'commit', 'release', 'flush'];
const OUTCOMES: OperationOutcome[] = ['ok', 'duplicate', 'denied', 'invalid', 'error'];

type Event =
  | { kind: 'tokens'; type: TokenType; count: number }
  | { kind: 'op'; name: OperationName; outcome: OperationOutcome; seconds: number }
  | { kind: 'collect' };

const anEvent: fc.Arbitrary<Event> = fc.oneof(
  fc.record({ kind: fc.constant('tokens' as const), type: fc.constantFrom(...TYPES), count: fc.nat(10_000) }),
  fc.record({
    kind: fc.constant('op' as const),
    name: fc.constantFrom(...OPERATIONS),
    outcome: fc.constantFrom(...OUTCOMES),
    // Powers of two keep sums exact in any order, so the texts can be compared byte for byte.
    seconds: fc.constantFrom(0, 2 ** -14, 2 ** -12, 2 ** -10, 2 ** -7, 2 ** -3, 0.5, 1, 4, 8),
  }),
  fc.constant({ kind: 'collect' as const }),
);

/** prom-client called directly on every event: the exposition PrometheusMetrics must reproduce. */
function oracle(): { registry: Registry; apply(event: Event): Promise<void> } {
  const registry = new Registry();
  const registers = [registry];
  const tokens = new Counter({ name: 'token_usage_tokens_recorded_total', help: 'Tokens recorded (duplicates excluded), by type.', labelNames: ['type'], registers });
  const ops = new Counter({ name: 'token_usage_operations_total', help: 'Finished operations, by operation and outcome.', labelNames: ['operation', 'outcome'], registers });
  const durations = new Histogram({ name: 'token_usage_operation_duration_seconds', help: 'Operation duration in seconds, by operation.', labelNames: ['operation'], buckets: [...DEFAULT_DURATION_BUCKETS], registers });
  const errors = new Counter({ name: 'token_usage_store_errors_total', help: 'Usage store failures, by kind.', labelNames: ['kind'], registers });
  const alerts = new Counter({ name: 'token_usage_alerts_fired_total', help: 'Usage alerts claimed for delivery, by level.', labelNames: ['level'], registers });
  for (const type of TYPES) tokens.inc({ type }, 0);
  for (const kind of ['unavailable', 'corrupt', 'other']) errors.inc({ kind }, 0);
  for (const level of ['info', 'warning', 'critical']) alerts.inc({ level }, 0);
  return {
    registry,
    async apply(event) {
      if (event.kind === 'tokens') tokens.inc({ type: event.type }, event.count);
      if (event.kind === 'op') {
        ops.inc({ operation: event.name, outcome: event.outcome });
        durations.observe({ operation: event.name }, event.seconds);
      }
      if (event.kind === 'collect') await registry.metrics();
    },
  };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('PrometheusMetrics local aggregation', () => {
  it('exposes exactly what prom-client called on every event would, for any sequence of events and collections', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(anEvent, { maxLength: 200 }), async (events) => {
        const metrics = new PrometheusMetrics();
        const direct = oracle();
        for (const event of events) {
          if (event.kind === 'tokens') metrics.tokensRecorded(event.type, event.count);
          if (event.kind === 'op') metrics.operation(event.name, event.outcome, event.seconds);
          if (event.kind === 'collect') await metrics.exposition();
          await direct.apply(event);
        }
        const expected = (await direct.registry.metrics()).replace(/\n# HELP token_usage_buffered_records[^]*$/, '');
        const actual = (await metrics.exposition()).replace(/# HELP token_usage_buffered_records[^#]*# TYPE[^\n]*\n[^\n]*\n/, '');
        expect(actual.trimEnd()).toBe(expected.trimEnd());
      }),
      { numRuns: 60 },
    );
  });

  it('does not call prom-client on the hot path: only when the registry is collected', async () => {
    // Spied before construction: prom-client copies these onto each metric in its constructor.
    const inc = vi.spyOn(Counter.prototype as unknown as { incWithoutExemplar: () => void }, 'incWithoutExemplar');
    const observe = vi.spyOn(Histogram.prototype as unknown as { observeWithoutExemplar: () => void }, 'observeWithoutExemplar');
    const metrics = new PrometheusMetrics();
    inc.mockClear();
    for (let i = 0; i < 1000; i++) {
      metrics.operation('record', 'ok', 0.0003);
      metrics.tokensRecorded('prompt', 100);
    }
    expect(inc).not.toHaveBeenCalled();
    expect(observe).not.toHaveBeenCalled();
    const text = await metrics.exposition();
    expect(text).toContain('token_usage_operations_total{operation="record",outcome="ok"} 1000\n');
    expect(text).toContain('token_usage_tokens_recorded_total{type="prompt"} 100000\n');
    expect(text).toContain('token_usage_operation_duration_seconds_bucket{le="0.0005",operation="record"} 1000\n');
    expect(text).toContain('token_usage_operation_duration_seconds_count{operation="record"} 1000\n');
  });

  it('sets the buffered-records gauge on collect only, to the latest value any instance sharing it reported', async () => {
    const registry = new Registry();
    const first = new PrometheusMetrics({ registry });
    const second = new PrometheusMetrics({ registry });
    const set = vi.spyOn(Gauge.prototype, 'set');
    for (let i = 0; i <= 500; i += 1) first.bufferedRecords(i);
    second.bufferedRecords(7);
    expect(set).not.toHaveBeenCalled();
    expect(await registry.metrics()).toContain('\ntoken_usage_buffered_records 7\n');
    first.bufferedRecords(3);
    expect(await first.exposition()).toContain('\ntoken_usage_buffered_records 3\n');
    expect(await second.exposition()).toContain('\ntoken_usage_buffered_records 3\n');
  });

  it('publishes on every way of collecting: registry.metrics(), getMetricsAsJSON() and metric.get()', async () => {
    const registry = new Registry();
    const metrics = new PrometheusMetrics({ registry });
    metrics.operation('reserve', 'denied', 0.002);
    const counter = registry.getSingleMetric('token_usage_operations_total')!;
    expect((await counter.get()).values).toEqual([{ labels: { operation: 'reserve', outcome: 'denied' }, value: 1 }]);
    metrics.operation('reserve', 'denied', 0.002);
    const json = await registry.getMetricsAsJSON();
    const histogram = json.find((m) => m.name === 'token_usage_operation_duration_seconds')!;
    expect((histogram.values as { metricName?: string; value: number }[]).find((v) => v.metricName === 'token_usage_operation_duration_seconds_count')?.value).toBe(2);
    expect(await registry.metrics()).toContain('token_usage_operations_total{operation="reserve",outcome="denied"} 2\n');
  });

  it('keeps counting into a shared histogram with the buckets of the instance that created it', async () => {
    const registry = new Registry();
    const first = new PrometheusMetrics({ registry, durationBuckets: [0.01, 1] });
    const second = new PrometheusMetrics({ registry, durationBuckets: [0.5] });
    first.operation('read', 'ok', 0.2);
    second.operation('read', 'ok', 0.2);
    second.operation('read', 'ok', 3);
    const text = await registry.metrics();
    expect(text).toContain('token_usage_operation_duration_seconds_bucket{le="0.01",operation="read"} 0\n');
    expect(text).toContain('token_usage_operation_duration_seconds_bucket{le="1",operation="read"} 2\n');
    expect(text).toContain('token_usage_operation_duration_seconds_bucket{le="+Inf",operation="read"} 3\n');
    expect(text).not.toContain('le="0.5"');
  });

  it('runs a collect callback the metric already had, after publishing', async () => {
    const registry = new Registry();
    const seen: number[] = [];
    new Counter({
      name: 'token_usage_operations_total',
      help: 'made elsewhere',
      labelNames: ['operation', 'outcome'],
      registers: [registry],
      collect() {
        const series = Object.values((this as unknown as { hashMap: Record<string, { labels: { operation?: string }; value: number }> }).hashMap);
        seen.push(series.find((s) => s.labels.operation === 'flush')?.value ?? 0);
      },
    });
    const metrics = new PrometheusMetrics({ registry });
    metrics.operation('flush', 'ok', 0.1);
    await registry.metrics();
    expect(seen).toEqual([1]);
  });
});
