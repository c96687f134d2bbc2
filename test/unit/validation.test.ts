import { describe, expect, it } from 'vitest';
import { cycleStart } from '../../src/domain/billing-cycle.js';
import { isUsageError, UsageError, ValidationError } from '../../src/domain/errors.js';
import type { UsageErrorCode } from '../../src/domain/errors.js';
import { tokenCount, usageLimit } from '../../src/domain/token-count.js';
import { hasControlCharacters, MAX_USER_ID_LENGTH, userId } from '../../src/domain/user-id.js';
import { callerIdempotencyKey, MAX_IDEMPOTENCY_KEY_LENGTH, reservationIdempotencyKey } from '../../src/domain/idempotency.js';

/** The error `fn` throws; fails the test when it returns normally. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return expect.unreachable('expected a throw');
}

/** Asserts `fn` throws a `ValidationError` of `code` naming `field` and carrying `value` as given. */
function expectValidationError(
  fn: () => unknown,
  code: UsageErrorCode,
  field: string,
  value: unknown,
  messagePart?: string,
): ValidationError {
  const error = thrown(fn);
  expect(error).toBeInstanceOf(ValidationError);
  expect(error).toBeInstanceOf(UsageError);
  expect(error).toBeInstanceOf(Error);
  const e = error as ValidationError;
  expect(e.name).toBe('ValidationError');
  expect(e.code).toBe(code);
  expect(e.field).toBe(field);
  expect(Object.is(e.value, value)).toBe(true);
  expect(isUsageError(e)).toBe(true);
  expect(isUsageError(e, code)).toBe(true);
  expect(isUsageError(e, 'USAGE.INVALID_CONFIG')).toBe(false);
  if (messagePart !== undefined) expect(e.message).toContain(messagePart);
  return e;
}

interface BadCase {
  readonly label: string;
  readonly value: unknown;
  readonly message: string;
}

/** Bad numbers shared by token counts and limits, with the part of the message each one gets. */
const BAD_NUMBERS: readonly BadCase[] = [
  { label: 'negative -1', value: -1, message: 'must not be negative, got -1' },
  { label: 'negative MIN_SAFE_INTEGER', value: Number.MIN_SAFE_INTEGER, message: 'must not be negative' },
  { label: 'fractional 1.5', value: 1.5, message: 'must be a whole number of tokens, got 1.5' },
  { label: 'negative fractional -0.5', value: -0.5, message: 'must be a whole number of tokens, got -0.5' },
  { label: 'NaN', value: Number.NaN, message: 'must be finite, got NaN' },
  { label: 'Infinity', value: Number.POSITIVE_INFINITY, message: 'must be finite, got Infinity' },
  { label: '-Infinity', value: Number.NEGATIVE_INFINITY, message: 'must be finite, got -Infinity' },
  { label: '2**53 (unsafe)', value: 2 ** 53, message: `must be at most ${Number.MAX_SAFE_INTEGER}, got 9007199254740992` },
  { label: 'Number.MAX_VALUE', value: Number.MAX_VALUE, message: `must be at most ${Number.MAX_SAFE_INTEGER}` },
  { label: "string '5'", value: '5', message: 'got string' },
  { label: 'empty string', value: '', message: 'got string' },
  { label: 'null', value: null, message: 'got null' },
  { label: 'undefined', value: undefined, message: 'got undefined' },
  { label: 'object {}', value: {}, message: 'got object' },
  { label: 'boxed Number(5)', value: Object(5) as unknown, message: 'got object' },
  { label: 'array []', value: [], message: 'got array' },
  { label: 'array [5]', value: [5], message: 'got array' },
  { label: 'boolean true', value: true, message: 'got boolean' },
  { label: 'bigint 10n', value: 10n, message: 'got bigint' },
];

const GOOD_NUMBERS: readonly { label: string; value: number }[] = [
  { label: '0', value: 0 },
  { label: '1', value: 1 },
  { label: '5.0 (an integer-valued number)', value: 5.0 },
  { label: '1e6', value: 1e6 },
  { label: 'Number.MAX_SAFE_INTEGER', value: Number.MAX_SAFE_INTEGER },
];

