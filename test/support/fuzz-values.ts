import fc from 'fast-check';

/** Values of the wrong type, at the edges, or ill-formed: what a caller bug hands a public method. */
export const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    undefined,
    null,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    -1,
    -0,
    1.5,
    2 ** 53,
    Number.MAX_SAFE_INTEGER,
    Number.MAX_VALUE,
    '',
    ' ',
    '0',
    '5',
    'true',
    'false',
    'lone\uD800',
    'lone\uDFFF',
    '\uDC00first',
    'ctl\u0007',
    'x'.repeat(300),
    '2024-02-30',
    '2024-01-01T00:00:00Z',
    true,
    false,
    0n,
    Symbol('odd'),
    [],
    [1, 2],
    {},
    Object.create(null) as object,
    new Date(0),
    new Map(),
    /re/,
    Promise.resolve(1),
    () => 1,
    { valueOf: () => 5 },
    { toString: () => 'user' },
    { [Symbol('key')]: 1 },
    Object.freeze({ idempotencyKey: 'k', extra: true }),
  ),
  fc.integer({ min: -1_000, max: 1_000 }),
  fc.double(),
  fc.string({ maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 4 }),
  fc.array(fc.anything({ maxDepth: 1 }), { maxLength: 3 }),
  fc.object({ maxDepth: 1, maxKeys: 3 }),
);

/** Mostly valid (`valid`), often odd: so both acceptance and every kind of rejection get exercised. */
export function maybe<T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof({ arbitrary: valid, weight: 2 }, { arbitrary: oddValue, weight: 1 });
}

/** An options object whose known names hold mostly valid, often odd values, sometimes with an unknown name. */
export function optionsLike(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  const record = fc.record(
    Object.fromEntries(Object.entries(fields).map(([name, valid]) => [name, maybe(valid)])),
    { requiredKeys: [] },
  );
  return fc.oneof(
    { arbitrary: record, weight: 3 },
    { arbitrary: record.map((value) => ({ ...(value as object), unknownOption: 1 })), weight: 1 },
    { arbitrary: oddValue, weight: 1 },
  );
}

/** A user id from a small pool (so records meet), sometimes odd. */
export const userIdLike = maybe(fc.constantFrom('fuzz-a', 'fuzz-b', 'fuzz:c', 'fuzz-\uD83D\uDE00'));
/** A token count, sometimes huge (overflow) or odd. */
export const countLike = maybe(fc.oneof(fc.integer({ min: 0, max: 50 }), fc.constant(Number.MAX_SAFE_INTEGER)));
/** A cycle date, sometimes absent or odd. */
export const dateLike = maybe(fc.constantFrom(undefined, '2026-10-01', '2026-11-15'));
