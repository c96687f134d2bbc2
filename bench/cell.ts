/** One cell: one row at one number of operations in flight, on a freshly flushed database. */
import { cpuShare, cpuSnapshot } from './cpu.js';
import type { CpuShare } from './cpu.js';
import { runClosedLoop } from './load.js';
import type { BenchContext, Row } from './rows.js';
import { percentiles } from './stats.js';
import type { Percentiles } from './stats.js';

export interface CellResult extends Percentiles, CpuShare {
  readonly row: string;
  readonly concurrency: number;
  readonly round: number;
  readonly opsPerSec: number;
  readonly ops: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  /** Records found in Redis after the cell minus records acknowledged (0 = nothing lost); undefined when not checked. */
  readonly lostRecords: number | undefined;
}

export interface CellOptions {
  readonly concurrency: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly round: number;
  readonly redisPid: number | undefined;
  /** Called around the measured window only (e.g. a CPU profiler). */
  readonly around?: { before(): Promise<void>; after(): Promise<void> };
}

export async function runCell(row: Row, ctx: BenchContext, options: CellOptions): Promise<CellResult> {
  if (row.redis) await ctx.admin.flushall();
  const instance = await row.open(ctx);
  try {
    if (instance.seed !== undefined) await instance.seed();
    // Warm-up at the same concurrency: connects, loads scripts, lets the JIT settle.
    const warm = await runClosedLoop(instance.op, {
      concurrency: options.concurrency,
      durationMs: options.warmupMs,
      ...(instance.finish === undefined ? {} : { finish: instance.finish }),
    });
    await options.around?.before();
    const before = cpuSnapshot(options.redisPid);
    const measured = await runClosedLoop(instance.op, {
      concurrency: options.concurrency,
      durationMs: options.durationMs,
      firstOp: warm.ops,
      ...(instance.finish === undefined ? {} : { finish: instance.finish }),
    });
    const after = cpuSnapshot(options.redisPid);
    await options.around?.after();
    const acknowledged = warm.ops - warm.errors + measured.ops - measured.errors;
    const lostRecords =
      instance.recordedRecords === undefined ? undefined : acknowledged - (await instance.recordedRecords());
    return {
      row: row.id,
      concurrency: options.concurrency,
      round: options.round,
      opsPerSec: (measured.ops / measured.elapsedMs) * 1000,
      ops: measured.ops,
      errors: measured.errors + warm.errors,
      firstError: measured.firstError ?? warm.firstError,
      lostRecords,
      ...percentiles(measured.latencies),
      ...cpuShare(before, after),
    };
  } finally {
    await instance.close();
  }
}
