import { cycleStart } from './billing-cycle.js';
import type { CycleStart } from './billing-cycle.js';
import { analyzeCycleFields, analyzePolicyFields, CYCLE_FIELDS, POLICY_FIELDS } from './consistency-rules.js';
import type { FieldChange, FieldFinding, HashAnalysis } from './consistency-rules.js';
import { ValidationError } from './errors.js';
import { booleanOption, functionOption, integerOption, parseOptions } from './options.js';
import type { ParsedOptions } from './options.js';
import { describe, userId } from './user-id.js';
import type { UserId } from './user-id.js';
import type { InspectedRecord, InspectedTarget, UsageInspector } from '../ports/usage-inspector.js';

/** Where a finding, repair or skip is: the stored key, its user, and its cycle (`null` for the policy hash). */
export interface RecordLocation {
  readonly key: string;
  readonly userId: UserId;
  readonly cycle: CycleStart | null;
}

/** Something wrong with one stored record. */
export type Finding = RecordLocation &
  (FieldFinding | { readonly kind: 'wrong-type'; readonly field: null; readonly actualType: string });

/** Every kind of finding. */
export type FindingKind = Finding['kind'];

/** What a repair changed in one hash, field by field. */
export interface Repair extends RecordLocation {
  readonly changes: readonly FieldChange[];
}

/**
 * A record with findings that was not repaired: it changed between read and repair (run again), it
 * needs a human (a counter beyond 2^53 - 1), or it is not a hash (never touched).
 */
export interface SkippedRepair extends RecordLocation {
  readonly reason: 'changed-concurrently' | 'needs-manual-repair' | 'not-a-hash';
}

/** Running totals, reported after each page. */
export interface VerificationProgress {
  readonly scanned: number;
  readonly findings: number;
  readonly repaired: number;
  readonly skipped: number;
}

/** The outcome of a verification. The lists stop growing at `maxFindings`; the counts never do. */
export interface VerificationReport {
  readonly mode: 'dry-run' | 'repair';
  /** Records examined. */
  readonly scanned: number;
  readonly findings: readonly Finding[];
  /** Empty in a dry run. */
  readonly repaired: readonly Repair[];
  /** Records with findings left as they are (in a dry run: only `needs-manual-repair` and `not-a-hash`). */
  readonly skipped: readonly SkippedRepair[];
  readonly counts: { readonly findings: number; readonly repaired: number; readonly skipped: number };
  /** True when a list was cut at `maxFindings`. */
  readonly truncated: boolean;
}

/** Defaults of a {@link ConsistencyVerifier}; each call may override them. */
export interface ConsistencyVerifierOptions {
  /** Raise `other_tokens` to absorb an inflated total instead of lowering the total. Default false. */
  readonly treatExcessAsUnattributed?: boolean;
  /** Keep at most this many findings (and repairs, and skips) in a report; counting goes on. Default: all. */
  readonly maxFindings?: number;
}

/** Options of one verification. Dry run unless `repair` is true. */
export interface VerifyOptions extends ConsistencyVerifierOptions {
  readonly repair?: boolean;
}

/** Options of a whole-cycle verification. */
export interface VerifyCycleOptions extends VerifyOptions {
  /** Records read (and repaired) per page, 1 to 10,000. Default 500. */
  readonly batchSize?: number;
  /** Called after each page with the running totals. */
  readonly onProgress?: (progress: VerificationProgress) => void;
}

/** Largest accepted `batchSize`. */
export const MAX_BATCH_SIZE = 10_000;
const DEFAULT_BATCH_SIZE = 500;

const VERIFY_OPTIONS = { repair: booleanOption, treatExcessAsUnattributed: booleanOption, maxFindings } as const;
const VERIFY_CYCLE_OPTIONS = { ...VERIFY_OPTIONS, batchSize: integerOption(1, MAX_BATCH_SIZE), onProgress: functionOption } as const;

/**
 * Finds stored usage that breaks the invariants this package keeps (see docs/consistency.md) and,
 * on request, repairs it: one compare-and-set per hash, so a concurrent write is never lost.
 */
export class ConsistencyVerifier {
  readonly #inspector: UsageInspector;
  readonly #defaults: ConsistencyVerifierOptions;

  constructor(inspector: UsageInspector, options: ConsistencyVerifierOptions = {}) {
    if (options.maxFindings !== undefined) maxFindings(options.maxFindings, 'maxFindings');
    if (options.treatExcessAsUnattributed !== undefined) booleanOption(options.treatExcessAsUnattributed, 'treatExcessAsUnattributed');
    this.#inspector = inspector;
    this.#defaults = options;
  }

