import { describe, expect, it } from 'vitest';
import type { UsageStore } from '../../src/ports/usage-store.js';
import { anIdempotencyKey, aUsageRecord, aUserId, CYCLE } from '../support/mothers.js';

/**
 * The usage-details half of the `UsageStore` contract (cache read/write and reasoning counts kept
 * beside the three counters, never added to the total), run by `describeUsageStoreContract`.
 */
export function describeUsageDetailsContract(store: () => UsageStore): void {
  describe('usage details', () => {
    it('adds cache and reasoning details in the same step, without changing the total', async () => {
      const user = aUserId();
      const details = { cacheReadTokens: 900, cacheWriteTokens: 50, reasoningTokens: 30 };
      const outcome = await store().recordUsage({ ...aUsageRecord({ userId: user, prompt: 1_000, completion: 40 }), details });
      expect(outcome.counters).toEqual({ promptTokens: 1_000, completionTokens: 40, totalTokens: 1_040 });
      await store().recordUsage({ ...aUsageRecord({ userId: user, prompt: 10, completion: 0 }), details: { cacheReadTokens: 5 } });
      expect(await store().readUsage({ userId: user, cycle: CYCLE })).toMatchObject({
        promptTokens: 1_010,
        completionTokens: 40,
        totalTokens: 1_050,
        cacheReadTokens: 905,
        cacheWriteTokens: 50,
        reasoningTokens: 30,
      });
    });

    it('leaves a detail that would pass 2^53 - 1 as it is, and still records the usage', async () => {
      const user = aUserId();
      const max = Number.MAX_SAFE_INTEGER;
      await store().recordUsage({ ...aUsageRecord({ userId: user, prompt: 1, completion: 0 }), details: { cacheReadTokens: max - 1 } });
      const outcome = await store().recordUsage({ ...aUsageRecord({ userId: user, prompt: 1, completion: 0 }), details: { cacheReadTokens: 5, reasoningTokens: 2 } });
      expect(outcome).toMatchObject({ duplicate: false, counters: { promptTokens: 2, totalTokens: 2 } });
      expect(await store().readUsage({ userId: user, cycle: CYCLE })).toMatchObject({ promptTokens: 2, cacheReadTokens: max - 1, reasoningTokens: 2 });
    });

    it('adds no details for a duplicate, in a batch as alone, and reset clears them', async () => {
      const user = aUserId();
      const key = anIdempotencyKey();
      const record = { ...aUsageRecord({ userId: user, prompt: 100, completion: 10, idempotencyKeys: [key] }), details: { cacheReadTokens: 60, reasoningTokens: 4 } };
      const results = await store().recordUsageBatch([record, record]);
      expect(results.map((r) => r.ok && r.outcome.duplicate)).toEqual([false, true]);
      expect(await store().recordUsage(record)).toMatchObject({ duplicate: true });
      const snapshot = await store().readUsage({ userId: user, cycle: CYCLE });
      expect(snapshot).toMatchObject({ totalTokens: 110, cacheReadTokens: 60, reasoningTokens: 4 });
      expect(snapshot.cacheWriteTokens).toBeUndefined();
      await store().resetUsage({ userId: user, cycle: CYCLE });
      const cleared = await store().readUsage({ userId: user, cycle: CYCLE });
      expect([cleared.totalTokens, cleared.cacheReadTokens, cleared.reasoningTokens]).toEqual([0, undefined, undefined]);
    });
  });
}
