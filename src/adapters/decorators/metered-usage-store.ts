import { UsageError } from '../../domain/errors.js';
import { RECORD_NOW, recordsNow, twinOf } from '../../domain/synchronous-record.js';
import type { RecordsNow } from '../../domain/synchronous-record.js';
import type { Clock } from '../../ports/clock.js';
import type { Metrics, StoreErrorKind } from '../../ports/metrics.js';
import type {
  BatchRecordResult,
  CycleRef,
  ReadOptions,
  RecordOutcome,
  RecordUsageCommand,
  ReleaseCommand,
  ReserveCommand,
  ReserveOutcome,
  SetLimitCommand,
  UsageSnapshot,
  UsageStore,
} from '../../ports/usage-store.js';

/**
 * Counts what reaches the store: tokens recorded (duplicates excluded, so each logical record counts
 * once however often it was retried below) and store failures by kind. Outermost in the stack.
 */
export class MeteredUsageStore implements UsageStore {
  readonly #inner: UsageStore;
  readonly #metrics: Metrics;
  /** Present when the inner store records synchronously: then so does this decorator (see `RECORD_NOW`). */
  readonly [RECORD_NOW]: ((command: RecordUsageCommand, clock: Clock, now: number) => RecordOutcome) | undefined;

  constructor(inner: UsageStore, metrics: Metrics) {
    this.#inner = inner;
    this.#metrics = metrics;
    const now = recordsNow(inner);
    const recordNow = now === undefined ? undefined : (command: RecordUsageCommand, clock: Clock, at: number) => this.#recordNow(now, command, clock, at);
    if (recordNow !== undefined) twinOf(recordNow, MeteredUsageStore.prototype.recordUsage);
    this[RECORD_NOW] = recordNow;
  }

  async recordUsage(command: RecordUsageCommand): Promise<RecordOutcome> {
    // Awaited here rather than through #observe: one async frame on the hot path, the same counting.
    const pending = this.#inner.recordUsage(command);
    let outcome: RecordOutcome;
    try {
      outcome = await pending;
    } catch (error) {
      this.#metrics.storeError(kindOf(error));
      throw error;
    }
    if (!outcome.duplicate) this.#count(command);
    return outcome;
  }

  /** `recordUsage` over a synchronous store: the same counting, without a promise. */
  #recordNow(inner: RecordsNow, command: RecordUsageCommand, clock: Clock, at: number): RecordOutcome {
    let outcome: RecordOutcome;
    try {
      outcome = inner[RECORD_NOW](command, clock, at);
    } catch (error) {
      this.#metrics.storeError(kindOf(error));
      throw error;
    }
    if (!outcome.duplicate) this.#count(command);
    return outcome;
  }

  async recordUsageBatch(commands: readonly RecordUsageCommand[]): Promise<BatchRecordResult[]> {
    const results = await this.#observe(this.#inner.recordUsageBatch(commands));
    results.forEach((result, i) => {
      if (result.ok && !result.outcome.duplicate) this.#count(commands[i] as RecordUsageCommand);
      if (!result.ok) this.#metrics.storeError(kindOf(result.error));
    });
    return results;
  }

  readUsage(ref: CycleRef, options?: ReadOptions): Promise<UsageSnapshot> {
    return this.#observe(this.#inner.readUsage(ref, options));
  }

  resetUsage(ref: CycleRef): Promise<void> {
    return this.#observe(this.#inner.resetUsage(ref));
  }

  setLimit(command: SetLimitCommand): Promise<void> {
    return this.#observe(this.#inner.setLimit(command));
  }

  reserve(command: ReserveCommand): Promise<ReserveOutcome> {
    return this.#observe(this.#inner.reserve(command));
  }

  releaseLease(command: ReleaseCommand): Promise<boolean> {
    return this.#observe(this.#inner.releaseLease(command));
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  #count(command: RecordUsageCommand): void {
    if (command.promptTokens > 0) this.#metrics.tokensRecorded('prompt', command.promptTokens);
    if (command.completionTokens > 0) this.#metrics.tokensRecorded('completion', command.completionTokens);
    if (command.otherTokens > 0) this.#metrics.tokensRecorded('other', command.otherTokens);
  }

  async #observe<T>(call: Promise<T>): Promise<T> {
    try {
      return await call;
    } catch (error) {
      this.#metrics.storeError(kindOf(error));
      throw error;
    }
  }
}

function kindOf(error: unknown): StoreErrorKind {
  if (error instanceof UsageError && error.code === 'USAGE.STORE_UNAVAILABLE') return 'unavailable';
  if (error instanceof UsageError && error.code === 'USAGE.CORRUPT_DATA') return 'corrupt';
  return 'other';
}
