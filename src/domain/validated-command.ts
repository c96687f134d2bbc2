import { ValidationError } from './errors.js';
import type { RecordUsageCommand } from '../ports/usage-store.js';

/*
 * A record command the domain built from parts it validated itself carries a private mark, so the
 * store's own check of the command (`recordCommandFrom`) can accept it without validating every field
 * a second time: on the in-memory path that second pass cost more than the record itself. The mark is
 * a class private field stamped onto the plain object, which cannot be forged (no property, no
 * symbol: a spread copy or a look-alike object is unmarked and fully validated), and the command and
 * everything it holds is frozen, so a marked command can never be changed after the check.
 */

/** Its constructor returns the object it is given, so a subclass's private field is stamped onto that object. */
class Stamp {
  constructor(target: object) {
    return target as Stamp;
  }
}

class Validated extends Stamp {
  // Only its presence matters (`#mark in value`).
  readonly #mark = true;

  static mark(target: object): void {
    new Validated(target);
  }

  static has(value: object): boolean {
    return #mark in value;
  }
}

const DAY_MS = 86_400_000;

/**
 * Freezes and marks a record command whose every part the caller validated (branded user id, cycle,
 * counts, keys, rollup day). Checks what the types cannot: the dedupe window's range and that the
 * counts add up to a safe integer. Nested objects are frozen too (copied when not frozen already).
 */
export function validatedRecordCommand(command: RecordUsageCommand): RecordUsageCommand {
  if (!Number.isSafeInteger(command.dedupeWindowMs) || command.dedupeWindowMs < 1 || command.dedupeWindowMs > 366 * DAY_MS) {
    throw new ValidationError('USAGE.INVALID_OPTION', 'dedupeWindowMs', command.dedupeWindowMs, 'dedupeWindowMs must be 1 ms to 366 days');
  }
  if (!Number.isSafeInteger(command.promptTokens + command.completionTokens + command.otherTokens)) {
    const message = `the tokens of one record must add up to at most ${Number.MAX_SAFE_INTEGER}`;
    throw new ValidationError('USAGE.INVALID_TOKEN_COUNT', 'totalTokens', command.promptTokens + command.completionTokens + command.otherTokens, message);
  }
  const own = command as { -readonly [K in keyof RecordUsageCommand]: RecordUsageCommand[K] };
  if (command.cycle !== lastCycle) lastCycle = own.cycle = frozen(command.cycle);
  if (command.idempotencyKeys !== lastKeys) lastKeys = own.idempotencyKeys = frozen(command.idempotencyKeys);
  if (command.releaseLease !== null) own.releaseLease = frozen(command.releaseLease);
  if (command.details !== undefined) own.details = frozen(command.details);
  Validated.mark(own);
  return Object.freeze(own);
}

/** True for a command {@link validatedRecordCommand} returned (frozen, every field valid). */
export function isValidatedRecordCommand(value: unknown): value is RecordUsageCommand {
  return typeof value === 'object' && value !== null && Validated.has(value);
}

/*
 * The cycle and the keys of the command frozen last (as they are in it, so frozen). Freezing is for
 * good, so the same object given again needs no second look: nearly every command holds the calendar's
 * cycle of the moment and the one empty key list, and `Object.isFrozen` cost more than the rest of
 * the check.
 */
let lastCycle: RecordUsageCommand['cycle'] | undefined;
let lastKeys: RecordUsageCommand['idempotencyKeys'] | undefined;

function frozen<T extends object>(value: T): T {
  if (Object.isFrozen(value)) return value;
  return Object.freeze(Array.isArray(value) ? ([...value] as T) : { ...value });
}
