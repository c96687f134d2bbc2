import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isUsageError } from '../../src/domain/errors.js';
import { userId } from '../../src/domain/user-id.js';
import type { UserId } from '../../src/domain/user-id.js';
import type { UsageStore } from '../../src/ports/usage-store.js';
import { describeIntegrityContract } from './integrity.contract.js';
import { describeReservationContract } from './reservation.contract.js';
import { describeUsageDetailsContract } from './usage-details.contract.js';
import { aCycle, aLimit, anIdempotencyKey, aUsageRecord, aUserId, CYCLE, OTHER_CYCLE } from '../support/mothers.js';

/** Builds a fresh, empty store (its own key prefix) for one test. */
export type StoreFactory = () => UsageStore | Promise<UsageStore>;

/** What a store can promise beyond the contract; each flag turns on the tests that need it. */
export interface StoreCapabilities {
  /** The store's clock is the wall clock (lease expiries are comparable with `Date.now()`). */
  readonly wallClock: boolean;
  /** The store's scripts can return error replies (ioredis-mock's Lua has no `redis.error_reply`). Default true. */
  readonly errorReplies?: boolean;
}

/**
 * The one behavioural contract of `UsageStore`. Every implementation runs it unchanged:
 * `describeUsageStoreContract('in-memory', () => new InMemoryUsageStore())`.
 */
