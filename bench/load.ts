/**
 * A closed-loop load driver: exactly `concurrency` operations are in flight until the deadline
 * (then the in-flight ones drain); each op's latency is taken with `performance.now()` into a
 * preallocated Float64Array. Op `i` is numbered globally so callers can map it to a user.
 */

export type Op = (i: number) => Promise<unknown>;

export interface LoadOptions {
  readonly concurrency: number;
  /** Stop issuing new ops after this long. */
  readonly durationMs: number;
  /** Hard cap on ops (also bounded by the latency buffer's length). */
  readonly maxOps?: number;
  /** First op number (so consecutive runs can continue the user sequence). */
  readonly firstOp?: number;
  /** Runs after the last op completed, inside the timed window (e.g. a final flush). */
  readonly finish?: () => Promise<void>;
}

export interface LoadResult {
  /** Completed ops (successful or not). */
  readonly ops: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  /** Wall time from the first issue to the end of `finish`. */
  readonly elapsedMs: number;
  /** Latencies in ms of the completed ops, in completion order (a view into the shared buffer). */
  readonly latencies: Float64Array;
}

let shared = new Float64Array(0);

/** The latency buffer, grown once to the largest size asked for and then reused. */
function latencyBuffer(size: number): Float64Array {
  if (shared.length < size) shared = new Float64Array(size);
  return shared;
}

export async function runClosedLoop(op: Op, options: LoadOptions): Promise<LoadResult> {
  const cap = Math.max(options.concurrency, options.maxOps ?? 4_000_000);
  const latencies = latencyBuffer(cap);
  const first = options.firstOp ?? 0;
  let issued = 0;
  let done = 0;
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const deadline = started + options.durationMs;

  const worker = async (): Promise<void> => {
    for (;;) {
      if (issued >= cap) return;
      const t0 = performance.now();
      if (t0 >= deadline) return;
      const i = first + issued;
      issued += 1;
      try {
        await op(i);
      } catch (error) {
        errors += 1;
        firstError ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      }
      latencies[done] = performance.now() - t0;
      done += 1;
    }
  };

  const workers: Promise<void>[] = new Array(options.concurrency);
  for (let w = 0; w < options.concurrency; w++) workers[w] = worker();
  await Promise.all(workers);
  if (options.finish !== undefined) await options.finish();
  const elapsedMs = performance.now() - started;
  return { ops: done, errors, firstError, elapsedMs, latencies: latencies.subarray(0, done) };
}
