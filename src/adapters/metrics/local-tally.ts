import type { Counter, Histogram } from 'prom-client';

/**
 * Local aggregation for the hot path of `PrometheusMetrics`: an observation is a few array writes;
 * the sums move into the prom-client metrics only when they are collected (`registry.metrics()`,
 * `metric.get()`), so the exposition is the same as if every call had gone to prom-client directly,
 * series in the order they were first touched included.
 */

/** Counts per label combination, by index; `labels(i)` names combination `i`. */
export class CounterTally<L extends string> {
  readonly #counts: Float64Array;
  readonly #touched: Uint8Array;
  readonly #order: number[] = [];
  readonly #labels: (index: number) => Partial<Record<L, string>>;

  constructor(size: number, labels: (index: number) => Partial<Record<L, string>>) {
    this.#counts = new Float64Array(size);
    this.#touched = new Uint8Array(size);
    this.#labels = labels;
  }

  add(index: number, count: number): void {
    if (this.#touched[index] === 0) {
      this.#touched[index] = 1;
      this.#order.push(index);
    }
    this.#counts[index]! += count;
  }

  /** Moves what was counted since the last publish into `counter`. */
  publish(counter: Counter<L>): void {
    for (const index of this.#order) {
      const count = this.#counts[index]!;
      this.#counts[index] = 0;
      counter.inc(this.#labels(index), count);
    }
    this.#order.length = 0;
    this.#touched.fill(0);
  }
}

/** The part of a prom-client histogram's state that publishing writes (prom-client 15's `hashMap` entries). */
interface HistogramEntry {
  labels: Record<string, string | number>;
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

/**
 * Bucket counts, sum and count per label combination, by index, with prom-client's bucket rule
 * (`value <= bound`). `bounds` must be the histogram's own (`histogramBounds`), which a shared
 * histogram took from the instance that created it.
 */
export class HistogramTally<L extends string> {
  readonly #bounds: readonly number[];
  readonly #buckets: Float64Array[];
  readonly #sums: Float64Array;
  readonly #counts: Float64Array;
  readonly #order: number[] = [];
  readonly #labels: (index: number) => Record<L, string>;

  constructor(size: number, bounds: readonly number[], labels: (index: number) => Record<L, string>) {
    this.#bounds = bounds;
    this.#buckets = Array.from({ length: size }, () => new Float64Array(bounds.length));
    this.#sums = new Float64Array(size);
    this.#counts = new Float64Array(size);
    this.#labels = labels;
  }

  observe(index: number, value: number): void {
    if (this.#counts[index] === 0) this.#order.push(index);
    this.#counts[index]! += 1;
    this.#sums[index]! += value;
    const bounds = this.#bounds;
    for (let b = 0; b < bounds.length; b++) {
      if (value <= bounds[b]!) {
        this.#buckets[index]![b]! += 1;
        return;
      }
    }
    // Above the last bound: only in +Inf, which prom-client derives from the count.
  }

  /** Moves what was observed since the last publish into `histogram`, creating its series when new. */
  publish(histogram: Histogram<L>): void {
    const state = histogram as unknown as { hashMap: Record<string, HistogramEntry> };
    for (const index of this.#order) {
      const labels = this.#labels(index);
      let entry = find(state.hashMap, labels);
      if (entry === undefined) {
        histogram.zero(labels);
        entry = find(state.hashMap, labels);
      }
      if (entry === undefined) throw new Error('prom-client histogram has no series after zero()');
      const buckets = this.#buckets[index]!;
      this.#bounds.forEach((bound, b) => {
        if (buckets[b]! > 0) entry.bucketValues[bound] = (entry.bucketValues[bound] ?? 0) + buckets[b]!;
      });
      entry.sum += this.#sums[index]!;
      entry.count += this.#counts[index]!;
      buckets.fill(0);
      this.#sums[index] = 0;
      this.#counts[index] = 0;
    }
    this.#order.length = 0;
  }
}

/** The upper bounds a prom-client histogram counts into. */
export function histogramBounds(histogram: Histogram<string>): readonly number[] {
  return (histogram as unknown as { upperBounds: readonly number[] }).upperBounds;
}

function find(map: Record<string, HistogramEntry>, labels: Record<string, string>): HistogramEntry | undefined {
  const names = Object.keys(labels);
  return Object.values(map).find(
    (entry) => Object.keys(entry.labels).length === names.length && names.every((n) => entry.labels[n] === labels[n]),
  );
}

type Publisher = () => void;
const PUBLISHERS = new WeakMap<object, Set<Publisher>>();

/**
 * Runs `publish` whenever `metric` is collected, alongside the publishers of other instances sharing
 * the metric, and before any `collect` the metric already had.
 */
export function publishOnCollect(metric: object, publish: Publisher): void {
  let publishers = PUBLISHERS.get(metric);
  if (publishers === undefined) {
    const created = new Set<Publisher>();
    publishers = created;
    PUBLISHERS.set(metric, created);
    const target = metric as { collect?: () => unknown };
    const previous = target.collect;
    target.collect = function collect(this: unknown): unknown {
      for (const run of created) run();
      return previous?.call(this);
    };
  }
  publishers.add(publish);
}