export function describeUsageStoreContract(
  name: string,
  createStore: StoreFactory,
  capabilities: StoreCapabilities = { wallClock: true },
): void {
  describe(`UsageStore contract: ${name}`, () => {
    let store: UsageStore;
    let closed = false;

    beforeEach(async () => {
      store = await createStore();
      closed = false;
    });

    afterEach(async () => {
      if (!closed) await store.close();
    });

    it('reads zeros and no limits for a user that recorded nothing', async () => {
      expect(await store.readUsage({ userId: aUserId(), cycle: CYCLE })).toEqual({
        promptTokens: 0,
        completionTokens: 0,
        totalTokens: 0,
        cycleLimit: null,
        standingLimit: null,
        reservedTokens: 0,
      });
    });

    it('adds prompt, completion and total in one step and returns the new counters', async () => {
      const user = aUserId();
      expect(await store.recordUsage(aUsageRecord({ userId: user, prompt: 150, completion: 75 }))).toEqual({
        duplicate: false,
        counters: { promptTokens: 150, completionTokens: 75, totalTokens: 225 },
      });
      expect(await store.recordUsage(aUsageRecord({ userId: user, prompt: 1, completion: 0 }))).toEqual({
        duplicate: false,
        counters: { promptTokens: 151, completionTokens: 75, totalTokens: 226 },
      });
      expect(await store.readUsage({ userId: user, cycle: CYCLE })).toMatchObject({
        promptTokens: 151,
        completionTokens: 75,
        totalTokens: 226,
      });
    });

    it('applies a batch of records in order, each atomically, deduping by idempotency key', async () => {
      const [alice, bob] = [aUserId(), aUserId()];
      const key = anIdempotencyKey();
      const results = await store.recordUsageBatch([
        aUsageRecord({ userId: alice, prompt: 1, completion: 1 }),
        aUsageRecord({ userId: bob, prompt: 5, completion: 0, idempotencyKeys: [key] }),
        aUsageRecord({ userId: alice, prompt: 2, completion: 2 }),
        aUsageRecord({ userId: bob, prompt: 5, completion: 0, idempotencyKeys: [key] }),
      ]);
      expect(results).toEqual([
        { ok: true, outcome: { duplicate: false, counters: { promptTokens: 1, completionTokens: 1, totalTokens: 2 } } },
        { ok: true, outcome: { duplicate: false, counters: { promptTokens: 5, completionTokens: 0, totalTokens: 5 } } },
        { ok: true, outcome: { duplicate: false, counters: { promptTokens: 3, completionTokens: 3, totalTokens: 6 } } },
        { ok: true, outcome: { duplicate: true, counters: { promptTokens: 5, completionTokens: 0, totalTokens: 5 } } },
      ]);
      expect(await store.recordUsageBatch([])).toEqual([]);
    });

    it('adds tokens that are not broken down to the total only', async () => {
      const user = aUserId();
      await store.recordUsage(aUsageRecord({ userId: user, prompt: 0, completion: 0, total: 40 }));
      await store.recordUsage(aUsageRecord({ userId: user, prompt: 3, completion: 2, total: 5 }));
      expect(await store.readUsage({ userId: user, cycle: CYCLE })).toMatchObject({
        promptTokens: 3,
        completionTokens: 2,
        totalTokens: 45,
      });
    });

    it('keeps users and cycles apart, including ids that contain separators and braces', async () => {
      const ids = ['a', 'a:b', 'a:2024-01-01', '{a}', 'a}', '}a', '%7D', '用户-ü', 'x'.repeat(256)].map((id) => userId(id));
      const first = ids[0] as UserId;
      await Promise.all(
        ids.map((id, i) => store.recordUsage(aUsageRecord({ userId: id, prompt: i + 1, completion: 0 }))),
      );
      await store.recordUsage(aUsageRecord({ userId: first, cycle: aCycle(OTHER_CYCLE), prompt: 100, completion: 0 }));
      for (const [i, id] of ids.entries()) {
        expect((await store.readUsage({ userId: id, cycle: CYCLE })).promptTokens).toBe(i + 1);
      }
      expect((await store.readUsage({ userId: first, cycle: OTHER_CYCLE })).promptTokens).toBe(100);
    });

    it('never loses a concurrent increment', async () => {
      const user = aUserId();
      await Promise.all(
        Array.from({ length: 200 }, () => store.recordUsage(aUsageRecord({ userId: user, prompt: 3, completion: 2 }))),
      );
      expect(await store.readUsage({ userId: user, cycle: CYCLE })).toMatchObject({
        promptTokens: 600,
        completionTokens: 400,
        totalTokens: 1000,
      });
    });

    it('counts exactly up to Number.MAX_SAFE_INTEGER', async () => {
      const user = aUserId();
      const big = Number.MAX_SAFE_INTEGER - 10;
      await store.recordUsage(aUsageRecord({ userId: user, prompt: big, completion: 0 }));
      await store.recordUsage(aUsageRecord({ userId: user, prompt: 10, completion: 0 }));
      expect((await store.readUsage({ userId: user, cycle: CYCLE })).promptTokens).toBe(Number.MAX_SAFE_INTEGER);
    });

    it('sets, reads and removes a cycle limit and a standing limit independently', async () => {
      const user = aUserId();
      await store.setLimit(aLimit(user, 1_000));
      await store.setLimit(aLimit(user, 500, aCycle()));
      expect(await store.readUsage({ userId: user, cycle: CYCLE })).toMatchObject({ cycleLimit: 500, standingLimit: 1_000 });
      expect(await store.readUsage({ userId: user, cycle: OTHER_CYCLE })).toMatchObject({
        cycleLimit: null,
        standingLimit: 1_000,
      });
      await store.setLimit(aLimit(user, 0, aCycle()));
      expect(await store.readUsage({ userId: user, cycle: CYCLE })).toMatchObject({ cycleLimit: null, standingLimit: 1_000 });
      await store.setLimit(aLimit(user, 0));
      expect(await store.readUsage({ userId: user, cycle: CYCLE })).toMatchObject({ cycleLimit: null, standingLimit: null });
    });

    it('removing a limit that was never set changes nothing', async () => {
      const user = aUserId();
      await store.setLimit(aLimit(user, 0, aCycle()));
      await store.setLimit(aLimit(user, 0));
      expect(await store.readUsage({ userId: user, cycle: CYCLE })).toEqual({
        promptTokens: 0,
        completionTokens: 0,
        totalTokens: 0,
        cycleLimit: null,
        standingLimit: null,
        reservedTokens: 0,
      });
    });

    it('reset clears the counters of one cycle and keeps every limit', async () => {
      const user = aUserId();
      await store.setLimit(aLimit(user, 1_000));
      await store.setLimit(aLimit(user, 500, aCycle()));
      await store.recordUsage(aUsageRecord({ userId: user }));
      await store.recordUsage(aUsageRecord({ userId: user, cycle: aCycle(OTHER_CYCLE) }));
      await store.resetUsage({ userId: user, cycle: CYCLE });
      expect(await store.readUsage({ userId: user, cycle: CYCLE })).toEqual({
        promptTokens: 0,
        completionTokens: 0,
        totalTokens: 0,
        cycleLimit: 500,
        standingLimit: 1_000,
        reservedTokens: 0,
      });
      expect((await store.readUsage({ userId: user, cycle: OTHER_CYCLE })).totalTokens).toBe(15);
      await store.resetUsage({ userId: aUserId(), cycle: CYCLE }); // nothing there: a no-op
    });

    it('drops a cycle once its retention has passed and keeps it before', async () => {
      const kept = aUserId();
      const expired = aUserId();
      await store.recordUsage(aUsageRecord({ userId: kept, cycle: aCycle(CYCLE, Date.now() + 3_600_000) }));
      await store.recordUsage(aUsageRecord({ userId: expired, cycle: aCycle(CYCLE, Date.now() - 1_000) }));
      expect((await store.readUsage({ userId: kept, cycle: CYCLE })).totalTokens).toBe(15);
      expect((await store.readUsage({ userId: expired, cycle: CYCLE })).totalTokens).toBe(0);
    });

    it('keeps a cycle forever when retention is off (retainUntil null)', async () => {
      const user = aUserId();
      await store.recordUsage(aUsageRecord({ userId: user, cycle: aCycle(CYCLE, null) }));
      expect((await store.readUsage({ userId: user, cycle: CYCLE })).totalTokens).toBe(15);
    });

    describeReservationContract(() => store, capabilities);
    describeIntegrityContract(() => store, capabilities);
    describeUsageDetailsContract(() => store);

    it('fails with StoreUnavailableError after close, never with zeros', async () => {
      await store.close();
      closed = true;
      const error = await store.readUsage({ userId: aUserId(), cycle: CYCLE }).catch((e: unknown) => e);
      expect(isUsageError(error, 'USAGE.STORE_UNAVAILABLE')).toBe(true);
      const writeError = await store.recordUsage(aUsageRecord()).catch((e: unknown) => e);
      expect(isUsageError(writeError, 'USAGE.STORE_UNAVAILABLE')).toBe(true);
    });
  });
}
