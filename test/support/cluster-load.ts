import calculateSlot from 'cluster-key-slot';
import type { TokenUsageRepository } from '../../src/index.js';

/** What a load run saw: per user, the tokens the library acknowledged; failures; reservations. */
export interface LoadResult {
  readonly acknowledged: Map<string, number>;
  readonly records: number;
  /** Messages of the calls that failed, and per user the tokens of the record calls among them. */
  readonly failed: string[];
  readonly failedErrors: Error[];
  readonly failedTokens: Map<string, number>;
  readonly reserves: number;
  readonly granted: number;
  readonly buffered: Map<string, number>;
}

/** Options of {@link runLoad}. */
export interface LoadOptions {
  readonly repo: TokenUsageRepository;
  readonly users: readonly string[];
  /** The user whose limit reserves race for (k tokens each). */
  readonly quotaUser: string;
  readonly k: number;
  readonly records: number;
  readonly inFlight: number;
  /** Started once `faultAt` records were started; the load goes on while it runs and `afterFault` records past it. */
  readonly fault: () => Promise<void>;
  readonly faultAt: number;
  readonly afterFault: number;
  /** Hard stop for the whole run, in ms (the loop is bounded in count and time). */
  readonly deadlineMs: number;
}

/**
 * A bounded, closed-loop load through the facade: `inFlight` workers record 3 + 2 tokens for the
 * users in turn, each with its own idempotency key, one in four also buffers a record and one in
 * four reserves `k` tokens for the quota user; the fault starts mid-way and the load outlasts it. Every acknowledged call is
 * counted, every failed one kept with its message.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { repo, users } = options;
  const acknowledged = new Map<string, number>();
  const buffered = new Map<string, number>();
  const failed: string[] = [];
  const failedErrors: Error[] = [];
  const failedTokens = new Map<string, number>();
  let started = 0;
  let reserves = 0;
  let granted = 0;
  let faulting: Promise<void> | undefined;
  let faultEndedAt: number | undefined;
  const deadline = Date.now() + options.deadlineMs;
  const more = (): boolean =>
    started < options.records || faultEndedAt === undefined || started < faultEndedAt + options.afterFault;
  const worker = async (): Promise<void> => {
    while (more() && Date.now() < deadline) {
      const n = started++;
      if (n === options.faultAt) {
        faulting = options.fault().finally(() => {
          faultEndedAt = started;
        });
        faulting.catch(() => undefined); // awaited (and so reported) once the workers are done
      }
      const user = users[n % users.length] as string;
      try {
        try {
          await repo.incrementDetailedUsage(user, 3, 2, undefined, { idempotencyKey: `load-${n}` });
        } catch (error) {
          failedTokens.set(user, (failedTokens.get(user) ?? 0) + 5);
          throw error;
        }
        acknowledged.set(user, (acknowledged.get(user) ?? 0) + 5);
        if (n % 4 === 1) {
          await repo.recordBuffered({ userId: user, promptTokens: 1, completionTokens: 1 });
          buffered.set(user, (buffered.get(user) ?? 0) + 2);
        }
        if (n % 4 === 3) {
          reserves += 1;
          const result = await repo.reserve(options.quotaUser, options.k);
          if (result.granted) granted += 1;
        }
      } catch (error) {
        failed.push((error as Error).message);
        failedErrors.push(error as Error);
      }
    }
  };
  await Promise.all(Array.from({ length: options.inFlight }, worker));
  await faulting;
  if (more()) throw new Error(`the load hit its ${options.deadlineMs} ms deadline after ${started} records`);
  return { acknowledged, records: started, failed, failedErrors, failedTokens, reserves, granted, buffered };
}

/** Users (`prefix-i`) whose hash-tag slot is, or is not, in `[from, to]`. */
export function usersBySlot(prefix: string, count: number, from: number, to: number, inside: boolean): string[] {
  const users: string[] = [];
  for (let i = 0; users.length < count; i += 1) {
    const id = `${prefix}-${i}`;
    const slot = calculateSlot(id);
    if ((slot >= from && slot <= to) === inside) users.push(id);
  }
  return users;
}
