import { describe, expect, it } from 'vitest';
import { analyzeCycleFields, analyzePolicyFields } from '../../src/domain/consistency-rules.js';
import type { FieldChange, FieldFinding } from '../../src/domain/consistency-rules.js';

const PLAIN = { treatExcessAsUnattributed: false };
const ABSORB = { treatExcessAsUnattributed: true };
const MAX = String(Number.MAX_SAFE_INTEGER);

type Fields = Record<string, string>;
type Row = [label: string, fields: Fields, findings: FieldFinding[], changes: FieldChange[]];

const change = (field: string, before: string | null, after: string | null): FieldChange => ({ field, before, after });

describe('analyzeCycleFields', () => {
  const consistent: [string, Fields][] = [
    ['prompt + completion = total', { prompt_tokens: '150', completion_tokens: '75', total_tokens: '225' }],
    ['with other tokens', { prompt_tokens: '1', completion_tokens: '2', other_tokens: '3', total_tokens: '6' }],
    ['only a usage_limit', { usage_limit: '1000' }],
    ['usage_limit 0 (no override)', { usage_limit: '0', total_tokens: '0' }],
    ['all zeros', { prompt_tokens: '0', completion_tokens: '0', total_tokens: '0' }],
    ['total-only (other_tokens)', { other_tokens: '9', total_tokens: '9' }],
    ['counters at 2^53 - 1', { other_tokens: MAX, total_tokens: MAX }],
    ['unknown fields are ignored', { prompt_tokens: '1', total_tokens: '1', note: 'abc' }],
  ];

  it.each(consistent)('finds nothing and changes nothing when consistent: %s', (_label, fields) => {
    for (const options of [PLAIN, ABSORB]) {
      expect(analyzeCycleFields(fields, options)).toEqual({ findings: [], changes: [], manual: false });
    }
  });

  const rows: Row[] = [
    [
      'negative counter',
      { prompt_tokens: '-5', completion_tokens: '10', total_tokens: '10' },
      [{ kind: 'negative-counter', field: 'prompt_tokens', value: '-5' }],
      [change('prompt_tokens', '-5', '0')],
    ],
    [
      'non-numeric counter',
      { prompt_tokens: '10', completion_tokens: 'abc', total_tokens: '10' },
      [{ kind: 'non-integer-counter', field: 'completion_tokens', value: 'abc' }],
      [change('completion_tokens', 'abc', '0')],
    ],
    ...(['1.5', '007', '-0', '', ' 1', '+1', '1e3', '0x10'].map(
      (value): Row => [
        `non-canonical integer ${JSON.stringify(value)}`,
        { prompt_tokens: value, total_tokens: '0' },
        [{ kind: 'non-integer-counter', field: 'prompt_tokens', value }],
        [change('prompt_tokens', value, '0')],
      ],
    )),
    [
      'deflated total',
      { prompt_tokens: '100', completion_tokens: '50', total_tokens: '120' },
      [{ kind: 'total-mismatch', field: 'total_tokens', direction: 'deflated', value: '120', expected: '150' }],
      [change('total_tokens', '120', '150')],
    ],
    [
      'absent total',
      { prompt_tokens: '100' },
      [{ kind: 'total-mismatch', field: 'total_tokens', direction: 'deflated', value: null, expected: '100' }],
      [change('total_tokens', null, '100')],
    ],
    [
      'inflated total is lowered',
      { prompt_tokens: '100', completion_tokens: '50', total_tokens: '400' },
      [{ kind: 'total-mismatch', field: 'total_tokens', direction: 'inflated', value: '400', expected: '150' }],
      [change('total_tokens', '400', '150')],
    ],
    [
      'non-numeric total is recomputed',
      { prompt_tokens: '4', completion_tokens: '5', total_tokens: 'lots' },
      [{ kind: 'non-integer-counter', field: 'total_tokens', value: 'lots' }],
      [change('total_tokens', 'lots', '9')],
    ],
    [
      'negative total is recomputed',
      { prompt_tokens: '4', total_tokens: '-4' },
      [{ kind: 'negative-counter', field: 'total_tokens', value: '-4' }],
      [change('total_tokens', '-4', '4')],
    ],
    [
      'bad counter, then the total follows the fixed sum',
      { prompt_tokens: 'x', completion_tokens: '5', total_tokens: '15' },
      [
        { kind: 'non-integer-counter', field: 'prompt_tokens', value: 'x' },
        { kind: 'total-mismatch', field: 'total_tokens', direction: 'inflated', value: '15', expected: '5' },
      ],
      [change('prompt_tokens', 'x', '0'), change('total_tokens', '15', '5')],
    ],
    [
      'negative limit',
      { total_tokens: '0', usage_limit: '-1' },
      [{ kind: 'bad-limit', field: 'usage_limit', value: '-1' }],
      [change('usage_limit', '-1', null)],
    ],
    [
      'non-integer limit',
      { usage_limit: '10.5' },
      [{ kind: 'bad-limit', field: 'usage_limit', value: '10.5' }],
      [change('usage_limit', '10.5', null)],
    ],
    [
      'unsafe limit',
      { usage_limit: '99999999999999999999' },
      [{ kind: 'bad-limit', field: 'usage_limit', value: '99999999999999999999' }],
      [change('usage_limit', '99999999999999999999', null)],
    ],
    [
      'everything at once',
      { prompt_tokens: '-1', completion_tokens: '2.5', other_tokens: 'zz', total_tokens: 'NaN', usage_limit: 'none' },
      [
        { kind: 'negative-counter', field: 'prompt_tokens', value: '-1' },
        { kind: 'non-integer-counter', field: 'completion_tokens', value: '2.5' },
        { kind: 'non-integer-counter', field: 'other_tokens', value: 'zz' },
        { kind: 'non-integer-counter', field: 'total_tokens', value: 'NaN' },
        { kind: 'bad-limit', field: 'usage_limit', value: 'none' },
      ],
      [
        change('prompt_tokens', '-1', '0'),
        change('completion_tokens', '2.5', '0'),
        change('other_tokens', 'zz', '0'),
        change('total_tokens', 'NaN', '0'),
        change('usage_limit', 'none', null),
      ],
    ],
  ];

  it.each(rows)('%s', (_label, fields, findings, changes) => {
    expect(analyzeCycleFields(fields, PLAIN)).toEqual({ findings, changes, manual: false });
  });

  describe('treatExcessAsUnattributed', () => {
    it('raises other_tokens to absorb an inflated total and keeps the total', () => {
      expect(analyzeCycleFields({ prompt_tokens: '100', completion_tokens: '50', total_tokens: '400' }, ABSORB)).toEqual({
        findings: [{ kind: 'total-mismatch', field: 'total_tokens', direction: 'inflated', value: '400', expected: '150' }],
        changes: [change('other_tokens', null, '250')],
        manual: false,
      });
      expect(
        analyzeCycleFields({ prompt_tokens: '1', other_tokens: '2', total_tokens: '10' }, ABSORB).changes,
      ).toEqual([change('other_tokens', '2', '9')]);
    });

    it('absorbs after fixing a bad counter', () => {
      expect(analyzeCycleFields({ prompt_tokens: 'abc', total_tokens: '100' }, ABSORB).changes).toEqual([
        change('prompt_tokens', 'abc', '0'),
        change('other_tokens', null, '100'),
      ]);
    });

    it('still raises a deflated total, and recomputes a corrupt one', () => {
      expect(analyzeCycleFields({ prompt_tokens: '100', total_tokens: '20' }, ABSORB).changes).toEqual([
        change('total_tokens', '20', '100'),
      ]);
      expect(analyzeCycleFields({ prompt_tokens: '7', total_tokens: '-20' }, ABSORB).changes).toEqual([
        change('total_tokens', '-20', '7'),
      ]);
    });

    it('is exact beyond 2^53 for the intermediate sums', () => {
      const big = String(Number.MAX_SAFE_INTEGER - 1);
      expect(analyzeCycleFields({ prompt_tokens: '1', total_tokens: big }, ABSORB).changes).toEqual([
        change('other_tokens', null, String(Number.MAX_SAFE_INTEGER - 2)),
      ]);
    });
  });

  describe('counters beyond 2^53 - 1 need a human', () => {
    it('reports an unsafe counter and changes nothing, not even a bad limit', () => {
      expect(analyzeCycleFields({ prompt_tokens: '9007199254740993', total_tokens: '5', usage_limit: '-3' }, PLAIN)).toEqual({
        findings: [
          { kind: 'unsafe-counter', field: 'prompt_tokens', value: '9007199254740993' },
          { kind: 'bad-limit', field: 'usage_limit', value: '-3' },
        ],
        changes: [],
        manual: true,
      });
    });

    it('will not write a total beyond 2^53 - 1', () => {
      const analysis = analyzeCycleFields({ prompt_tokens: MAX, completion_tokens: '1', total_tokens: MAX }, PLAIN);
      expect(analysis.findings).toEqual([
        { kind: 'total-mismatch', field: 'total_tokens', direction: 'deflated', value: MAX, expected: '9007199254740992' },
      ]);
      expect(analysis.manual).toBe(true);
      expect(analysis.changes).toEqual([]);
    });
  });
});

describe('analyzePolicyFields', () => {
  it.each([[{}], [{ usage_limit: '0' }], [{ usage_limit: '5000' }]])('accepts %j', (fields) => {
    expect(analyzePolicyFields(fields)).toEqual({ findings: [], changes: [], manual: false });
  });

  it.each(['-1', 'abc', '1.5', '007', '99999999999999999999'])('deletes a bad standing limit %j', (value) => {
    expect(analyzePolicyFields({ usage_limit: value })).toEqual({
      findings: [{ kind: 'bad-standing-limit', field: 'usage_limit', value }],
      changes: [change('usage_limit', value, null)],
      manual: false,
    });
  });
});
