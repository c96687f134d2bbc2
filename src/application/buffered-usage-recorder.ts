import { StoreUnavailableError } from '../domain/errors.js';
import type { UsageError } from '../domain/errors.js';
import { generatedIdempotencyKey } from '../domain/idempotency.js';
import { integerOption, parseOptions } from '../domain/options.js';
import type { TokenCount } from '../domain/token-count.js';
import type { RecordUsageInput, UsageAccounting } from '../domain/usage-accounting.js';
import type { Logger } from '../ports/logger.js';
import type { Metrics } from '../ports/metrics.js';
import type { RecordUsageCommand, UsageStore } from '../ports/usage-store.js';

/** Options of a {@link BufferedUsageRecorder}. */
export interface BufferedRecorderOptions {
  /**
   * Also flush as soon as this many records are buffered (the seed's batch size). Default 1,000,000:
   * records of a user already buffered merge into its sum, so a count trigger below the number of
   * users would flush one-record sums and coalesce nothing; the interval bounds what a crash loses.
   */
  readonly maxBatchRecords: number;
  /** Flush whatever is buffered at least this often, in ms. Bounds what a crash can lose. */
  readonly flushIntervalMs: number;
  /**
   * Most buffered entries (distinct user+cycle sums, plus records carrying their own idempotency key)
   * before `record()` waits for a flush instead of growing: the memory bound.
   */
  readonly highWaterMark: number;
  /**
   * How long the key generated for each flushed sum stays claimed in Redis, in ms. A retried flush is
   * deduplicated within this window; it only matters when a flush's reply is lost and Redis then stays
   * unreachable for longer than this. Costs about 165 bytes of Redis memory per flushed sum for the
   * window (caller keys keep the dedupe window).
   */
  readonly keyWindowMs: number;
  /** First delay before re-sending a failed flush, doubling up to `retryMaxDelayMs`. */
  readonly retryBaseDelayMs: number;
  readonly retryMaxDelayMs: number;
}

/**
 * Defaults: flush every second (or at 1,000,000 records); hold at most 50,000 entries (one per user
 * and cycle recording within a flush, twice while a flush is in flight), ~400 bytes each, about 20 MB.
 */
export const DEFAULT_BUFFERED_RECORDER_OPTIONS: BufferedRecorderOptions = {
  maxBatchRecords: 1_000_000,
  flushIntervalMs: 1_000,
  highWaterMark: 50_000,
  keyWindowMs: 3_600_000,
  retryBaseDelayMs: 100,
  retryMaxDelayMs: 5_000,
};

const CLOSE_OPTIONS = { timeoutMs: integerOption(0, 2_147_483_647) } as const;

/** Builds one recorder on first use and remembers it, so whoever closes the repository flushes it. */
export class LazyRecorder {
  readonly #create: () => BufferedUsageRecorder;
  #instance: BufferedUsageRecorder | undefined;
  #closed = false;

  constructor(create: () => BufferedUsageRecorder) {
    this.#create = create;
  }

