import { describe, expect, it } from 'vitest';
import { isUsageError } from '../../src/domain/errors.js';
import type { UsageStore } from '../../src/ports/usage-store.js';
import type { StoreCapabilities } from './usage-store.contract.js';
import { aLease, anIdempotencyKey, aReserve, aUsageRecord, aUserId, CYCLE } from '../support/mothers.js';

const MAX = Number.MAX_SAFE_INTEGER;

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

/**
 * The data-integrity half of the `UsageStore` contract, run by `describeUsageStoreContract` for every
 * store: nothing is written that the store could not read back, and every key of a duplicate is claimed.
 */
export function describeIntegrityContract(store: () => UsageStore, capabilities: StoreCapabilities): void {
  describe('integrity', () => {
    const refusals = capabilities.errorReplies === false ? describe.skip : describe;
    refusals('refusals', () => {
      it.each([
        ['prompt_tokens', { prompt: 1, completion: 0 }],
        ['total_tokens', { prompt: 0, completion: 1 }],
      ] as const)('refuses a record that would push %s past 2^53 - 1, writing nothing', async (field, add) => {
        const user = aUserId();
        const seeded = field === 'prompt_tokens' ? { prompt: MAX, completion: 0 } : { prompt: 0, completion: 0, total: MAX };
        await store().recordUsage(aUsageRecord({ userId: user, ...seeded }));
        const before = await store().readUsage({ userId: user, cycle: CYCLE });
        const key = anIdempotencyKey();
        const error = await rejection(store().recordUsage(aUsageRecord({ userId: user, ...add, idempotencyKeys: [key] })));
        expect(isUsageError(error, 'USAGE.CORRUPT_DATA')).toBe(true);
        expect(error).toMatchObject({ field });
        expect(await store().readUsage({ userId: user, cycle: CYCLE })).toEqual(before);
        // Nothing was claimed either: once the overflow is dealt with, the same key still records.
        await store().resetUsage({ userId: user, cycle: CYCLE });
        expect(await store().recordUsage(aUsageRecord({ userId: user, ...add, idempotencyKeys: [key] }))).toMatchObject({ duplicate: false });
      });

      it('reports an overflow in a batch beside the records that were applied', async () => {
        const user = aUserId();
        await store().recordUsage(aUsageRecord({ userId: user, prompt: MAX, completion: 0 }));
        const results = await store().recordUsageBatch([
          aUsageRecord({ userId: user, prompt: 1, completion: 0 }),
          aUsageRecord({ prompt: 1, completion: 2 }),
        ]);
        expect(results[0]).toMatchObject({ ok: false });
        expect(results[0]?.ok === false && isUsageError(results[0].error, 'USAGE.CORRUPT_DATA')).toBe(true);
        expect(results[1]).toMatchObject({ ok: true, outcome: { duplicate: false } });
        expect((await store().readUsage({ userId: user, cycle: CYCLE })).promptTokens).toBe(MAX);
      });

      it('refuses a reservation that would hold more than 2^53 - 1 tokens without a limit', async () => {
        const user = aUserId();
        await store().recordUsage(aUsageRecord({ userId: user, prompt: MAX - 10, completion: 0 }));
        expect(await store().reserve(aReserve(user, 10))).toMatchObject({ granted: true });
        const error = await rejection(store().reserve(aReserve(user, 1)));
        expect(isUsageError(error, 'USAGE.CORRUPT_DATA')).toBe(true);
        expect((await store().readUsage({ userId: user, cycle: CYCLE })).reservedTokens).toBe(10);
      });
    });

    it('a duplicate by one key claims the other key too', async () => {
      const user = aUserId();
      const caller = anIdempotencyKey();
      const reservation = anIdempotencyKey();
      await store().recordUsage(aUsageRecord({ userId: user, idempotencyKeys: [caller] }));
      expect(await store().recordUsage(aUsageRecord({ userId: user, idempotencyKeys: [reservation, caller] }))).toMatchObject({
        duplicate: true,
      });
      // A later write carrying only the other key is the same usage: it must not count again.
      expect(await store().recordUsage(aUsageRecord({ userId: user, idempotencyKeys: [reservation] }))).toMatchObject({
        duplicate: true,
      });
      expect((await store().readUsage({ userId: user, cycle: CYCLE })).totalTokens).toBe(15);
    });

    it('a duplicate still frees its lease', async () => {
      const user = aUserId();
      const key = anIdempotencyKey();
      const lease = aLease(7);
      await store().reserve({ ...aReserve(user, 7), lease });
      await store().recordUsage(aUsageRecord({ userId: user, idempotencyKeys: [key] }));
      await store().recordUsage(aUsageRecord({ userId: user, idempotencyKeys: [key], releaseLease: lease }));
      expect((await store().readUsage({ userId: user, cycle: CYCLE })).reservedTokens).toBe(0);
    });
  });
}
