/**
 * The memory row: a buffered recorder whose Redis is unreachable (a closed 127.0.0.1 port), fed by
 * 10,000 callers at once (one per user). The heap must stay under the recorder's bound, and once
 * the buffer is full `record()` must block (backpressure) instead of the buffer growing.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Container } from 'inversify';
import type { UsageStore } from '../src/ports/usage-store.js';
import type { Library } from './lib.js';
import { runClosedLoop } from './load.js';
import { freeLoopbackPort, LOOPBACK } from './redis-server.js';
import { COMPLETION, PROMPT, USER_IDS, USERS } from './rows.js';

export interface MemorySample {
  readonly atMs: number;
  /** heapUsed after a forced full GC, minus the baseline: what the recorder and its callers retain. */
  readonly retainedMB: number;
  readonly acceptedRecords: number;
  readonly pendingRecords: number;
}

export interface MemoryResult {
  readonly highWaterMark: number;
  readonly callers: number;
  readonly durationMs: number;
  readonly perEntryBytes: number;
  readonly perWaiterBytes: number;
  readonly perAttemptCommandBytes: number;
  /** Post-GC retained heap at the last sample minus at the first: ~0 when memory is flat. */
  readonly retainedDriftMB: number;
  readonly boundMB: number;
  /** Highest heapUsed seen (10 ms sampling, garbage included) minus the baseline. */
  readonly peakHeapGrowthMB: number;
  /** Highest post-GC heapUsed minus the baseline: the retained memory the bound is about. */
  readonly peakRetainedMB: number;
  readonly acceptedRecords: number;
  readonly blockedCallers: number;
  /** Callers whose blocked record() threw when close() woke them. */
  readonly wokenByClose: number;
  readonly pendingRecords: number;
  /** Records the recorder moved to deadLetters() during the outage (each entry counts its records). */
  readonly deadLetteredRecords: number;
  readonly closeOutcome: string;
  readonly timeline: readonly MemorySample[];
  readonly pass: boolean;
}

function gcFunction(): () => void {
  setFlagsFromString('--expose_gc');
  return runInNewContext('gc') as () => void;
}

const MB = 1024 * 1024;