  /** Verifies (and with `repair`, repairs) one user's cycle hash and the user's policy hash. */
  async verifyUser(user: string, cycleStartDate: string, verifyOptions?: VerifyOptions): Promise<VerificationReport> {
    const options = parseOptions(verifyOptions, VERIFY_OPTIONS);
    const id = userId(user);
    const cycle = cycleStart(cycleStartDate);
    const run = this.#run(options);
    const targets: InspectedTarget[] = [
      { kind: 'cycle', userId: id, cycle },
      { kind: 'policy', userId: id },
    ];
    const records = await Promise.all(targets.map((target) => this.#inspector.readRecord(target)));
    await run.page(records.filter((record): record is InspectedRecord => record !== null));
    return run.report();
  }

  /** Verifies (and with `repair`, repairs) every user's hash of one cycle, or of every cycle, page by page. */
  async verifyCycle(cycleStartDate: string | undefined, verifyOptions?: VerifyCycleOptions): Promise<VerificationReport> {
    const options = parseOptions(verifyOptions, VERIFY_CYCLE_OPTIONS);
    const cycle = cycleStartDate === undefined ? undefined : cycleStart(cycleStartDate);
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    const run = this.#run(options);
    const pages = this.#inspector.scanCycles(cycle === undefined ? { batchSize } : { cycle, batchSize });
    for await (const records of pages) {
      await run.page(records);
      options.onProgress?.(run.progress());
    }
    return run.report();
  }

  #run(options: ParsedOptions<typeof VERIFY_OPTIONS>): VerificationRun {
    const limit = options.maxFindings ?? this.#defaults.maxFindings;
    return new VerificationRun(this.#inspector, {
      repair: options.repair ?? false,
      treatExcessAsUnattributed: options.treatExcessAsUnattributed ?? this.#defaults.treatExcessAsUnattributed ?? false,
      maxFindings: limit ?? Number.POSITIVE_INFINITY,
    });
  }
}

interface RunOptions {
  readonly repair: boolean;
  readonly treatExcessAsUnattributed: boolean;
  readonly maxFindings: number;
}

/** The state of one verification: counts, the (capped) lists, and the work on one page. */
class VerificationRun {
  readonly #inspector: UsageInspector;
  readonly #options: RunOptions;
  readonly #findings: Finding[] = [];
  readonly #repaired: Repair[] = [];
  readonly #skipped: SkippedRepair[] = [];
  readonly #counts = { scanned: 0, findings: 0, repaired: 0, skipped: 0 };
  #truncated = false;

  constructor(inspector: UsageInspector, options: RunOptions) {
    this.#inspector = inspector;
    this.#options = options;
  }

  /** Analyses a page, then (in repair mode) repairs its records concurrently, one atomic step each. */
  async page(records: readonly InspectedRecord[]): Promise<void> {
    const repairs: Promise<void>[] = [];
    for (const record of records) {
      this.#counts.scanned += 1;
      const where = locate(record);
      if (record.type === 'wrong-type') {
        this.#finding({ ...where, kind: 'wrong-type', field: null, actualType: record.actualType });
        this.#skip({ ...where, reason: 'not-a-hash' });
        continue;
      }
      const analysis = this.#analyze(record.target, record.fields);
      for (const finding of analysis.findings) this.#finding({ ...where, ...finding });
      if (analysis.manual) this.#skip({ ...where, reason: 'needs-manual-repair' });
      else if (this.#options.repair && analysis.changes.length > 0) {
        repairs.push(this.#repair(record, where, analysis.changes));
      }
    }
    await Promise.all(repairs);
  }

  progress(): VerificationProgress {
    return { ...this.#counts };
  }

  report(): VerificationReport {
    const { scanned, findings, repaired, skipped } = this.#counts;
    return {
      mode: this.#options.repair ? 'repair' : 'dry-run',
      scanned,
      findings: this.#findings,
      repaired: this.#repaired,
      skipped: this.#skipped,
      counts: { findings, repaired, skipped },
      truncated: this.#truncated,
    };
  }

  #analyze(target: InspectedTarget, fields: Readonly<Record<string, string>>): HashAnalysis {
    return target.kind === 'cycle'
      ? analyzeCycleFields(fields, { treatExcessAsUnattributed: this.#options.treatExcessAsUnattributed })
      : analyzePolicyFields(fields);
  }

  async #repair(
    record: InspectedRecord & { type: 'hash' },
    where: RecordLocation,
    changes: readonly FieldChange[],
  ): Promise<void> {
    const compared = record.target.kind === 'cycle' ? CYCLE_FIELDS : POLICY_FIELDS;
    const outcome = await this.#inspector.repairRecord({
      target: record.target,
      expected: Object.fromEntries(compared.map((field) => [field, record.fields[field] ?? null])),
      changes: Object.fromEntries(changes.map((change) => [change.field, change.after])),
    });
    if (outcome === 'applied') this.#collect(this.#repaired, 'repaired', { ...where, changes });
    else this.#skip({ ...where, reason: 'changed-concurrently' });
  }

  #finding(finding: Finding): void {
    this.#collect(this.#findings, 'findings', finding);
  }

  #skip(skipped: SkippedRepair): void {
    this.#collect(this.#skipped, 'skipped', skipped);
  }

  #collect<T>(list: T[], count: 'findings' | 'repaired' | 'skipped', item: T): void {
    this.#counts[count] += 1;
    if (list.length < this.#options.maxFindings) list.push(item);
    else this.#truncated = true;
  }
}

function locate(record: InspectedRecord): RecordLocation {
  const { target } = record;
  return { key: record.key, userId: target.userId, cycle: target.kind === 'cycle' ? target.cycle : null };
}

function maxFindings(value: unknown, field: string): number {
  if (value === Number.POSITIVE_INFINITY) return value;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ValidationError(
      'USAGE.INVALID_OPTION',
      field,
      value,
      `${field} must be a whole number >= 0, got ${typeof value === 'number' ? value : describe(value)}`,
    );
  }
  return value;
}