  /** The recorder, built now if needed (it starts its flush timer). Throws `StoreUnavailableError` once closed. */
  get(): BufferedUsageRecorder {
    // Built after close, a recorder would acknowledge records that no flush can ever write.
    if (this.#closed && this.#instance === undefined) throw new StoreUnavailableError('record', 'the buffered recorder is closed');
    return (this.#instance ??= this.#create());
  }

  /** Closes the recorder if one was built (see {@link BufferedUsageRecorder.close}); none is built afterwards. */
  async close(closeOptions?: { timeoutMs?: number }): Promise<void> {
    const options = parseOptions(closeOptions, CLOSE_OPTIONS);
    this.#closed = true;
    await this.#instance?.close(options);
  }

  /** The recorder if anyone asked for it yet. */
  get current(): BufferedUsageRecorder | undefined {
    return this.#instance;
  }
}

/** A record the store refused for good (e.g. corrupt data), kept so it is never silently lost. */
export interface DeadLetter {
  readonly command: RecordUsageCommand;
  /** How many `record()` calls were summed into it. */
  readonly records: number;
  readonly error: UsageError;
}

interface Entry {
  command: RecordUsageCommand;
  records: number;
  /** Its idempotency key was generated at flush time: a duplicate means an earlier attempt landed. */
  generatedKey?: boolean;
}

/** A user's buffered sum: the first record plus the tokens of those merged into it since (no per-record allocation). */
interface SumEntry extends Entry {
  promptTokens: number;
  completionTokens: number;
  otherTokens: number;
  cycle: RecordUsageCommand['cycle'];
}

/**
 * Buffers usage records and writes them in batches: records of the same user, cycle and local day are summed,
 * and each flush is one pipelined round trip of atomic record scripts.
 *
 * - `record()` resolves once the record is in the buffer (acknowledged). While the process lives, an
 *   acknowledged record is never lost: a failed flush keeps its batch and retries with backoff; a
 *   record the store refuses for good goes to {@link deadLetters}, never away.
 * - Every write of a flush carries an idempotency key fixed before its first attempt (a generated one
 *   for sums, the caller's for records that brought one), so a flush that was partly applied before a
 *   failure is never counted twice when retried.
 * - Memory is bounded by users, not records: a record without a caller key merges into its user's
 *   buffered sum; past `highWaterMark` entries (sums plus records with a caller key, which are kept
 *   apart so each key is claimed with its own increment), `record()` waits for the flush (backpressure).
 * - A crash loses at most what was buffered and not yet flushed: at most `flushIntervalMs` of records
 *   or `maxBatchRecords` records, whichever comes first (plus a batch being retried while the store
 *   is down).
 */
export class BufferedUsageRecorder {
  readonly #store: UsageStore;
  readonly #accounting: UsageAccounting;
  readonly #options: BufferedRecorderOptions;
  readonly #logger: Logger;
  readonly #metrics: Metrics | undefined;
  readonly #onWritten: ((command: RecordUsageCommand) => unknown) | undefined;
  /** Work started by `onWritten` (e.g. alert checks) that `close()` waits for. */
  readonly #followUps = new Set<Promise<unknown>>();
  readonly #timer: ReturnType<typeof setInterval>;
  /** Sums of records without a caller key, by user, cycle and rollup day. */
  #sums = new Map<string, SumEntry>();
  /** Records kept apart: those with a caller key (each key is claimed with its own increment). */
  #unsummed: Entry[] = [];
  /** Caller keys in the buffer, so a key repeated before the flush is dropped as a duplicate. */
  #bufferedKeys = new Set<string>();
  #bufferedRecords = 0;
  #inFlightEntries = 0;
  #inFlightRecords = 0;
  #draining: Promise<void> | undefined;
  #batchesTaken = 0;
  #batchesWritten = 0;
  #spaceWaiters: Array<() => void> = [];
  readonly #deadLetters: DeadLetter[] = [];
  #closed = false;

  constructor(
    store: UsageStore,
    accounting: UsageAccounting,
    options: Partial<BufferedRecorderOptions>,
    logger: Logger,
    hooks: {
      readonly metrics?: Metrics;
      /**
       * Called for each sum or record the store applied (not for duplicates), e.g. to check alerts. A
       * promise it returns is tracked: `close()` resolves only after it settles.
       */
      readonly onWritten?: (command: RecordUsageCommand) => unknown;
    } = {},
  ) {
    this.#store = store;
    this.#accounting = accounting;
    this.#options = { ...DEFAULT_BUFFERED_RECORDER_OPTIONS, ...options };
    for (const [name, value] of Object.entries(this.#options)) {
      if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`${name} must be a positive integer, got ${value}`);
    }
    this.#logger = logger;
    this.#metrics = hooks.metrics;
    this.#onWritten = hooks.onWritten;
    this.#timer = setInterval(() => this.#kick(), this.#options.flushIntervalMs);
    this.#timer.unref();
  }

  /**
   * Validates the record (throws `ValidationError`, buffering nothing) and buffers it. Resolves when
   * it is buffered; waits first while the buffer is at its high-water mark.
   */
  async record(input: RecordUsageInput): Promise<void> {
    if (this.#closed) throw new StoreUnavailableError('record', 'the buffered recorder is closed');
    const command = this.#accounting.prepare(input);
    if (command === null) return;
    while (this.#entries() >= this.#options.highWaterMark) {
      this.#kick();
      await new Promise<void>((resolve) => this.#spaceWaiters.push(resolve));
      if (this.#closed) throw new StoreUnavailableError('record', 'the buffered recorder is closed');
    }
    this.#add(command);
    if (this.#bufferedRecords >= this.#options.maxBatchRecords) this.#kick();
  }

  /** Writes everything buffered so far; resolves when it is in the store. */
  async flush(): Promise<void> {
    // The records buffered now go out in the next batch taken; wait until that batch is written.
    const target = this.#batchesTaken + (this.#bufferedRecords > 0 ? 1 : 0);
    while (this.#batchesWritten < target) {
      this.#kick();
      await this.#draining;
    }
  }

  /**
   * Starts the one drain loop unless it runs: it takes the buffer as a batch, writes it, and repeats
   * while records are buffered. One loop, however many records or timers ask for a flush.
   */
  #kick(): void {
    if (this.#draining !== undefined || this.#bufferedRecords === 0) return;
    this.#draining = (async () => {
      try {
        while (this.#bufferedRecords > 0) {
          const batch = this.#takeBuffer();
          this.#batchesTaken += 1;
          try {
            await this.#write(batch);
          } finally {
            this.#batchesWritten += 1;
            this.#inFlightEntries = 0;
            this.#inFlightRecords = 0;
            this.#report();
            for (const wake of this.#spaceWaiters.splice(0)) wake();
          }
        }
      } finally {
        this.#draining = undefined;
      }
    })();
    this.#draining.catch(() => undefined); // surfaced to flush() callers; the timer must not crash
  }

  /**
   * Stops the timer and flushes everything, waiting for retries while the store is down, at most
   * `timeoutMs` (default: no limit). Rejects if records are still unflushed then; they are lost only
   * if the process exits.
   */
  async close(closeOptions?: { timeoutMs?: number }): Promise<void> {
    const options = parseOptions(closeOptions, CLOSE_OPTIONS);
    this.#closed = true;
    clearInterval(this.#timer);
    for (const wake of this.#spaceWaiters.splice(0)) wake();
    const drained = (async () => {
      while (this.#bufferedRecords > 0 || this.#draining !== undefined) {
        await this.flush();
        await this.#draining;
      }
      await this.#followUpsSettled(); // e.g. the alert checks of the last flush: claimed must mean delivered
    })();
    if (options.timeoutMs === undefined) return drained;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const pending = this.pendingRecords;
        this.#logger.error({ pendingRecords: pending }, 'buffered recorder closed with unflushed records');
        reject(new StoreUnavailableError('close', `${pending} records are still unflushed`));
      }, options.timeoutMs);
      timer.unref();
    });
    try {
      await Promise.race([drained, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Records accepted but not yet written (buffered plus in flight). */
  get pendingRecords(): number {
    return this.#bufferedRecords + this.#inFlightRecords;
  }

  /** Records the store refused for good; kept until the caller deals with them. */
  deadLetters(): readonly DeadLetter[] {
    return [...this.#deadLetters];
  }

  #entries(): number {
    return this.#sums.size + this.#unsummed.length + this.#inFlightEntries;
  }

  #add(command: RecordUsageCommand): void {
    const [callerKey] = command.idempotencyKeys;
    if (callerKey !== undefined) {
      const bufferedKey = `${command.userId}\u0000${callerKey}`;
      if (this.#bufferedKeys.has(bufferedKey)) return; // the same key twice before a flush: a duplicate
      this.#bufferedKeys.add(bufferedKey);
      this.#unsummed.push({ command, records: 1 });
    } else {
      // The rollup day too: a sum spanning midnight would put the next day's records on the first one.
      const key = `${command.userId}\u0000${command.cycle.start}\u0000${command.rollupDay}`;
      const entry = this.#sums.get(key);
      if (entry === undefined) {
        this.#sums.set(key, {
          command,
          records: 1,
          promptTokens: command.promptTokens,
          completionTokens: command.completionTokens,
          otherTokens: command.otherTokens,
          cycle: command.cycle,
        });
      } else if (
        Number.isSafeInteger(
          entry.promptTokens + entry.completionTokens + entry.otherTokens +
            command.promptTokens + command.completionTokens + command.otherTokens,
        )
      ) {
        entry.promptTokens += command.promptTokens;
        entry.completionTokens += command.completionTokens;
        entry.otherTokens += command.otherTokens;
        entry.cycle = command.cycle; // the latest retention
        entry.records += 1;
      } else {
        this.#unsummed.push({ command, records: 1 }); // a sum past 2^53 - 1 would lose tokens: keep it apart
      }
    }
    this.#bufferedRecords += 1;
    this.#report();
  }

  /** Seals the buffer into a batch; each sum gets its idempotency key now, before any attempt. */
  #takeBuffer(): Entry[] {
    const sums = [...this.#sums.values()].map(
      (sum): Entry => ({
        records: sum.records,
        command: {
          ...sum.command,
          cycle: sum.cycle,
          promptTokens: sum.promptTokens as TokenCount,
          completionTokens: sum.completionTokens as TokenCount,
          otherTokens: sum.otherTokens as TokenCount,
        },
      }),
    );
    const batch = [...sums, ...this.#unsummed].map((entry) =>
      entry.command.idempotencyKeys.length > 0
        ? entry
        : {
            records: entry.records,
            generatedKey: true,
            command: {
              ...entry.command,
              idempotencyKeys: [generatedIdempotencyKey()],
              dedupeWindowMs: Math.min(entry.command.dedupeWindowMs, this.#options.keyWindowMs),
            },
          },
    );
    this.#inFlightEntries = batch.length;
    this.#inFlightRecords = this.#bufferedRecords;
    this.#sums = new Map();
    this.#unsummed = [];
    this.#bufferedKeys = new Set();
    this.#bufferedRecords = 0;
    return batch;
  }

  async #write(batch: Entry[]): Promise<void> {
    const started = performance.now();
    let pending = batch;
    for (let attempt = 1; pending.length > 0; attempt += 1) {
      try {
        const results = await this.#store.recordUsageBatch(pending.map((entry) => entry.command));
        const retry: Entry[] = [];
        results.forEach((result, i) => {
          const entry = pending[i] as Entry;
          if (result.ok) {
            // A duplicate on a retry may be this flush's own lost attempt (always so for a generated
            // key): report it, since the hook (an alert check) is idempotent and must not miss it.
            if (!result.outcome.duplicate || entry.generatedKey === true || attempt > 1) this.#followUp(entry.command);
          } else if (result.error instanceof StoreUnavailableError) {
            retry.push(entry); // not a refusal: the store did not answer for it; same key next time
          } else {
            this.#deadLetters.push({ command: entry.command, records: entry.records, error: result.error });
            this.#logger.error(
              { err: { code: result.error.code, message: result.error.message }, records: entry.records },
              'the store refused a buffered record; kept in deadLetters()',
            );
          }
        });
        pending = retry;
        if (retry.length > 0) throw new StoreUnavailableError('flush', `${retry.length} records got no answer`);
      } catch (error) {
        if (!(error instanceof StoreUnavailableError)) {
          for (const entry of pending) this.#deadLetters.push({ command: entry.command, records: entry.records, error: error as UsageError });
          this.#logger.error({ err: { message: (error as Error).message } }, 'buffered flush failed for good; kept in deadLetters()');
          throw error;
        }
        const delayMs = Math.min(this.#options.retryMaxDelayMs, this.#options.retryBaseDelayMs * 2 ** (attempt - 1));
        this.#logger.warn(
          { attempt, delayMs, records: pending.length, err: { message: error.message } },
          'buffered flush failed; retrying the same batch with the same idempotency keys',
        );
        this.#metrics?.operation('flush', 'error', (performance.now() - started) / 1000);
        await new Promise((resolve) => setTimeout(resolve, delayMs).unref?.());
      }
    }
    this.#metrics?.operation('flush', 'ok', (performance.now() - started) / 1000);
  }

  #report(): void {
    this.#metrics?.bufferedRecords(this.pendingRecords);
  }

  #followUp(command: RecordUsageCommand): void {
    if (this.#onWritten === undefined) return;
    let work: Promise<unknown>;
    try {
      work = Promise.resolve(this.#onWritten(command));
    } catch (error) {
      work = Promise.reject(error);
    }
    const tracked = work
      .catch((error: unknown) => {
        this.#logger.warn({ err: { message: (error as Error)?.message ?? String(error) } }, 'follow-up of a buffered write failed');
      })
      .finally(() => this.#followUps.delete(tracked));
    this.#followUps.add(tracked);
  }

  async #followUpsSettled(): Promise<void> {
    while (this.#followUps.size > 0) await Promise.allSettled([...this.#followUps]);
  }
}
