import { ValidationError } from './errors.js';
import type { UsageErrorCode } from './errors.js';
import { cycleStart } from './billing-cycle.js';
import type { CycleStart } from './billing-cycle.js';
import { callerIdempotencyKey } from './idempotency.js';
import { describe } from './user-id.js';
import type { ReadOptions } from '../ports/usage-store.js';

/** Validates one option's value (never `undefined`: an absent option is not parsed); throws `ValidationError`. */
export type OptionParser<T> = (value: unknown, field: string) => T;

/** The options an argument accepts, each with its parser. */
export type OptionsSpec = Readonly<Record<string, OptionParser<unknown>>>;

/** The parsed options: only those that were given, each of its parser's type. */
export type ParsedOptions<S extends OptionsSpec> = { -readonly [K in keyof S]?: ReturnType<S[K]> };

/** How an options argument is read. */
export interface ParseOptionsSettings {
  /** The argument's name in errors. Default `options`. */
  readonly field?: string;
  /** `undefined` and `null` are errors instead of "no options" (e.g. a record's input). */
  readonly required?: boolean;
  /** The code of an error about the argument itself (not an object, unknown name). Default `USAGE.INVALID_OPTION`. */
  readonly code?: UsageErrorCode;
  /**
   * Fields that, when present, must hold a value: `{ promptTokens: undefined }` goes to the parser
   * (and fails) instead of counting as absent. For counts, where `undefined` is a provider field read
   * under the wrong name and must never be recorded as 0.
   */
  readonly definedWhenPresent?: readonly string[];
}

/**
 * The one way every public method reads an options object (or an input object of named fields):
 * `undefined` and `null` mean none (unless `required`); anything but a plain object, an unknown
 * option name (usually a typo, e.g. a misspelled `idempotencyKey` that would silently drop
 * idempotency) or a value its parser refuses is a `ValidationError`. Each option is read exactly
 * once, so callers work on the returned copy, never on the caller's object again.
 */
export function parseOptions<S extends OptionsSpec>(value: unknown, spec: S, settings: ParseOptionsSettings = {}): ParsedOptions<S> {
  const field = settings.field ?? 'options';
  const code = settings.code ?? 'USAGE.INVALID_OPTION';
  if (value === undefined || value === null) {
    if (settings.required === true) throw new ValidationError(code, field, value, `${field} must be an object, got ${describe(value)}`);
    return {};
  }
  if (!isPlainObject(value)) {
    throw new ValidationError(code, field, value, `${field} must be a plain object, got ${describeObject(value)}`);
  }
  const source = value as Record<string | symbol, unknown>;
  // Reflect.ownKeys's order (string keys, then symbols) from two calls that are several times cheaper
  // in V8 than Reflect.ownKeys itself (string names come from the enum cache).
  for (const name of Object.getOwnPropertyNames(source)) {
    if (!Object.hasOwn(spec, name)) throw unknownOption(code, field, value, spec, name);
  }
  const symbols = Object.getOwnPropertySymbols(source);
  if (symbols.length > 0) throw unknownOption(code, field, value, spec, symbols[0] as symbol);
  const parsed: Record<string, unknown> = {};
  const { names, parsers } = compiled(spec);
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    const parse = parsers[i] as OptionParser<unknown>;
    let option: unknown;
    try {
      option = source[name];
    } catch {
      throw new ValidationError(code, name, undefined, `${field}.${name} could not be read`);
    }
    if (option !== undefined || (settings.definedWhenPresent?.includes(name) === true && Object.hasOwn(source, name))) {
      parsed[name] = parse(option, name);
    }
  }
  return parsed as ParsedOptions<S>;
}

/** A boolean option: `true` or `false`, nothing truthy or falsy. */
export const booleanOption: OptionParser<boolean> = (value, field) => {
  if (typeof value !== 'boolean') throw invalidOption(field, value, 'true or false');
  return value;
};

/** A function option (a callback). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any callback shape; the caller's type says which
export const functionOption: OptionParser<(...args: any[]) => any> = (value, field) => {
  if (typeof value !== 'function') throw invalidOption(field, value, 'a function');
  return value as (...args: unknown[]) => unknown;
};

/** An `AbortSignal` option. */
export const signalOption: OptionParser<AbortSignal> = (value, field) => {
  if (!(value instanceof globalThis.AbortSignal)) throw invalidOption(field, value, 'an AbortSignal');
  return value;
};

/** A whole-number option in `[min, max]` (e.g. `batchSize`, `leaseMs`, `timeoutMs`). */
export function integerOption(min: number, max: number): OptionParser<number> {
  return (value, field) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      throw invalidOption(field, value, `a whole number from ${min} to ${max}`);
    }
    return value;
  };
}

/** A `cycleStartDate` option (`YYYY-MM-DD`); `null` means the current cycle, as for the positional argument. */
export const cycleStartOption: OptionParser<CycleStart | undefined> = (value, field) =>
  value === null ? undefined : cycleStart(value, field);

/** A caller's idempotency key, validated and returned as given (`callerIdempotencyKey` namespaces it for the store). */
export const idempotencyKeyOption: OptionParser<string> = (value, field) => {
  callerIdempotencyKey(value, field);
  return value as string;
};

/** The options of a recording call: `{ idempotencyKey }`. */
export const RECORD_OPTIONS = { idempotencyKey: idempotencyKeyOption } as const;

/** The options of a read: `{ allowStale }`. */
export const READ_OPTIONS = { allowStale: booleanOption } as const;

/** Parses read options (`{ allowStale }`); throws `ValidationError` (`USAGE.INVALID_OPTION`). */
export function readOptions(value: unknown): ReadOptions {
  return parseOptions(value, READ_OPTIONS);
}

/** A `ValidationError` (`USAGE.INVALID_OPTION`) for an option of the wrong type or range. */
export function invalidOption(field: string, value: unknown, expected: string): ValidationError {
  const got = typeof value === 'number' ? String(value) : describe(value);
  return new ValidationError('USAGE.INVALID_OPTION', field, value, `${field} must be ${expected}, got ${got}`);
}

// A spec's names and parsers as arrays (the order of Object.entries), built on its first use: every
// spec is a module constant, never changed, and walking arrays beats walking the object per call.
const COMPILED = new WeakMap<OptionsSpec, { readonly names: readonly string[]; readonly parsers: readonly OptionParser<unknown>[] }>();

function compiled(spec: OptionsSpec): { readonly names: readonly string[]; readonly parsers: readonly OptionParser<unknown>[] } {
  let entry = COMPILED.get(spec);
  if (entry === undefined) {
    const entries = Object.entries(spec);
    entry = { names: entries.map(([name]) => name), parsers: entries.map(([, parse]) => parse) };
    COMPILED.set(spec, entry);
  }
  return entry;
}

function unknownOption(code: UsageErrorCode, field: string, value: unknown, spec: OptionsSpec, name: string | symbol): ValidationError {
  const known = Object.keys(spec).join(', ') || 'none';
  return new ValidationError(code, field, value, `${field} has an unknown option ${String(name)} (known: ${known})`);
}

function isPlainObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function describeObject(value: unknown): string {
  if (typeof value !== 'object' || value === null) return describe(value);
  return Array.isArray(value) ? 'array' : ((value as object).constructor?.name ?? 'object');
}
