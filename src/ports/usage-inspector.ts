import type { CycleStart } from '../domain/billing-cycle.js';
import type { UserId } from '../domain/user-id.js';

/** A hash the consistency verifier inspects: one user's cycle hash, or the user's policy hash. */
export type InspectedTarget =
  | { readonly kind: 'cycle'; readonly userId: UserId; readonly cycle: CycleStart }
  | { readonly kind: 'policy'; readonly userId: UserId };

/** A hash's fields exactly as stored: raw strings, never parsed. */
export type RawFields = Readonly<Record<string, string>>;

/**
 * One stored record as read: a hash with its raw fields, or a key of another type where a hash
 * belongs. `key` is the store's name for it, for reports only.
 */
export type InspectedRecord =
  | { readonly target: InspectedTarget; readonly key: string; readonly type: 'hash'; readonly fields: RawFields }
  | { readonly target: InspectedTarget; readonly key: string; readonly type: 'wrong-type'; readonly actualType: string };

/** Which cycle hashes to scan, and how many per page. */
export interface ScanCyclesOptions {
  /** Only this cycle's hashes; every cycle when absent. */
  readonly cycle?: CycleStart;
  /** Records per page (the store may also use it as its scan step); the domain has validated it. */
  readonly batchSize: number;
}

/**
 * A compare-and-set repair of one hash: the changes are written only if every field in `expected`
 * still holds the value the verifier read (`null` = absent), all in one atomic step.
 */
export interface RepairCommand {
  readonly target: InspectedTarget;
  readonly expected: Readonly<Record<string, string | null>>;
  /** New field values as decimal strings; `null` deletes the field. */
  readonly changes: Readonly<Record<string, string | null>>;
}

/** `applied`, or nothing was written because the hash changed (or vanished) since it was read. */
export type RepairOutcome = 'applied' | 'changed-concurrently';

/**
 * Raw, read-mostly access to stored usage for consistency checks: it reports what is stored without
 * interpreting it, and repairs only by compare-and-set, so it never loses a concurrent write.
 */
export interface UsageInspector {
  /** Yields the cycle hashes in pages of at most `batchSize`, each key once, holding only one page at a time. */
  scanCycles(options: ScanCyclesOptions): AsyncIterable<readonly InspectedRecord[]>;
  /** Reads one cycle or policy hash as stored, or `null` when it does not exist. */
  readRecord(target: InspectedTarget): Promise<InspectedRecord | null>;
  /** Applies a compare-and-set repair to one hash atomically. */
  repairRecord(command: RepairCommand): Promise<RepairOutcome>;
}
