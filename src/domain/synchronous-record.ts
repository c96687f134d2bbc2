import type { Clock } from '../ports/clock.js';
import type { RecordOutcome, RecordUsageCommand, UsageStore } from '../ports/usage-store.js';

/**
 * The key of a store's optional synchronous record: the same step as `recordUsage(command)` (same
 * checks, same writes, same errors), with the outcome returned or the error thrown at once instead of
 * through a promise. The in-memory store, which finishes every record without yielding, offers it, and
 * so does a decorator around such a store that adds nothing asynchronous (the metered one): the facade's
 * record then pays for one promise instead of one per layer and a microtask hop each. Keyed by a symbol
 * the package does not export; a store without it is called through `recordUsage` as before.
 *
 * The caller also hands over a reading (`now`) of its `clock` taken in the same synchronous run, with
 * nothing but its own computation run since: a store on that very clock takes it as its own reading.
 * No other code can run between the two reads, so reading again could only give an instant nobody can
 * tell from the first; and a clock read costs about a twentieth of a whole in-memory record.
 */
export const RECORD_NOW: unique symbol = Symbol('token-usage-repository/recordNow');

/** A store (or decorator) whose records complete synchronously. */
export interface RecordsNow {
  [RECORD_NOW](command: RecordUsageCommand, clock: Clock, now: number): RecordOutcome;
}

type Method = (...args: never[]) => unknown;

// Each synchronous record with the `recordUsage` it is the same step as.
const TWINS = new WeakMap<Method, Method>();

/** Declares `recordNow` the synchronous twin of `recordUsage` (an implementation does this once). */
export function twinOf(recordNow: Method, recordUsage: Method): void {
  TWINS.set(recordNow, recordUsage);
}

/**
 * `store` when it records synchronously, else `undefined`. Only while its `recordUsage` is still the
 * declared twin: a subclass that overrides it, a proxy or an object that replaces it gets its own
 * `recordUsage` called, as before.
 */
export function recordsNow(store: UsageStore): RecordsNow | undefined {
  const recordNow = (store as Partial<RecordsNow>)[RECORD_NOW];
  return typeof recordNow === 'function' && TWINS.get(recordNow) === store.recordUsage ? (store as UsageStore & RecordsNow) : undefined;
}
