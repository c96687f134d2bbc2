import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InMemoryUsageStore } from '../../src/adapters/memory/in-memory-usage-store.js';
import { CycleCalendar } from '../../src/domain/billing-cycle.js';
import { isUsageError, ValidationError } from '../../src/domain/errors.js';
import { recordCommandFrom } from '../../src/domain/store-commands.js';
import { RECORD_ARGUMENTS, UsageAccounting } from '../../src/domain/usage-accounting.js';
import type { IdempotencyKey } from '../../src/domain/idempotency.js';
import type { RecordUsageInput } from '../../src/domain/usage-accounting.js';
import { isValidatedRecordCommand, validatedRecordCommand } from '../../src/domain/validated-command.js';
import type { RecordUsageCommand } from '../../src/ports/usage-store.js';
import { FakeClock } from '../support/fake-clock.js';
import { countLike, dateLike, maybe, userIdLike } from '../support/fuzz-values.js';
import { aUsageRecord } from '../support/mothers.js';

/*
 * The domain marks the record commands it builds, and stores accept a marked command without checking
 * it again. Nothing but an untouched, frozen command from the domain may pass unchecked, and the
 * facade's own entry (`UsageAccounting[RECORD_ARGUMENTS]`) must check exactly what `record` checks.
 */

function setup(clock = new FakeClock('2024-01-15T12:00:00Z')): { store: InMemoryUsageStore; accounting: UsageAccounting } {
  const store = new InMemoryUsageStore({ clock });
  const calendar = new CycleCalendar(clock, { policy: 'monthly', timeZone: 'UTC', retentionCycles: 3 });
  return { store, accounting: new UsageAccounting(store, calendar, { dedupeWindowMs: 60_000 }) };
}

function prepared(): RecordUsageCommand {
  const command = setup().accounting.prepare({ userId: 'alice', promptTokens: 10, completionTokens: 5, idempotencyKey: 'resp-1' });
  if (command === null) throw new Error('expected a command');
  return command;
}

describe('validated record commands', () => {
  it('are frozen through and through, and pass the store check as they are', () => {
    const command = prepared();
    expect(isValidatedRecordCommand(command)).toBe(true);
    for (const part of [command, command.cycle, command.idempotencyKeys]) expect(Object.isFrozen(part)).toBe(true);
    expect(recordCommandFrom(command)).toBe(command);
    expect(() => {
      (command as { promptTokens: number }).promptTokens = -1;
    }).toThrow(TypeError);
    expect(() => (command.idempotencyKeys as unknown as string[]).push('c:other')).toThrow(TypeError);
  });

  it('lose the mark when copied: a spread copy is checked in full', () => {
    const command = prepared();
    const copy = { ...command };
    expect(isValidatedRecordCommand(copy)).toBe(false);
    expect(recordCommandFrom(copy)).toEqual(command);
    expect(recordCommandFrom(copy)).not.toBe(copy);
    for (const garbled of [
      { ...command, promptTokens: -1 },
      { ...command, userId: '' },
      { ...command, cycle: { start: '2024-02-30', retainUntil: null } },
      { ...command, idempotencyKeys: ['no-namespace'] },
      { ...command, unknown: 1 },
    ]) {
      expect(() => recordCommandFrom(garbled)).toThrow(ValidationError);
    }
  });

  it('cannot be forged by a look-alike with the same prototype and fields', () => {
    const command = prepared();
    const lookAlike = Object.assign(Object.create(Object.getPrototypeOf(command) as object) as object, command, { completionTokens: 1.5 });
    expect(isValidatedRecordCommand(lookAlike)).toBe(false);
    expect(() => recordCommandFrom(lookAlike)).toThrow(ValidationError);
  });

  it('a garbled copy writes nothing to the in-memory store', async () => {
    const { store } = setup();
    const before = [...store.inspectRecords()];
    await expect(store.recordUsage({ ...prepared(), otherTokens: Number.NaN } as never)).rejects.toBeInstanceOf(ValidationError);
    expect([...store.inspectRecords()]).toEqual(before);
  });

  it('check what the types cannot: the dedupe window and the sum of the counts', () => {
    expect(() => validatedRecordCommand(aUsageRecord({ dedupeWindowMs: 0 }))).toThrow(ValidationError);
    expect(() => validatedRecordCommand(aUsageRecord({ dedupeWindowMs: 1.5 }))).toThrow(ValidationError);
    expect(() => validatedRecordCommand(aUsageRecord({ prompt: Number.MAX_SAFE_INTEGER, completion: 1 }))).toThrow(ValidationError);
  });

  it('freeze every part of every command, however frozen and unfrozen parts are reused between commands', () => {
    const { start } = aUsageRecord().cycle;
    // A small pool, so the same objects come back (the shortcut for a part seen frozen before) in any order.
    const cycles = [Object.freeze({ start, retainUntil: 1 }), { start, retainUntil: 2 }, Object.freeze({ start, retainUntil: null })];
    const keyLists = [Object.freeze([]), [], Object.freeze(['c:a' as IdempotencyKey]), ['c:b' as IdempotencyKey]];
    fc.assert(
      fc.property(fc.array(fc.record({ cycle: fc.nat(cycles.length), keys: fc.nat(keyLists.length) }), { maxLength: 12 }), (picks) => {
        for (const pick of picks) {
          // Index `length` stands for a fresh, unfrozen object.
          const cycle = cycles[pick.cycle] ?? { start, retainUntil: 3 };
          const keys = keyLists[pick.keys] ?? ['c:fresh' as IdempotencyKey];
          const command = validatedRecordCommand({ ...aUsageRecord(), cycle, idempotencyKeys: keys });
          expect(Object.isFrozen(command.cycle) && Object.isFrozen(command.idempotencyKeys)).toBe(true);
          expect(command.cycle).toEqual(cycle);
          expect(command.idempotencyKeys).toEqual(keys);
          if (!Object.isFrozen(cycle)) expect(command.cycle).not.toBe(cycle);
          if (!Object.isFrozen(keys)) expect(command.idempotencyKeys).not.toBe(keys);
        }
      }),
    );
    expect(Object.isFrozen(cycles[1]) || Object.isFrozen(keyLists[1])).toBe(false); // the caller's objects stay its own
  });

  it('freeze copies of parts that were not frozen, leaving the caller its own objects', () => {
    const record = aUsageRecord();
    const cycle = record.cycle;
    const command = validatedRecordCommand({ ...record });
    expect(Object.isFrozen(command.cycle)).toBe(true);
    expect(command.cycle).toEqual(cycle);
    expect(Object.isFrozen(cycle)).toBe(false);
  });
});

