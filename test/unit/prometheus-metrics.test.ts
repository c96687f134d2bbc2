import { Counter, Gauge, Registry, register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { NoopMetrics } from '../../src/adapters/metrics/noop-metrics.js';
import { DEFAULT_DURATION_BUCKETS, PrometheusMetrics } from '../../src/adapters/metrics/prometheus-metrics.js';
import { ConfigError } from '../../src/domain/errors.js';
import type { AlertLevel } from '../../src/ports/alert-sink.js';
import type { OperationName, OperationOutcome, StoreErrorKind, TokenType } from '../../src/ports/metrics.js';

/** One sample line of the text exposition. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the sample lines of a Prometheus text exposition (comments and blank lines skipped). */
function parse(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (match === null) throw new Error(`unparsable exposition line: ${line}`);
      const labels: Record<string, string> = {};
      for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[key!] = value!;
      }
      return { name: match[1]!, labels, value: Number(match[3]) };
    });
}

/** The value of the one sample with this name and exactly these labels. */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find(
    (s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(Object.entries(labels).sort()),
  )?.value;
}

const ALLOWED_LABELS: Record<string, readonly string[]> = {
  type: ['prompt', 'completion', 'other'] satisfies TokenType[],
  operation: ['record', 'read', 'reset', 'set-limit', 'check-limit', 'reserve', 'commit', 'release', 'can-consume', 'guard', 'flush', 'health'] satisfies OperationName[],
  outcome: ['ok', 'duplicate', 'denied', 'invalid', 'error'] satisfies OperationOutcome[],
  kind: ['unavailable', 'corrupt', 'other'] satisfies StoreErrorKind[],
  level: ['info', 'warning', 'critical'] satisfies AlertLevel[],
  le: [...DEFAULT_DURATION_BUCKETS.map(String), '+Inf'],
};

/** Drives every method with every allowed label value. */
function driveEverything(metrics: PrometheusMetrics): void {
  for (const type of ALLOWED_LABELS['type']!) metrics.tokensRecorded(type as TokenType, 10);
  for (const operation of ALLOWED_LABELS['operation']!) {
    for (const outcome of ALLOWED_LABELS['outcome']!) metrics.operation(operation as OperationName, outcome as OperationOutcome, 0.01);
  }
  for (const kind of ALLOWED_LABELS['kind']!) metrics.storeError(kind as StoreErrorKind);
  for (const level of ALLOWED_LABELS['level']!) metrics.alertFired(level as AlertLevel);
  metrics.bufferedRecords(4);
}