describe('tokenCount', () => {
  it.each(BAD_NUMBERS)('rejects $label', ({ value, message }) => {
    const e = expectValidationError(() => tokenCount(value), 'USAGE.INVALID_TOKEN_COUNT', 'tokens', value, message);
    expect(e.message.startsWith('tokens ')).toBe(true);
  });

  it.each(BAD_NUMBERS)('names the given field when rejecting $label', ({ value }) => {
    expectValidationError(() => tokenCount(value, 'promptTokens'), 'USAGE.INVALID_TOKEN_COUNT', 'promptTokens', value);
  });

  it.each(GOOD_NUMBERS)('accepts $label as it is', ({ value }) => {
    expect(tokenCount(value)).toBe(value);
  });

  it('folds -0 into 0', () => {
    const result = tokenCount(-0);
    expect(Object.is(result, 0)).toBe(true);
    expect(Object.is(result, -0)).toBe(false);
  });
});

describe('usageLimit', () => {
  it.each(BAD_NUMBERS)('rejects $label with USAGE.INVALID_LIMIT', ({ value, message }) => {
    const e = expectValidationError(() => usageLimit(value), 'USAGE.INVALID_LIMIT', 'limit', value, message);
    expect(isUsageError(e, 'USAGE.INVALID_TOKEN_COUNT')).toBe(false);
  });

  it.each(BAD_NUMBERS)('names the given field when rejecting $label', ({ value }) => {
    expectValidationError(() => usageLimit(value, 'standingLimit'), 'USAGE.INVALID_LIMIT', 'standingLimit', value);
  });

  it.each(GOOD_NUMBERS)('accepts $label as it is', ({ value }) => {
    expect(usageLimit(value)).toBe(value);
  });

  it('accepts 0 (which means "no limit")', () => {
    expect(usageLimit(0)).toBe(0);
  });

  it('folds -0 into 0', () => {
    expect(Object.is(usageLimit(-0), 0)).toBe(true);
  });
});

describe('userId', () => {
  const BAD_USER_IDS: readonly BadCase[] = [
    { label: 'empty string', value: '', message: 'userId must not be empty' },
    { label: 'number 42', value: 42, message: 'userId must be a string, got number' },
    { label: 'null', value: null, message: 'userId must be a string, got null' },
    { label: 'undefined', value: undefined, message: 'userId must be a string, got undefined' },
    { label: 'object', value: { id: 'alice' }, message: 'userId must be a string, got object' },
    { label: 'array', value: ['alice'], message: 'userId must be a string, got array' },
    { label: 'boxed String', value: Object('alice') as unknown, message: 'userId must be a string, got object' },
    { label: '257 characters', value: 'a'.repeat(257), message: 'userId must be at most 256 characters, got 257' },
    {
      label: '257 UTF-16 code units (128 emoji + 1)',
      value: `${'😀'.repeat(128)}a`,
      message: 'userId must be at most 256 characters, got 257',
    },
    { label: 'newline \\n', value: 'alice\nbob', message: 'userId must not contain control characters' },
    { label: 'carriage return \\r', value: 'alice\r', message: 'must not contain control characters' },
    { label: 'tab \\t', value: '\talice', message: 'must not contain control characters' },
    { label: 'NUL \\u0000', value: 'alice\u0000', message: 'must not contain control characters' },
    { label: 'unit separator \\u001f', value: 'a\u001fb', message: 'must not contain control characters' },
    { label: 'DEL \\u007f', value: 'alice\u007f', message: 'must not contain control characters' },
    { label: 'C1 NEL \\u0085', value: 'alice\u0085', message: 'must not contain control characters' },
    { label: 'C1 APC \\u009f', value: '\u009falice', message: 'must not contain control characters' },
    { label: 'only a control character', value: '\n', message: 'must not contain control characters' },
  ];

  it.each(BAD_USER_IDS)('rejects $label', ({ value, message }) => {
    expectValidationError(() => userId(value), 'USAGE.INVALID_USER_ID', 'userId', value, message);
  });

  it('names the given field', () => {
    expectValidationError(() => userId('', 'owner'), 'USAGE.INVALID_USER_ID', 'owner', '', 'owner must not be empty');
  });

  it('allows at most 256 characters', () => {
    expect(MAX_USER_ID_LENGTH).toBe(256);
  });

  const GOOD_USER_IDS: readonly { label: string; value: string }[] = [
    { label: 'a single character', value: 'a' },
    { label: 'exactly 256 characters', value: 'x'.repeat(256) },
    { label: 'exactly 256 UTF-16 code units (128 emoji)', value: '😀'.repeat(128) },
    { label: 'unicode letters', value: 'ユーザー-Ωmega-ñandú' },
    { label: 'an emoji', value: 'user-🚀' },
    { label: 'a colon (key separator)', value: 'org:team:alice' },
    { label: 'braces (Redis Cluster hash tag)', value: '{alice}' },
    { label: 'an e-mail address', value: 'alice@example.com' },
    { label: 'inner spaces', value: 'Alice Smith' },
    { label: 'a character just above the C1 range (\\u00a0)', value: 'a\u00a0b' },
  ];

  it.each(GOOD_USER_IDS)('accepts $label unchanged', ({ value }) => {
    expect(userId(value)).toBe(value);
  });
});