export async function memoryUnderOutage(
  lib: Library,
  options: { highWaterMark: number; durationMs: number },
): Promise<MemoryResult> {
  const { resolveConfig, tokenUsageModule, TOKENS, BufferedUsageRecorder } = lib;
  const gc = gcFunction();
  const logger = lib.createDefaultLogger('silent');
  const closedPort = await freeLoopbackPort(); // nothing listens there
  const config = resolveConfig({
    redis: { url: `redis://${LOOPBACK}:${closedPort}`, connectTimeoutMs: 1_000 },
    logLevel: 'silent',
  });
  const container = new Container();
  container.load(tokenUsageModule({ config, logger }));
  const store: UsageStore = container.get(TOKENS.UsageStore);
  const accounting = container.get(TOKENS.UsageAccounting);
  const hwm = options.highWaterMark;

  // Estimate 1: retained bytes of one buffered entry, in a real recorder: `hwm` records of distinct
  // users buffered (no flush: a long interval, a store that never answers). A synthetic map of the
  // prepared commands, used before, left out the recorder's own entry structures.
  const neverAnswers = { recordUsageBatch: () => new Promise<never>(() => undefined) } as unknown as UsageStore;
  gc();
  let before = process.memoryUsage().heapUsed;
  const buffering = new BufferedUsageRecorder(neverAnswers, accounting, { highWaterMark: hwm, flushIntervalMs: 60_000 }, logger);
  for (let i = 0; i < hwm; i++) await buffering.record({ userId: `estimate-${i}`, promptTokens: PROMPT, completionTokens: COMPLETION });
  gc();
  const perEntryBytes = (process.memoryUsage().heapUsed - before) / hwm;
  await buffering.close({ timeoutMs: 100 }).catch(() => undefined); // it cannot flush: the store never answers

  // Estimate 2: retained bytes of one caller parked in record(), measured the way the run below parks
  // them: the same closed-loop harness (its worker frame and op included) calling record() on a
  // recorder whose buffer is full (high-water mark 1) and whose store never answers, so all callers but
  // one park at once, with no time for anything to accumulate. (A synthetic frame, used before,
  // left out the harness's own frames: about 0.4 kB of the ~1.7 kB per caller.)
  const callers = USERS;
  const parking = new BufferedUsageRecorder(neverAnswers, accounting, { highWaterMark: 1, flushIntervalMs: 60_000 }, logger);
  gc();
  before = process.memoryUsage().heapUsed;
  const parked = runClosedLoop(
    (i) => parking.record({ userId: USER_IDS[i % USERS] as string, promptTokens: PROMPT, completionTokens: COMPLETION }),
    { concurrency: callers, durationMs: 60_000, maxOps: callers * 2 },
  );
  while (parking.pendingRecords < 1) await new Promise((resolve) => setTimeout(resolve, 10));
  await new Promise((resolve) => setTimeout(resolve, 200)); // every caller reached its await
  gc();
  const perWaiterBytes = (process.memoryUsage().heapUsed - before) / callers;
  await parking.close({ timeoutMs: 100 }).catch(() => undefined); // wakes the parked callers with an error
  await parked;

  // Estimate 3: retained bytes per command of one flush attempt while Redis is down (the sealed
  // command with its idempotency key, built at flush beside the entry, its script arguments and the
  // ioredis command queued until the connection gives up). The sealed commands count too: measured
  // from before they are built (before, they were left out: ~0.6 kB of ~4 kB per command).
  gc();
  before = process.memoryUsage().heapUsed;
  const attempt: NonNullable<ReturnType<typeof accounting.prepare>>[] = [];
  for (let i = 0; i < hwm; i++) {
    const command = accounting.prepare({ userId: `attempt-${i}`, promptTokens: PROMPT, completionTokens: COMPLETION, idempotencyKey: `k${i}` });
    if (command !== null) attempt.push(command);
  }
  const pendingAttempt = store.recordUsageBatch(attempt).catch(() => undefined);
  gc();
  const perAttemptCommandBytes = Math.max(0, (process.memoryUsage().heapUsed - before) / hwm);
  await pendingAttempt;
  attempt.length = 0;

  // The bound the design implies: at most highWaterMark entries (buffered sums plus the sealed batch
  // being retried), one flush attempt's commands for them, and the callers parked in record().
  const boundBytes = hwm * (perEntryBytes + perAttemptCommandBytes) + callers * perWaiterBytes;

  const recorder = new BufferedUsageRecorder(
    store,
    accounting,
    { highWaterMark: hwm, retryBaseDelayMs: 100, retryMaxDelayMs: 1_000 },
    logger,
  );
  gc();
  const baseline = process.memoryUsage().heapUsed;
  let peak = baseline;
  let accepted = 0;
  const started = performance.now();
  const timeline: MemorySample[] = [];
  const sampler = setInterval(() => {
    const used = process.memoryUsage().heapUsed;
    if (used > peak) peak = used;
  }, 10);
  let retainedPeak = 0;
  const timelineTimer = setInterval(() => {
    gc();
    const retained = (process.memoryUsage().heapUsed - baseline) / MB;
    if (retained > retainedPeak) retainedPeak = retained;
    timeline.push({
      atMs: Math.round(performance.now() - started),
      retainedMB: retained,
      acceptedRecords: accepted,
      pendingRecords: recorder.pendingRecords,
    });
  }, Math.max(100, Math.floor(options.durationMs / 12)));

  let issued = 0;
  let completed = 0;
  const load = runClosedLoop(
    async (i) => {
      issued += 1;
      try {
        await recorder.record({ userId: USER_IDS[i % USERS] as string, promptTokens: PROMPT, completionTokens: COMPLETION });
        accepted += 1;
      } finally {
        completed += 1;
      }
    },
    { concurrency: callers, durationMs: options.durationMs },
  );
  await new Promise((resolve) => setTimeout(resolve, options.durationMs));
  clearInterval(timelineTimer);
  gc();
  retainedPeak = Math.max(retainedPeak, (process.memoryUsage().heapUsed - baseline) / MB);
  clearInterval(sampler);
  const pendingRecords = recorder.pendingRecords;
  const acceptedRecords = accepted;
  const deadLetteredRecords = recorder.deadLetters().reduce((sum, letter) => sum + letter.records, 0);
  // Every op issued and not completed is parked inside record(): nothing else in it can wait.
  const blockedCallers = issued - completed;
  let closeOutcome: string;
  try {
    await recorder.close({ timeoutMs: 500 });
    closeOutcome = 'closed (unexpected: everything flushed)';
  } catch (error) {
    closeOutcome = `close({ timeoutMs: 500 }) rejected as expected: ${(error as Error).message}`;
  }
  const result = await load;
  await store.close();
  const peakGrowthMB = (peak - baseline) / MB;
  const drift = timeline.length < 2 ? 0 : (timeline.at(-1)?.retainedMB ?? 0) - (timeline[0]?.retainedMB ?? 0);
  return {
    highWaterMark: hwm,
    callers,
    durationMs: options.durationMs,
    perEntryBytes,
    perWaiterBytes,
    perAttemptCommandBytes,
    retainedDriftMB: drift,
    boundMB: boundBytes / MB,
    peakHeapGrowthMB: peakGrowthMB,
    peakRetainedMB: retainedPeak,
    acceptedRecords,
    blockedCallers,
    wokenByClose: result.errors,
    pendingRecords,
    deadLetteredRecords,
    closeOutcome,
    timeline,
    // Bounded: under the estimate, not growing over time (a drop, e.g. once close() woke the parked
    // callers, is no growth), never more pending than the high-water mark, and nothing dropped into
    // deadLetters() (a transient outage must be retried, not dead-lettered).
    pass: retainedPeak <= boundBytes / MB && drift <= 0.1 * Math.max(1, retainedPeak) && pendingRecords <= hwm && deadLetteredRecords === 0,
  };
}
