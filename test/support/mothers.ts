import { randomBytes, randomUUID } from 'node:crypto';
import { callerIdempotencyKey } from '../../src/domain/idempotency.js';
import type { IdempotencyKey } from '../../src/domain/idempotency.js';
import { cycleStart } from '../../src/domain/billing-cycle.js';
import type { BillingCycle, CycleStart } from '../../src/domain/billing-cycle.js';
import { tokenCount, usageLimit } from '../../src/domain/token-count.js';
import { userId } from '../../src/domain/user-id.js';
import type { UserId } from '../../src/domain/user-id.js';
import type { LeaseRef, RecordUsageCommand, ReserveCommand, SetLimitCommand } from '../../src/ports/usage-store.js';

/** A fresh, unique user id. */
export function aUserId(label = 'user'): UserId {
  return userId(`${label}-${randomBytes(4).toString('hex')}`);
}

export const CYCLE: CycleStart = cycleStart('2024-01-01');
export const OTHER_CYCLE: CycleStart = cycleStart('2024-02-01');

/** A billing cycle kept for an hour from now (so real stores keep it during a test). */
export function aCycle(start: CycleStart = CYCLE, retainUntil: number | null = Date.now() + 3_600_000): BillingCycle {
  return { start, retainUntil };
}

/** A record of 10 prompt + 5 completion tokens unless overridden; total defaults to prompt + completion. */
export function aUsageRecord(
  overrides: Partial<{
    userId: UserId;
    cycle: BillingCycle;
    prompt: number;
    completion: number;
    total: number;
    idempotencyKeys: IdempotencyKey[];
    dedupeWindowMs: number;
    releaseLease: LeaseRef | null;
    rollupDay: CycleStart;
  }> = {},
): RecordUsageCommand {
  const prompt = overrides.prompt ?? 10;
  const completion = overrides.completion ?? 5;
  const cycle = overrides.cycle ?? aCycle();
  return {
    userId: overrides.userId ?? aUserId(),
    cycle,
    promptTokens: tokenCount(prompt),
    completionTokens: tokenCount(completion),
    otherTokens: tokenCount((overrides.total ?? prompt + completion) - prompt - completion),
    idempotencyKeys: overrides.idempotencyKeys ?? [],
    dedupeWindowMs: overrides.dedupeWindowMs ?? 60_000,
    releaseLease: overrides.releaseLease ?? null,
    rollupDay: overrides.rollupDay ?? cycle.start,
  };
}

/** A lease of `tokens` with a fresh id. */
export function aLease(tokens: number): LeaseRef {
  return { id: randomUUID(), tokens: tokenCount(tokens) };
}

/** A reservation request for `tokens` on the default cycle, leased for a minute unless overridden. */
export function aReserve(user: UserId, tokens: number, leaseMs = 60_000, cycle: BillingCycle = aCycle()): ReserveCommand {
  return { userId: user, cycle, lease: aLease(tokens), leaseMs };
}

/** A caller idempotency key as the domain namespaces it. */
export function anIdempotencyKey(value = randomUUID()): IdempotencyKey {
  return callerIdempotencyKey(value) as IdempotencyKey;
}

/** A limit command; a standing limit unless a cycle is given. */
export function aLimit(user: UserId, limit: number, cycle: BillingCycle | null = null): SetLimitCommand {
  return { userId: user, limit: usageLimit(limit), cycle };
}