describe('cycleStart', () => {
  const BAD_DATES: readonly BadCase[] = [
    { label: "'2024-02-30' (no such day)", value: '2024-02-30', message: 'is not a calendar date: 2024-02-30' },
    { label: "'2023-02-29' (not a leap year)", value: '2023-02-29', message: 'is not a calendar date' },
    { label: "'1900-02-29' (century, not a leap year)", value: '1900-02-29', message: 'is not a calendar date' },
    { label: "'2024-04-31'", value: '2024-04-31', message: 'is not a calendar date' },
    { label: "'2024-01-32'", value: '2024-01-32', message: 'is not a calendar date' },
    { label: "'2024-01-00'", value: '2024-01-00', message: 'is not a calendar date' },
    { label: "'2024-13-01'", value: '2024-13-01', message: 'is not a calendar date' },
    { label: "'2024-00-10'", value: '2024-00-10', message: 'is not a calendar date' },
    { label: "'0999-12-31' (before year 1000)", value: '0999-12-31', message: 'is not a calendar date' },
    { label: "'2024-1-01' (one-digit month)", value: '2024-1-01', message: 'must look like YYYY-MM-DD' },
    { label: "'2024-01-1' (one-digit day)", value: '2024-01-1', message: 'must look like YYYY-MM-DD' },
    { label: "'24-01-01' (two-digit year)", value: '24-01-01', message: 'must look like YYYY-MM-DD' },
    { label: "'12024-01-01' (five-digit year)", value: '12024-01-01', message: 'must look like YYYY-MM-DD' },
    { label: "'2024/01/01'", value: '2024/01/01', message: 'must look like YYYY-MM-DD' },
    { label: "'20240101' (string)", value: '20240101', message: 'must look like YYYY-MM-DD' },
    { label: "'2024-01-01T00:00'", value: '2024-01-01T00:00', message: 'must look like YYYY-MM-DD' },
    { label: "'2024-01-01Z'", value: '2024-01-01Z', message: 'must look like YYYY-MM-DD' },
    { label: "' 2024-01-01' (leading space)", value: ' 2024-01-01', message: 'must look like YYYY-MM-DD' },
    { label: "'2024-01-01 ' (trailing space)", value: '2024-01-01 ', message: 'must look like YYYY-MM-DD' },
    { label: "'2024-01-01\\n' (trailing newline)", value: '2024-01-01\n', message: 'must look like YYYY-MM-DD' },
    { label: 'full-width digits', value: '２０２４-０１-０１', message: 'must look like YYYY-MM-DD' },
    { label: "'' (empty)", value: '', message: 'must look like YYYY-MM-DD' },
    { label: 'number 20240101', value: 20240101, message: 'must be a YYYY-MM-DD string, got number' },
    { label: 'null', value: null, message: 'must be a YYYY-MM-DD string, got null' },
    { label: 'undefined', value: undefined, message: 'must be a YYYY-MM-DD string, got undefined' },
    { label: 'a Date object', value: new Date('2024-01-01T00:00:00Z'), message: 'got object' },
    { label: 'an array', value: ['2024-01-01'], message: 'got array' },
  ];

  it.each(BAD_DATES)('rejects $label', ({ value, message }) => {
    expectValidationError(() => cycleStart(value), 'USAGE.INVALID_CYCLE_DATE', 'cycleStartDate', value, message);
  });

  it('names the given field', () => {
    expectValidationError(() => cycleStart('2024-02-30', 'since'), 'USAGE.INVALID_CYCLE_DATE', 'since', '2024-02-30');
  });

  const GOOD_DATES: readonly string[] = [
    '2024-02-29', // leap year
    '2000-02-29', // divisible by 400: a leap year
    '2023-02-28',
    '2024-01-01',
    '2024-01-31',
    '2024-04-30',
    '2024-12-31',
    '2024-05-17', // not a cycle boundary, still a valid date
    '1000-01-01',
    '9999-12-31',
  ];

  it.each(GOOD_DATES)('accepts %s unchanged', (value) => {
    expect(cycleStart(value)).toBe(value);
  });
});