describe('PrometheusMetrics', () => {
  it('counts tokens by type', async () => {
    const metrics = new PrometheusMetrics();
    metrics.tokensRecorded('prompt', 100);
    metrics.tokensRecorded('prompt', 50);
    metrics.tokensRecorded('completion', 75);
    const text = await metrics.exposition();
    expect(text).toContain('token_usage_tokens_recorded_total{type="prompt"} 150\n');
    expect(text).toContain('token_usage_tokens_recorded_total{type="completion"} 75\n');
    expect(text).toContain('token_usage_tokens_recorded_total{type="other"} 0\n'); // exported at 0 from the start
    expect(text).toContain('# TYPE token_usage_tokens_recorded_total counter');
  });

  it('counts operations by outcome and times them in a histogram from 0.1 ms to 5 s', async () => {
    const metrics = new PrometheusMetrics();
    metrics.operation('record', 'ok', 0.0002);
    metrics.operation('record', 'ok', 0.002);
    metrics.operation('record', 'duplicate', 0.003);
    metrics.operation('reserve', 'denied', 0.3);
    metrics.operation('read', 'error', 7);
    const samples = parse(await metrics.exposition());
    const ops = 'token_usage_operations_total';
    expect(valueOf(samples, ops, { operation: 'record', outcome: 'ok' })).toBe(2);
    expect(valueOf(samples, ops, { operation: 'record', outcome: 'duplicate' })).toBe(1);
    expect(valueOf(samples, ops, { operation: 'reserve', outcome: 'denied' })).toBe(1);
    expect(valueOf(samples, ops, { operation: 'read', outcome: 'error' })).toBe(1);

    const bucket = (operation: string, le: string) =>
      valueOf(samples, 'token_usage_operation_duration_seconds_bucket', { operation, le });
    const buckets = samples
      .filter((s) => s.name === 'token_usage_operation_duration_seconds_bucket' && s.labels['operation'] === 'record')
      .map((s) => s.labels['le']);
    expect(buckets).toEqual(['0.0001', '0.00025', '0.0005', '0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '+Inf']);
    expect(bucket('record', '0.0001')).toBe(0);
    expect(bucket('record', '0.00025')).toBe(1);
    expect(bucket('record', '0.0025')).toBe(2);
    expect(bucket('record', '0.005')).toBe(3);
    expect(bucket('record', '+Inf')).toBe(3);
    expect(bucket('reserve', '0.25')).toBe(0);
    expect(bucket('reserve', '0.5')).toBe(1);
    expect(bucket('read', '5')).toBe(0);
    expect(bucket('read', '+Inf')).toBe(1);
    expect(valueOf(samples, 'token_usage_operation_duration_seconds_count', { operation: 'record' })).toBe(3);
    expect(valueOf(samples, 'token_usage_operation_duration_seconds_sum', { operation: 'record' })).toBeCloseTo(0.0052, 10);
  });

  it('counts store errors and fired alerts, and sets the buffered-records gauge', async () => {
    const metrics = new PrometheusMetrics();
    metrics.storeError('unavailable');
    metrics.storeError('unavailable');
    metrics.storeError('corrupt');
    metrics.alertFired('critical');
    metrics.bufferedRecords(7);
    metrics.bufferedRecords(3);
    const text = await metrics.exposition();
    expect(text).toContain('token_usage_store_errors_total{kind="unavailable"} 2\n');
    expect(text).toContain('token_usage_store_errors_total{kind="corrupt"} 1\n');
    expect(text).toContain('token_usage_store_errors_total{kind="other"} 0\n');
    expect(text).toContain('token_usage_alerts_fired_total{level="critical"} 1\n');
    expect(text).toContain('token_usage_alerts_fired_total{level="warning"} 0\n');
    expect(text).toContain('# TYPE token_usage_buffered_records gauge\ntoken_usage_buffered_records 3\n');
    expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('uses the registry it is given, or a private one: never the global default registry', async () => {
    const globalBefore = await globalRegistry.metrics();
    const registry = new Registry();
    const injected = new PrometheusMetrics({ registry });
    const privately = new PrometheusMetrics();
    driveEverything(injected);
    driveEverything(privately);

    expect(injected.registry).toBe(registry);
    expect(privately.registry).not.toBe(globalRegistry);
    expect(privately.registry).not.toBe(registry);
    expect(registry.getSingleMetric('token_usage_tokens_recorded_total')).toBeDefined();
    expect(await registry.metrics()).toBe(await injected.exposition());
    expect(globalRegistry.getSingleMetric('token_usage_tokens_recorded_total')).toBeUndefined();
    expect(await globalRegistry.metrics()).toBe(globalBefore);
    expect(globalBefore).not.toContain('token_usage_');
  });

  it('shares the metrics of a second instance on the same registry and prefix instead of throwing', async () => {
    const registry = new Registry();
    const first = new PrometheusMetrics({ registry });
    let second: PrometheusMetrics | undefined;
    expect(() => {
      second = new PrometheusMetrics({ registry });
    }).not.toThrow();
    first.tokensRecorded('prompt', 10);
    second!.tokensRecorded('prompt', 5);
    first.operation('commit', 'ok', 0.001);
    second!.operation('commit', 'ok', 0.001);
    expect(await first.exposition()).toBe(await second!.exposition());
    const samples = parse(await registry.metrics());
    expect(valueOf(samples, 'token_usage_tokens_recorded_total', { type: 'prompt' })).toBe(15);
    expect(valueOf(samples, 'token_usage_operations_total', { operation: 'commit', outcome: 'ok' })).toBe(2);
    expect(registry.getMetricsAsArray()).toHaveLength(6);
  });

  it('keeps instances with different prefixes apart on one registry', async () => {
    const registry = new Registry();
    new PrometheusMetrics({ registry }).tokensRecorded('other', 1);
    new PrometheusMetrics({ registry, prefix: 'tenant_b_' }).tokensRecorded('other', 2);
    const samples = parse(await registry.metrics());
    expect(valueOf(samples, 'token_usage_tokens_recorded_total', { type: 'other' })).toBe(1);
    expect(valueOf(samples, 'tenant_b_tokens_recorded_total', { type: 'other' })).toBe(2);
    expect(registry.getMetricsAsArray()).toHaveLength(12);
  });

  it('throws a ConfigError when the registry holds a different metric under one of its names, or the prefix is invalid', () => {
    const registry = new Registry();
    new Gauge({ name: 'token_usage_tokens_recorded_total', help: 'not ours', registers: [registry] });
    expect(() => new PrometheusMetrics({ registry })).toThrow(ConfigError);
    const otherLabels = new Registry();
    new Counter({ name: 'token_usage_store_errors_total', help: 'not ours', labelNames: ['user'], registers: [otherLabels] });
    expect(() => new PrometheusMetrics({ registry: otherLabels })).toThrow(/different metric named token_usage_store_errors_total/);
    expect(() => new PrometheusMetrics({ prefix: 'bad-prefix' })).toThrow(ConfigError);
    expect(() => new PrometheusMetrics({ prefix: '9x' })).toThrow(ConfigError);
    expect(() => new PrometheusMetrics({ durationBuckets: [0.1, 0.01] })).toThrow(ConfigError);
    expect(() => new PrometheusMetrics({ prefix: '' })).not.toThrow();
  });

  it('exposes only the fixed labels, with values from the fixed sets', async () => {
    const metrics = new PrometheusMetrics();
    driveEverything(metrics);
    // Values outside the unions (an untyped caller, or a user id by mistake) are dropped, not recorded.
    metrics.tokensRecorded('user_123' as TokenType, 5);
    metrics.operation('user_123' as OperationName, 'ok', 0.1);
    metrics.operation('record', 'user_123' as OperationOutcome, 0.1);
    metrics.storeError('user_123' as StoreErrorKind);
    metrics.alertFired('user_123' as AlertLevel);
    const text = await metrics.exposition();
    expect(text).not.toContain('user_123');

    const samples = parse(text);
    expect(samples.length).toBeGreaterThan(100);
    const labelsByMetric = new Map<string, Set<string>>();
    for (const sample of samples) {
      for (const [label, value] of Object.entries(sample.labels)) {
        expect(ALLOWED_LABELS[label], `label ${label} on ${sample.name}`).toBeDefined();
        expect(ALLOWED_LABELS[label]).toContain(value);
      }
      const family = sample.name.replace(/_(bucket|sum|count)$/, '');
      const set = labelsByMetric.get(family) ?? new Set<string>();
      for (const label of Object.keys(sample.labels)) set.add(label);
      labelsByMetric.set(family, set);
    }
    expect(Object.fromEntries([...labelsByMetric].map(([name, set]) => [name, [...set].sort()]))).toEqual({
      token_usage_tokens_recorded_total: ['type'],
      token_usage_operations_total: ['operation', 'outcome'],
      token_usage_operation_duration_seconds: ['le', 'operation'],
      token_usage_store_errors_total: ['kind'],
      token_usage_alerts_fired_total: ['level'],
      token_usage_buffered_records: [],
    });
  });

  it('never throws on bad numbers: negative or non-finite values are ignored', async () => {
    const metrics = new PrometheusMetrics();
    expect(() => {
      metrics.tokensRecorded('prompt', -5);
      metrics.tokensRecorded('prompt', Number.NaN);
      metrics.operation('record', 'ok', Number.POSITIVE_INFINITY);
      metrics.bufferedRecords(-1);
    }).not.toThrow();
    const samples = parse(await metrics.exposition());
    expect(valueOf(samples, 'token_usage_tokens_recorded_total', { type: 'prompt' })).toBe(0);
    expect(valueOf(samples, 'token_usage_operations_total', { operation: 'record', outcome: 'ok' })).toBe(1);
    expect(valueOf(samples, 'token_usage_operation_duration_seconds_count', { operation: 'record' })).toBeUndefined();
    expect(valueOf(samples, 'token_usage_buffered_records')).toBe(0);
  });
});

describe('NoopMetrics', () => {
  it('accepts every call and exposes nothing', async () => {
    const metrics = new NoopMetrics();
    metrics.tokensRecorded('prompt', 1);
    metrics.operation('record', 'ok', 0.1);
    metrics.storeError('unavailable');
    metrics.alertFired('info');
    metrics.bufferedRecords(3);
    expect(await metrics.exposition()).toBe('');
  });
});
