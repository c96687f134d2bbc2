import { randomBytes } from 'node:crypto';
import { cycleStart } from '../../src/domain/billing-cycle.js';
import type { BillingCycle, CycleStart } from '../../src/domain/billing-cycle.js';
import { tokenCount, usageLimit } from '../../src/domain/token-count.js';
import { userId } from '../../src/domain/user-id.js';
import type { UserId } from '../../src/domain/user-id.js';
import type { RecordUsageCommand, SetLimitCommand } from '../../src/ports/usage-store.js';

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
  overrides: Partial<{ userId: UserId; cycle: BillingCycle; prompt: number; completion: number; total: number }> = {},
): RecordUsageCommand {
  const prompt = overrides.prompt ?? 10;
  const completion = overrides.completion ?? 5;
  return {
    userId: overrides.userId ?? aUserId(),
    cycle: overrides.cycle ?? aCycle(),
    promptTokens: tokenCount(prompt),
    completionTokens: tokenCount(completion),
    totalTokens: tokenCount(overrides.total ?? prompt + completion),
  };
}

/** A limit command; a standing limit unless a cycle is given. */
export function aLimit(user: UserId, limit: number, cycle: BillingCycle | null = null): SetLimitCommand {
  return { userId: user, limit: usageLimit(limit), cycle };
}
