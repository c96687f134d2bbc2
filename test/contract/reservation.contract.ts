import { describe, expect, it } from 'vitest';
import type { UsageStore } from '../../src/ports/usage-store.js';
import type { StoreCapabilities } from './usage-store.contract.js';
import { aCycle, aLimit, anIdempotencyKey, aReserve, aUsageRecord, aUserId, CYCLE } from '../support/mothers.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The reservation and idempotency half of the `UsageStore` contract, run by
 * `describeUsageStoreContract` for every store. `store()` returns the current test's fresh store.
 */
export function describeReservationContract(store: () => UsageStore, capabilities: StoreCapabilities): void {
  describe('reservations', () => {
    it('grants without a limit, and live leases show up as reserved tokens', async () => {
      const user = aUserId();
      const outcome = await store().reserve(aReserve(user, 40));
      expect(outcome).toMatchObject({ granted: true, currentUsage: 0, reservedTokens: 0, limit: null });
      if (capabilities.wallClock) expect(outcome.expiresAt).toBeGreaterThan(Date.now() + 50_000);
      await store().reserve(aReserve(user, 2));
      expect((await store().readUsage({ userId: user, cycle: CYCLE })).reservedTokens).toBe(42);
    });

    it('grants only while used + reserved + tokens <= limit, and reports the numbers of a denial', async () => {
      const user = aUserId();
      await store().setLimit(aLimit(user, 100));
      await store().recordUsage(aUsageRecord({ userId: user, prompt: 20, completion: 0 }));
      expect(await store().reserve(aReserve(user, 50))).toMatchObject({ granted: true, currentUsage: 20, reservedTokens: 0, limit: 100 });
      expect(await store().reserve(aReserve(user, 31))).toEqual({
        granted: false,
        currentUsage: 20,
        reservedTokens: 50,
        limit: 100,
        expiresAt: 0,
      });
      expect(await store().reserve(aReserve(user, 30))).toMatchObject({ granted: true, reservedTokens: 50 });
      expect(await store().reserve(aReserve(user, 0))).toMatchObject({ granted: true, reservedTokens: 80 });
    });

    it('a re-sent reserve of a granted lease counts it once, under a limit that fits it once and under a roomy one', async () => {
      const user = aUserId();
      const request = aReserve(user, 40);
      await store().setLimit(aLimit(user, 50));
      expect(await store().reserve(request)).toMatchObject({ granted: true, reservedTokens: 0 });
      // 40 + 40 > 50: only granted because the repeat is checked as if it were not there.
      expect(await store().reserve(request)).toMatchObject({ granted: true, reservedTokens: 0, limit: 50 });
      await store().setLimit(aLimit(user, 1_000));
      // Fits either way: the reply still leaves the lease itself out of the reserved tokens.
      expect(await store().reserve(request)).toMatchObject({ granted: true, reservedTokens: 0, limit: 1_000 });
      expect(await store().reserve(aReserve(user, 1))).toMatchObject({ granted: true, reservedTokens: 40 });
      expect((await store().readUsage({ userId: user, cycle: CYCLE })).reservedTokens).toBe(41);
    });

    it('uses the cycle override before the standing limit', async () => {
      const user = aUserId();
      await store().setLimit(aLimit(user, 1_000));
      await store().setLimit(aLimit(user, 10, aCycle()));
      expect(await store().reserve(aReserve(user, 11))).toMatchObject({ granted: false, limit: 10 });
    });

    it('denies even zero tokens once usage is over the limit', async () => {
      const user = aUserId();
      await store().setLimit(aLimit(user, 100));
      await store().recordUsage(aUsageRecord({ userId: user, prompt: 120, completion: 0 }));
      expect(await store().reserve(aReserve(user, 0))).toMatchObject({ granted: false, currentUsage: 120 });
    });

    it('a repeat of a held lease (a retry whose first attempt was granted) is granted again, counted once', async () => {
      const user = aUserId();
      await store().setLimit(aLimit(user, 100));
      const command = aReserve(user, 100);
      expect(await store().reserve(command)).toMatchObject({ granted: true, reservedTokens: 0 });
      expect(await store().reserve(command)).toMatchObject({ granted: true, reservedTokens: 0 });
      expect((await store().readUsage({ userId: user, cycle: CYCLE })).reservedTokens).toBe(100);
      expect(await store().reserve(aReserve(user, 1))).toMatchObject({ granted: false, reservedTokens: 100 });
    });

    it('never grants past the limit under concurrency', async () => {
      const user = aUserId();
      await store().setLimit(aLimit(user, 100));
      const outcomes = await Promise.all(Array.from({ length: 60 }, () => store().reserve(aReserve(user, 7))));
      expect(outcomes.filter((outcome) => outcome.granted)).toHaveLength(14);
      expect((await store().readUsage({ userId: user, cycle: CYCLE })).reservedTokens).toBe(98);
    });

    it('a commit records the usage and frees the lease in one step, once', async () => {
      const user = aUserId();
      const request = aReserve(user, 50);
      await store().reserve(request);
      const key = anIdempotencyKey();
      const commit = aUsageRecord({ userId: user, prompt: 30, completion: 40, idempotencyKeys: [key], releaseLease: request.lease });
      expect(await store().recordUsage(commit)).toEqual({
        duplicate: false,
        counters: { promptTokens: 30, completionTokens: 40, totalTokens: 70 },
      });
      expect(await store().recordUsage(commit)).toEqual({
        duplicate: true,
        counters: { promptTokens: 30, completionTokens: 40, totalTokens: 70 },
      });
      expect(await store().readUsage({ userId: user, cycle: CYCLE })).toMatchObject({ totalTokens: 70, reservedTokens: 0 });
    });

    it('a duplicate commit of another reservation still frees that reservation', async () => {
      const user = aUserId();
      const [first, retry] = [aReserve(user, 50), aReserve(user, 50)];
      await store().reserve(first);
      await store().reserve(retry);
      const key = anIdempotencyKey();
      await store().recordUsage(aUsageRecord({ userId: user, idempotencyKeys: [key], releaseLease: first.lease }));
      const duplicate = await store().recordUsage(aUsageRecord({ userId: user, idempotencyKeys: [key], releaseLease: retry.lease }));
      expect(duplicate.duplicate).toBe(true);
      expect(await store().readUsage({ userId: user, cycle: CYCLE })).toMatchObject({ totalTokens: 15, reservedTokens: 0 });
    });

    it('release frees a lease once and says whether it was live', async () => {
      const user = aUserId();
      const request = aReserve(user, 50);
      await store().reserve(request);
      const release = { userId: user, cycle: CYCLE, lease: request.lease };
      expect(await store().releaseLease(release)).toBe(true);
      expect(await store().releaseLease(release)).toBe(false);
      expect((await store().readUsage({ userId: user, cycle: CYCLE })).reservedTokens).toBe(0);
    });

    it('an expired lease stops counting without any cleanup job', async () => {
      const user = aUserId();
      await store().setLimit(aLimit(user, 100));
      const short = aReserve(user, 80, 40);
      expect((await store().reserve(short)).granted).toBe(true);
      expect((await store().reserve(aReserve(user, 80))).granted).toBe(false);
      await sleep(120);
      expect((await store().readUsage({ userId: user, cycle: CYCLE })).reservedTokens).toBe(0);
      expect(await store().reserve(aReserve(user, 80))).toMatchObject({ granted: true, reservedTokens: 0 });
      expect(await store().releaseLease({ userId: user, cycle: CYCLE, lease: short.lease })).toBe(false);
    });

    it('reset clears usage but keeps outstanding leases', async () => {
      const user = aUserId();
      await store().reserve(aReserve(user, 25));
      await store().recordUsage(aUsageRecord({ userId: user }));
      await store().resetUsage({ userId: user, cycle: CYCLE });
      expect(await store().readUsage({ userId: user, cycle: CYCLE })).toMatchObject({ totalTokens: 0, reservedTokens: 25 });
    });
  });

  describe('idempotent recording', () => {
    it('the same key recorded 100 times concurrently counts once', async () => {
      const user = aUserId();
      const key = anIdempotencyKey();
      const outcomes = await Promise.all(
        Array.from({ length: 100 }, () => store().recordUsage(aUsageRecord({ userId: user, idempotencyKeys: [key] }))),
      );
      expect(outcomes.filter((outcome) => !outcome.duplicate)).toHaveLength(1);
      expect((await store().readUsage({ userId: user, cycle: CYCLE })).totalTokens).toBe(15);
    });

    it('different keys count separately, and a key is per user', async () => {
      const [alice, bob] = [aUserId(), aUserId()];
      const shared = anIdempotencyKey();
      await store().recordUsage(aUsageRecord({ userId: alice, idempotencyKeys: [shared] }));
      await store().recordUsage(aUsageRecord({ userId: alice, idempotencyKeys: [anIdempotencyKey()] }));
      await store().recordUsage(aUsageRecord({ userId: bob, idempotencyKeys: [shared] }));
      expect((await store().readUsage({ userId: alice, cycle: CYCLE })).totalTokens).toBe(30);
      expect((await store().readUsage({ userId: bob, cycle: CYCLE })).totalTokens).toBe(15);
    });

    it('a record is a duplicate when either of its two keys was claimed, and claims both either way', async () => {
      const user = aUserId();
      const [first, second, third] = [anIdempotencyKey(), anIdempotencyKey(), anIdempotencyKey()];
      await store().recordUsage(aUsageRecord({ userId: user, idempotencyKeys: [first, second] }));
      expect((await store().recordUsage(aUsageRecord({ userId: user, idempotencyKeys: [first] }))).duplicate).toBe(true);
      expect((await store().recordUsage(aUsageRecord({ userId: user, idempotencyKeys: [third, second] }))).duplicate).toBe(true);
      // The duplicate claimed `third` as well: it names the same usage.
      expect((await store().recordUsage(aUsageRecord({ userId: user, idempotencyKeys: [third] }))).duplicate).toBe(true);
      expect((await store().readUsage({ userId: user, cycle: CYCLE })).totalTokens).toBe(15);
    });

    it('a key counts again once its dedupe window has passed', async () => {
      const user = aUserId();
      const key = anIdempotencyKey();
      const record = aUsageRecord({ userId: user, idempotencyKeys: [key], dedupeWindowMs: 40 });
      await store().recordUsage(record);
      expect((await store().recordUsage(record)).duplicate).toBe(true);
      await sleep(120);
      expect((await store().recordUsage(record)).duplicate).toBe(false);
      expect((await store().readUsage({ userId: user, cycle: CYCLE })).totalTokens).toBe(30);
    });
  });
}
