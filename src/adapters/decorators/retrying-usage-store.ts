import { isUsageError } from '../../domain/errors.js';
import { generatedIdempotencyKey } from '../../domain/idempotency.js';
import { recordBatchFrom, recordCommandFrom } from '../../domain/store-commands.js';
import type { Logger } from '../../ports/logger.js';
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

/** Options of a {@link RetryingUsageStore}. */
export interface RetryingUsageStoreOptions {
  /** Attempts per call, the first included (>= 1). Default 4. */
  readonly maxAttempts?: number;
  /** Cap of the first backoff, in ms; doubles per attempt. Default 50. */
  readonly baseDelayMs?: number;
  /** Largest backoff cap, in ms. Default 2000. */
  readonly maxDelayMs?: number;
  /** Each retry is logged at `warn`. */
  readonly logger: Logger;
  /** Waits between attempts; default an unref'd timer. Inject to test without real time. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Uniform in [0, 1), for the jitter. Default `Math.random`. */
  readonly random?: () => number;
}

/**
 * A `UsageStore` that retries calls failing with a transient `StoreUnavailableError` (see
 * {@link isTransientStoreError}), with exponential backoff and full jitter: before attempt n + 1 it
 * waits `random() * min(maxDelayMs, baseDelayMs * 2^(n-1))` ms. Anything else is rethrown at once, and
 * after `maxAttempts` the last error is.
 *
 * A failed write may still have been applied, so writes are retried only with an idempotency key: a
 * record without one gets a generated key (`g:<uuid>`) before its first attempt, reused on every retry,
 * and a retry whose generated key turns out claimed (its earlier attempt did land) reports
 * `duplicate: false`. `reserve` is retried: the lease member is the same, and a store does not count a
 * held lease against its own repeat, so a retry of a landed grant is granted again (refreshing it),
 * never counted twice. `releaseLease`, `setLimit`, `resetUsage` and `readUsage` are retried as they are; a retried
 * `releaseLease` may answer `false` when its earlier attempt freed the lease.
 */
export class RetryingUsageStore implements UsageStore {
  readonly #inner: UsageStore;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #logger: Logger;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;
  /** Wakes each call waiting to retry (so `close()` can end the waits). */
  readonly #waiting = new Set<() => void>();
  #closed = false;

  constructor(inner: UsageStore, options: RetryingUsageStoreOptions) {
    this.#inner = inner;
    this.#maxAttempts = options.maxAttempts ?? 4;
    this.#baseDelayMs = options.baseDelayMs ?? 50;
    this.#maxDelayMs = options.maxDelayMs ?? 2_000;
    if (!Number.isSafeInteger(this.#maxAttempts) || this.#maxAttempts < 1) {
      throw new RangeError(`maxAttempts must be an integer >= 1, got ${this.#maxAttempts}`);
    }
    if (!(this.#baseDelayMs >= 0 && this.#maxDelayMs >= this.#baseDelayMs && Number.isFinite(this.#maxDelayMs))) {
      throw new RangeError(`need 0 <= baseDelayMs <= maxDelayMs < Infinity, got ${this.#baseDelayMs} and ${this.#maxDelayMs}`);
    }
    this.#logger = options.logger;
    this.#sleep = options.sleep ?? unrefSleep;
    this.#random = options.random ?? Math.random;
  }

  async recordUsage(command: RecordUsageCommand): Promise<RecordOutcome> {
    recordCommandFrom(command); // validated before a key is generated for it
    const keyed = this.#withKey(command);
    return this.#retry('recordUsage', async () => ownDuplicate(await this.#inner.recordUsage(keyed), keyed !== command));
  }

  async recordUsageBatch(commands: readonly RecordUsageCommand[]): Promise<BatchRecordResult[]> {
    recordBatchFrom(commands);
    const keyed = commands.map((command) => this.#withKey(command));
    const own = (result: BatchRecordResult, i: number): BatchRecordResult =>
      result.ok ? { ok: true, outcome: ownDuplicate(result.outcome, keyed[i] !== commands[i]) } : result;
    // A failed round trip is retried as a whole with the same keys; of an answered batch, only the
    // records that failed transiently (a Cluster part whose node failed) are sent again. A record that
    // came back refused (corrupt data) stays in the results as it is.
    const results: BatchRecordResult[] = [];
    let pending = keyed.map((_, i) => i);
    await this.#retry('recordUsageBatch', async () => {
      const answers = await this.#inner.recordUsageBatch(pending.map((i) => keyed[i] as RecordUsageCommand));
      const again: number[] = [];
      answers.forEach((answer, j) => {
        const index = pending[j] as number;
        results[index] = own(answer, index);
        if (!answer.ok && isTransientStoreError(answer.error)) again.push(index);
      });
      pending = again;
      if (again.length > 0) throw (answers.find((answer) => !answer.ok) as { error: Error }).error;
    }).catch((error: unknown) => {
      // Out of attempts with only some records failing: report them one by one, the rest succeeded.
      if (results.length === 0) throw error;
    });
    return results;
  }

  readUsage(ref: CycleRef, options?: ReadOptions): Promise<UsageSnapshot> {
    return this.#retry('readUsage', () => this.#inner.readUsage(ref, options));
  }

  resetUsage(ref: CycleRef): Promise<void> {
    return this.#retry('resetUsage', () => this.#inner.resetUsage(ref));
  }

  setLimit(command: SetLimitCommand): Promise<void> {
    return this.#retry('setLimit', () => this.#inner.setLimit(command));
  }

  reserve(command: ReserveCommand): Promise<ReserveOutcome> {
    return this.#retry('reserve', () => this.#inner.reserve(command));
  }

  releaseLease(command: ReleaseCommand): Promise<boolean> {
    return this.#retry('releaseLease', () => this.#inner.releaseLease(command));
  }

  /** Closes the inner store; calls waiting to retry stop waiting and fail with their last error. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const wake of [...this.#waiting]) wake();
    await this.#inner.close();
  }

  /** The command itself when it has a key (any claimed key dedupes it) or is never retried. */
  #withKey(command: RecordUsageCommand): RecordUsageCommand {
    if (command.idempotencyKeys.length > 0 || this.#maxAttempts === 1) return command;
    return { ...command, idempotencyKeys: [generatedIdempotencyKey()] };
  }

  async #retry<T>(operation: string, call: (attempt: number) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call(attempt);
      } catch (error) {
        if (attempt >= this.#maxAttempts || this.#closed || !isTransientStoreError(error)) throw error;
        const delayMs = this.#delayMs(attempt);
        this.#logger.warn(
          { operation, attempt, maxAttempts: this.#maxAttempts, delayMs, err: { message: (error as Error).message } },
          'usage store call failed transiently; retrying',
        );
        await this.#pause(delayMs);
        if (this.#closed) throw error;
      }
    }
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.#waiting.delete(wake);
        resolve();
      };
      this.#waiting.add(wake);
      this.#sleep(ms).then(wake, wake);
    });
  }

  /** Full jitter: uniform in [0, min(max, base * 2^(attempt-1))). */
  #delayMs(attempt: number): number {
    const cap = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (attempt - 1));
    return Math.floor(this.#random() * cap);
  }
}

