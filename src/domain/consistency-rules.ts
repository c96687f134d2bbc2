/**
 * The consistency rules of a stored cycle or policy hash, as pure functions over its raw fields:
 * what is wrong (findings) and the field changes that make it right (the fix). See docs/consistency.md.
 */

/** The counter fields of a cycle hash; `total_tokens` must equal the sum of the other three. */
export const COUNTER_FIELDS = ['prompt_tokens', 'completion_tokens', 'other_tokens', 'total_tokens'] as const;

/** One counter field of a cycle hash. */
export type CounterField = (typeof COUNTER_FIELDS)[number];

/** The fields of a cycle hash that the rules read (and a repair compares before it writes). */
export const CYCLE_FIELDS = [...COUNTER_FIELDS, 'usage_limit'] as const;

/** The fields of a policy hash that the rules read. */
export const POLICY_FIELDS = ['usage_limit'] as const;

/** What is wrong with one hash, without where it is (the verifier adds that). */
export type FieldFinding =
  /** Not a canonical decimal integer (`'abc'`, `'1.5'`, `'007'`, `'-0'`, `''`). */
  | { readonly kind: 'non-integer-counter'; readonly field: CounterField; readonly value: string }
  | { readonly kind: 'negative-counter'; readonly field: CounterField; readonly value: string }
  /** An integer beyond 2^53 - 1: this package cannot read it exactly; never repaired automatically. */
  | { readonly kind: 'unsafe-counter'; readonly field: CounterField; readonly value: string }
  /** `deflated`: total < prompt + completion + other; `inflated`: total > the sum. `expected` is the sum. */
  | {
      readonly kind: 'total-mismatch';
      readonly field: 'total_tokens';
      readonly direction: 'deflated' | 'inflated';
      readonly value: string | null;
      readonly expected: string;
    }
  /** A cycle's `usage_limit` that is not a non-negative safe integer. */
  | { readonly kind: 'bad-limit'; readonly field: 'usage_limit'; readonly value: string }
  /** The policy hash's (standing) `usage_limit` that is not a non-negative safe integer. */
  | { readonly kind: 'bad-standing-limit'; readonly field: 'usage_limit'; readonly value: string };

/** One field a fix changes; `null` is an absent field (`after: null` deletes it). */
export interface FieldChange {
  readonly field: string;
  readonly before: string | null;
  readonly after: string | null;
}

/** The result of applying the rules to one hash. */
export interface HashAnalysis {
  readonly findings: readonly FieldFinding[];
  /** The changes that repair every finding; empty when there is nothing to change (or `manual`). */
  readonly changes: readonly FieldChange[];
  /** True when a finding needs a human (a counter beyond 2^53 - 1): then `changes` is empty. */
  readonly manual: boolean;
}

/** Options of the rules. */
export interface RuleOptions {
  /**
   * Repair an inflated total by raising `other_tokens` to absorb the excess, instead of lowering the
   * total: for Redis the Python original also writes (it adds to the total without `other_tokens`).
   */
  readonly treatExcessAsUnattributed: boolean;
}

const CANONICAL_INTEGER = /^(0|-?[1-9]\d*)$/;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

type Classified =
  | { readonly state: 'valid'; readonly value: bigint }
  | { readonly state: 'absent' }
  | { readonly state: 'non-integer' | 'negative' | 'unsafe' };

function classify(raw: string | undefined): Classified {
  if (raw === undefined) return { state: 'absent' };
  if (!CANONICAL_INTEGER.test(raw)) return { state: 'non-integer' };
  const value = BigInt(raw);
  if (value < 0n) return { state: 'negative' };
  if (value > MAX_SAFE) return { state: 'unsafe' };
  return { state: 'valid', value };
}

const COUNTER_FINDING = {
  'non-integer': 'non-integer-counter',
  negative: 'negative-counter',
  unsafe: 'unsafe-counter',
} as const;

/**
 * Checks a cycle hash: each counter a non-negative safe integer, `total = prompt + completion + other`
 * (absent = 0), `usage_limit` absent or a non-negative safe integer. The fix sets a bad counter to 0,
 * then recomputes the total (or, with `treatExcessAsUnattributed`, raises `other_tokens` under an
 * inflated total), and deletes a bad `usage_limit`.
 */
export function analyzeCycleFields(fields: Readonly<Record<string, string>>, options: RuleOptions): HashAnalysis {
  const findings: FieldFinding[] = [];
  const values = new Map<CounterField, bigint>();
  const after = new Map<string, string | null>();
  let manual = false;
  let totalIsValid = true;
  for (const field of COUNTER_FIELDS) {
    const raw = fields[field];
    const classified = classify(raw);
    if (classified.state === 'valid' || classified.state === 'absent') {
      values.set(field, classified.state === 'valid' ? classified.value : 0n);
      continue;
    }
    findings.push({ kind: COUNTER_FINDING[classified.state], field, value: raw ?? '' });
    if (classified.state === 'unsafe') {
      manual = true;
      continue;
    }
    values.set(field, 0n); // a bad counter becomes 0; a bad total is recomputed below
    if (field === 'total_tokens') totalIsValid = false;
    else after.set(field, '0');
  }
  if (!manual) {
    const value = (field: CounterField): bigint => values.get(field) ?? 0n;
    const sum = value('prompt_tokens') + value('completion_tokens') + value('other_tokens');
    const total = value('total_tokens');
    if (totalIsValid && total !== sum) {
      findings.push({
        kind: 'total-mismatch',
        field: 'total_tokens',
        direction: total < sum ? 'deflated' : 'inflated',
        value: fields['total_tokens'] ?? null,
        expected: String(sum),
      });
    }
    if (totalIsValid && total > sum && options.treatExcessAsUnattributed) {
      after.set('other_tokens', String(value('other_tokens') + (total - sum)));
    } else if (sum > MAX_SAFE) {
      manual = true; // the right total is beyond what this package can read exactly
    } else if (!(fields['total_tokens'] === undefined && sum === 0n)) {
      after.set('total_tokens', String(sum));
    }
  }
  const limit = fields['usage_limit'];
  if (limit !== undefined && classify(limit).state !== 'valid') {
    findings.push({ kind: 'bad-limit', field: 'usage_limit', value: limit });
    after.set('usage_limit', null);
  }
  return { findings, changes: manual ? [] : changesOf(fields, after), manual };
}

/** Checks a policy hash: `usage_limit` absent or a non-negative safe integer; the fix deletes a bad one. */
export function analyzePolicyFields(fields: Readonly<Record<string, string>>): HashAnalysis {
  const limit = fields['usage_limit'];
  if (limit === undefined || classify(limit).state === 'valid') return { findings: [], changes: [], manual: false };
  return {
    findings: [{ kind: 'bad-standing-limit', field: 'usage_limit', value: limit }],
    changes: [{ field: 'usage_limit', before: limit, after: null }],
    manual: false,
  };
}

function changesOf(fields: Readonly<Record<string, string>>, after: ReadonlyMap<string, string | null>): FieldChange[] {
  const changes: FieldChange[] = [];
  for (const [field, value] of after) {
    const before = fields[field] ?? null;
    if (before !== value) changes.push({ field, before, after: value });
  }
  return changes;
}
