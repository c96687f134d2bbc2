import { cycleStart } from './billing-cycle.js';
import type { BillingCycle } from './billing-cycle.js';
import { ValidationError } from './errors.js';
import type { IdempotencyKey } from './idempotency.js';
import { MAX_IDEMPOTENCY_KEY_LENGTH } from './idempotency.js';
import { integerOption, invalidOption, parseOptions } from './options.js';
import type { OptionParser } from './options.js';
import { tokenCount, usageLimit } from './token-count.js';
import { describe, hasControlCharacters, userId } from './user-id.js';
import { isValidatedRecordCommand } from './validated-command.js';
import type {
  CycleRef,
  LeaseRef,
  RecordUsageCommand,
  ReleaseCommand,
  ReserveCommand,
  SetLimitCommand,
  UsageDetails,
} from '../ports/usage-store.js';

/*
 * Validators of the `UsageStore` port's commands. The domain services build valid commands; stores
 * and decorators are public too, so each of their methods checks its command with these (through the
 * one options helper) before anything is sent or cached: a wrong-typed command is a `ValidationError`,
 * never a write under a garbled key.
 */

const DAY_MS = 86_400_000;
const MAX_EPOCH_MS = 8_640_000_000_000_000; // the largest Date

const epochMs = integerOption(0, MAX_EPOCH_MS);

const CYCLE_SPEC = { start: cycleStart, retainUntil: (v: unknown, f: string) => (v === null ? null : epochMs(v, f)) };

const billingCycle: OptionParser<BillingCycle> = (value, field) => {
  const cycle = parseOptions(value, CYCLE_SPEC, { field, required: true });
  if (cycle.start === undefined) {
    throw new ValidationError('USAGE.INVALID_CYCLE_DATE', `${field}.start`, undefined, `${field}.start is required`);
  }
  if (!Object.hasOwn(value as object, 'retainUntil')) throw invalidOption(`${field}.retainUntil`, undefined, 'epoch ms or null');
  return { start: cycle.start, retainUntil: cycle.retainUntil ?? null };
};

const LEASE_ID = /^[\w-]{1,128}$/;

const LEASE_SPEC = {
  id: (v: unknown, f: string): string => {
    if (typeof v === 'string' && LEASE_ID.test(v)) return v;
    throw new ValidationError('USAGE.INVALID_RESERVATION', f, v, `${f} is not a lease id`);
  },
  tokens: (v: unknown, f: string) => tokenCount(v, f),
};

const lease: OptionParser<LeaseRef> = (value, field) => {
  const parsed = parseOptions(value, LEASE_SPEC, { field, required: true, code: 'USAGE.INVALID_RESERVATION' });
  if (parsed.id === undefined || parsed.tokens === undefined) {
    throw new ValidationError('USAGE.INVALID_RESERVATION', field, value, `${field} needs an id and tokens`);
  }
  return { id: parsed.id, tokens: parsed.tokens };
};

const storedKey: OptionParser<IdempotencyKey> = (value, field) => {
  const ok =
    typeof value === 'string' &&
    /^[crg]:./su.test(value) &&
    value.length <= MAX_IDEMPOTENCY_KEY_LENGTH + 2 &&
    !hasControlCharacters(value) &&
    value.isWellFormed();
  if (!ok) {
    const message = `${field} is not a namespaced idempotency key (c:, r: or g:)`;
    throw new ValidationError('USAGE.INVALID_IDEMPOTENCY_KEY', field, value, message);
  }
  return value as IdempotencyKey;
};

const DETAILS_SPEC = { cacheReadTokens: tokenCount, cacheWriteTokens: tokenCount, reasoningTokens: tokenCount };

const usageDetails: OptionParser<UsageDetails> = (value, field) => {
  const d = parseOptions(value, DETAILS_SPEC, { field, required: true });
  const details: { -readonly [K in keyof UsageDetails]: number } = {};
  for (const name of ['cacheReadTokens', 'cacheWriteTokens', 'reasoningTokens'] as const) {
    if (d[name] !== undefined) details[name] = d[name];
  }
  return details;
};

const idempotencyKeys: OptionParser<IdempotencyKey[]> = (value, field) => {
  if (!Array.isArray(value) || value.length > 2) throw invalidOption(field, value, 'an array of at most two keys');
  return value.map((key, i) => storedKey(key, `${field}[${i}]`));
};

function required<T>(value: T | undefined, field: string, parse: OptionParser<T>): T {
  return value === undefined ? parse(undefined, field) : value;
}

// The specs are built once: parseOptions walks them on every call.
const CYCLE_REF_SPEC = { userId, cycle: cycleStart };