/**
 * True when a failure says the command did not get through (or its reply did not come back) for a
 * reason that may pass: a `StoreUnavailableError` whose message or `cause` chain shows a refused,
 * reset or broken connection, an ioredis command timeout or `MaxRetriesPerRequestError`, or a Redis
 * reply that rejects a command without running it while the server is loading, failing over or busy
 * (`LOADING`, `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN`, `BUSY`, `READONLY`). Never: validation or
 * corrupt data, script errors, a closed store, or an ioredis client that was closed for good
 * (`Connection is closed.`, status `end`, from which it never reconnects).
 */
export function isTransientStoreError(error: unknown): boolean {
  if (!isUsageError(error, 'USAGE.STORE_UNAVAILABLE')) return false;
  // A Cluster that lost a node (killed or failed over) reconnects to the new topology.
  if (CLUSTER_TRANSIENT.test(messageOf(error))) return true;
  const chain: unknown[] = [];
  for (let link: unknown = error; link !== undefined && link !== null && chain.length < 5; ) {
    chain.push(link);
    link = link instanceof Error ? link.cause : undefined;
  }
  if (chain.some((link) => CLOSED_FOR_GOOD.test(messageOf(link)))) return false;
  return chain.some(
    (link) =>
      TRANSIENT_MESSAGE.test(messageOf(link)) ||
      (link instanceof Error && link.name === 'MaxRetriesPerRequestError') ||
      TRANSIENT_CODES.has(String((link as { code?: unknown }).code)),
  );
}

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
]);

const TRANSIENT_MESSAGE = new RegExp(
  [
    `\\b(?:${[...TRANSIENT_CODES].join('|')})\\b`,
    '^Command timed out$',
    'Reached the max retries per request limit',
    // A Redis error reply starts with its code; wrapped, it follows "Redis failed: ".
    '(?:^|: )(?:LOADING|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|BUSY|READONLY)\\b',
  ].join('|'),
);

/**
 * Redis Cluster failures of a command that did not run or whose node went away mid-failover: a node
 * connection closed (the store names it so), redirections past ioredis' own limit, a slot table in
 * flux (`MOVED`, `ASK`, a pipeline whose slots moved between nodes) or a slot refresh that failed;
 * and a write too few replicas confirmed in time (`WAIT`), which a keyed retry confirms again.
 */
const CLUSTER_TRANSIENT =
  /Redis Cluster node connection closed|Redis failed: WAIT: |Too many Cluster redirections|(?:^|: )(?:MOVED|ASK) \d+|should belong to the same slots allocation group|Failed to refresh slots cache|Cluster isn't ready/;

const CLOSED_FOR_GOOD = /\bstore is closed\b|^Connection is closed\.$|^Cluster is ended\.$/;

function messageOf(value: unknown): string {
  return value instanceof Error ? value.message : '';
}

/**
 * A duplicate of a key generated for this very call means an earlier attempt of it landed: for the
 * caller that is the write, not a duplicate.
 */
function ownDuplicate(outcome: RecordOutcome, ownKey: boolean): RecordOutcome {
  return ownKey && outcome.duplicate ? { ...outcome, duplicate: false } : outcome;
}

function unrefSleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(resolve, ms).unref();
  });
}
