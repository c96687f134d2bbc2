/** Percentiles (nearest rank) and medians. */

export interface Percentiles {
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
}

/** Sorts `values` in place (numeric, typed-array sort) and returns p50 / p99 / p99.9 by nearest rank. */
export function percentiles(values: Float64Array): Percentiles {
  if (values.length === 0) return { p50: Number.NaN, p99: Number.NaN, p999: Number.NaN };
  values.sort();
  const at = (p: number): number => values[Math.min(values.length - 1, Math.max(0, Math.ceil(p * values.length) - 1))] as number;
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999) };
}

export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const mid = Math.floor(finite.length / 2);
  return finite.length % 2 === 1 ? (finite[mid] as number) : ((finite[mid - 1] as number) + (finite[mid] as number)) / 2;
}