/** The facade's positional arguments for an input: a count it does not name (not an own field) is 0. */
function positional(input: RecordUsageInput): [unknown, unknown, unknown, unknown, unknown, unknown] {
  const count = (name: 'promptTokens' | 'completionTokens' | 'unattributedTokens'): unknown => (Object.hasOwn(input, name) ? input[name] : 0);
  return [input.userId, count('promptTokens'), count('completionTokens'), count('unattributedTokens'), input.cycleStartDate, input.idempotencyKey];
}

/** What a call did: its outcome, or its error's code, field and message. */
async function settle(run: () => unknown): Promise<unknown> {
  try {
    return { ok: await run() };
  } catch (error) {
    if (!isUsageError(error)) throw error;
    return { code: error.code, field: (error as ValidationError).field, message: error.message };
  }
}

describe('UsageAccounting[RECORD_ARGUMENTS] (the facade entry)', () => {
  it('checks, refuses and writes exactly as record does, for any positional arguments', async () => {
    // The facade's input objects: a user id, the counts its method names (present even when undefined), a date, a key.
    // `undefined` often, as a missing positional argument is: it must be an error for a count, "none" for the rest.
    const orUndefined = (value: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> => fc.oneof({ arbitrary: value, weight: 4 }, { arbitrary: fc.constant(undefined), weight: 1 });
    const input = fc.record(
      {
        userId: orUndefined(userIdLike),
        promptTokens: orUndefined(countLike),
        completionTokens: orUndefined(countLike),
        unattributedTokens: orUndefined(countLike),
        cycleStartDate: orUndefined(dateLike),
        idempotencyKey: orUndefined(maybe(fc.constantFrom('resp-1', 'resp-2'))),
      },
      { requiredKeys: ['userId'] },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(input, { minLength: 1, maxLength: 8 }), async (inputs) => {
        const clock = new FakeClock('2026-10-20T08:00:00Z');
        const reference = setup(clock);
        const fast = setup(clock);
        for (const value of inputs as RecordUsageInput[]) {
          const expected = await settle(() => reference.accounting.record(value));
          expect(await settle(() => fast.accounting[RECORD_ARGUMENTS](...positional(value)))).toEqual(expected);
          clock.advance(1_000);
        }
        expect([...fast.store.inspectRecords()]).toEqual([...reference.store.inspectRecords()]);
      }),
      { numRuns: 300 },
    );
  });

  it('throws a ValidationError synchronously and writes nothing', () => {
    const { store, accounting } = setup();
    expect(() => accounting[RECORD_ARGUMENTS]('bob', undefined, 0, 0, undefined, undefined)).toThrow(ValidationError);
    expect([...store.inspectRecords()]).toEqual([]);
  });

  it('returns null without touching the store when every count is 0', () => {
    const { store, accounting } = setup();
    expect(accounting[RECORD_ARGUMENTS]('bob', 0, 0, 0, undefined, undefined)).toBeNull();
    expect([...store.inspectRecords()]).toEqual([]);
  });
});