describe('hasControlCharacters', () => {
  it.each([
    { label: 'NUL', value: 'a\u0000' },
    { label: 'tab', value: '\t' },
    { label: 'newline', value: 'a\nb' },
    { label: 'unit separator \\u001f', value: '\u001f' },
    { label: 'DEL', value: '\u007f' },
    { label: 'C1 NEL', value: 'x\u0085' },
    { label: 'C1 APC \\u009f', value: '\u009f' },
  ])('finds $label', ({ value }) => {
    expect(hasControlCharacters(value)).toBe(true);
  });

  it.each([
    { label: 'empty text', value: '' },
    { label: 'plain ASCII with spaces', value: 'Alice Smith ~' },
    { label: 'no-break space \\u00a0', value: 'a\u00a0b' },
    { label: 'unicode letters and emoji', value: 'ユーザー 🚀 ñ' },
  ])('finds none in $label', ({ value }) => {
    expect(hasControlCharacters(value)).toBe(false);
  });

  it('gives the same answer on repeated calls (no regex lastIndex state)', () => {
    expect([hasControlCharacters('a\n'), hasControlCharacters('a\n'), hasControlCharacters('a\n')]).toEqual([true, true, true]);
  });
});

describe('callerIdempotencyKey', () => {
  it('allows at most 256 characters', () => {
    expect(MAX_IDEMPOTENCY_KEY_LENGTH).toBe(256);
  });

  it('returns undefined for undefined ("no key")', () => {
    expect(callerIdempotencyKey(undefined)).toBeUndefined();
  });

  const BAD_KEYS: readonly BadCase[] = [
    { label: 'empty string', value: '', message: 'idempotencyKey must be a string of 1 to 256 characters, got 0 characters' },
    {
      label: '257 characters',
      value: 'k'.repeat(257),
      message: 'idempotencyKey must be a string of 1 to 256 characters, got 257 characters',
    },
    { label: '257 UTF-16 code units (128 emoji + 1)', value: `${'😀'.repeat(128)}k`, message: 'got 257 characters' },
    { label: 'null (only undefined means "none")', value: null, message: 'must be a string of 1 to 256 characters, got null' },
    { label: 'number 42', value: 42, message: 'got number' },
    { label: 'object', value: { id: 'resp-1' }, message: 'got object' },
    { label: 'array', value: ['resp-1'], message: 'got array' },
    { label: 'boxed String', value: Object('resp-1') as unknown, message: 'got object' },
    { label: 'boolean', value: true, message: 'got boolean' },
    { label: 'newline \\n', value: 'resp\n1', message: 'idempotencyKey must not contain control characters' },
    { label: 'tab \\t', value: '\tresp', message: 'must not contain control characters' },
    { label: 'NUL \\u0000', value: 'resp\u0000', message: 'must not contain control characters' },
    { label: 'DEL \\u007f', value: 'resp\u007f', message: 'must not contain control characters' },
    { label: 'C1 NEL \\u0085', value: 'resp\u0085', message: 'must not contain control characters' },
  ];

  it.each(BAD_KEYS)('rejects $label', ({ value, message }) => {
    expectValidationError(() => callerIdempotencyKey(value), 'USAGE.INVALID_IDEMPOTENCY_KEY', 'idempotencyKey', value, message);
  });

  it('names the given field', () => {
    expectValidationError(
      () => callerIdempotencyKey('', 'options.idempotencyKey'),
      'USAGE.INVALID_IDEMPOTENCY_KEY',
      'options.idempotencyKey',
      '',
      'options.idempotencyKey must be a string',
    );
  });

  it('does not echo a long key in the message', () => {
    const key = 'secret-'.repeat(40);
    const error = thrown(() => callerIdempotencyKey(key)) as ValidationError;
    expect(error.message).not.toContain('secret-');
  });

  it.each([
    { label: 'a single character', value: 'k' },
    { label: 'exactly 256 characters', value: 'k'.repeat(256) },
    { label: 'exactly 256 UTF-16 code units (128 emoji)', value: '😀'.repeat(128) },
    { label: 'a provider response id', value: 'chatcmpl-9f2c1e7a' },
    { label: 'spaces, colons and braces', value: ' a:b {c} ' },
    { label: 'unicode', value: 'ユーザー-Ωmega' },
  ])('accepts $label, namespaced as a caller key', ({ value }) => {
    expect(callerIdempotencyKey(value)).toBe(`c:${value}`);
  });

  it("keeps a caller's key apart from a reservation's, even when the caller's looks like one", () => {
    expect(callerIdempotencyKey('r:abc')).not.toBe(reservationIdempotencyKey('abc'));
    expect(reservationIdempotencyKey('abc')).toBe('r:abc');
  });
});