/** Validates a `CycleRef` (`{ userId, cycle }`). */
export function cycleRefFrom(value: unknown, field = 'ref'): CycleRef {
  const ref = parseOptions(value, CYCLE_REF_SPEC, { field, required: true });
  return { userId: required(ref.userId, 'userId', userId), cycle: required(ref.cycle, 'cycle', cycleStart) };
}

const RECORD_COMMAND_SPEC = {
  userId,
  cycle: billingCycle,
  promptTokens: tokenCount,
  completionTokens: tokenCount,
  otherTokens: tokenCount,
  idempotencyKeys,
  dedupeWindowMs: integerOption(1, 366 * DAY_MS),
  releaseLease: (v: unknown, f: string) => (v === null ? null : lease(v, f)),
  rollupDay: cycleStart,
  details: usageDetails,
};

/** Validates a `RecordUsageCommand`; one the domain built and marked (`validatedRecordCommand`) is returned as is. */
export function recordCommandFrom(value: unknown, field = 'command'): RecordUsageCommand {
  if (isValidatedRecordCommand(value)) return value;
  const spec = RECORD_COMMAND_SPEC;
  const c = parseOptions(value, spec, { field, required: true });
  const command: RecordUsageCommand = {
    userId: required(c.userId, 'userId', userId),
    cycle: required(c.cycle, 'cycle', billingCycle),
    promptTokens: required(c.promptTokens, 'promptTokens', tokenCount),
    completionTokens: required(c.completionTokens, 'completionTokens', tokenCount),
    otherTokens: required(c.otherTokens, 'otherTokens', tokenCount),
    idempotencyKeys: required(c.idempotencyKeys, 'idempotencyKeys', idempotencyKeys),
    dedupeWindowMs: required(c.dedupeWindowMs, 'dedupeWindowMs', spec.dedupeWindowMs),
    releaseLease: c.releaseLease ?? null,
    rollupDay: required(c.rollupDay, 'rollupDay', cycleStart),
    ...(c.details === undefined ? {} : { details: c.details }),
  };
  const total = command.promptTokens + command.completionTokens + command.otherTokens;
  if (!Number.isSafeInteger(total)) {
    const message = `the tokens of one record must add up to at most ${Number.MAX_SAFE_INTEGER}`;
    throw new ValidationError('USAGE.INVALID_TOKEN_COUNT', 'totalTokens', total, message);
  }
  return command;
}

/** Validates a batch of `RecordUsageCommand`s (an array). */
export function recordBatchFrom(value: unknown): RecordUsageCommand[] {
  if (!Array.isArray(value)) throw invalidOption('commands', value, `an array of record commands, got ${describe(value)}`);
  return value.map((command, i) => recordCommandFrom(command, `commands[${i}]`));
}

const COMMAND_SETTINGS = { field: 'command', required: true } as const;
const SET_LIMIT_SPEC = { userId, limit: usageLimit, cycle: (v: unknown, f: string) => (v === null ? null : billingCycle(v, f)) };
const LEASE_MS = integerOption(1, DAY_MS);
const RESERVE_SPEC = { userId, cycle: billingCycle, lease, leaseMs: LEASE_MS };
const RELEASE_SPEC = { userId, cycle: cycleStart, lease };

/** Validates a `SetLimitCommand`. */
export function setLimitCommandFrom(value: unknown): SetLimitCommand {
  const c = parseOptions(value, SET_LIMIT_SPEC, COMMAND_SETTINGS);
  return {
    userId: required(c.userId, 'userId', userId),
    limit: required(c.limit, 'limit', usageLimit),
    cycle: c.cycle ?? null,
  };
}

/** Validates a `ReserveCommand`. */
export function reserveCommandFrom(value: unknown): ReserveCommand {
  const c = parseOptions(value, RESERVE_SPEC, COMMAND_SETTINGS);
  return {
    userId: required(c.userId, 'userId', userId),
    cycle: required(c.cycle, 'cycle', billingCycle),
    lease: required(c.lease, 'lease', lease),
    leaseMs: required(c.leaseMs, 'leaseMs', LEASE_MS),
  };
}

/** Validates a `ReleaseCommand`. */
export function releaseCommandFrom(value: unknown): ReleaseCommand {
  const c = parseOptions(value, RELEASE_SPEC, COMMAND_SETTINGS);
  return {
    userId: required(c.userId, 'userId', userId),
    cycle: required(c.cycle, 'cycle', cycleStart),
    lease: required(c.lease, 'lease', lease),
  };
}
