import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryUsageInspector } from '../../src/adapters/memory/in-memory-usage-inspector.js';
import { InMemoryUsageStore } from '../../src/adapters/memory/in-memory-usage-store.js';
import type { RedisUsageStore } from '../../src/adapters/redis/redis-usage-store.js';
import { CorruptUsageDataError } from '../../src/domain/errors.js';
import { userId } from '../../src/domain/user-id.js';
import type { InspectedRecord, UsageInspector } from '../../src/ports/usage-inspector.js';
import type { UsageStore } from '../../src/ports/usage-store.js';
import type { AlertStateStore } from '../../src/ports/alert-state-store.js';
import { aCycle, aLimit, anIdempotencyKey, aReserve, aUsageRecord, aUserId, CYCLE, OTHER_CYCLE } from '../support/mothers.js';
import { describeRedis, uniquePrefix } from '../support/redis.js';
import { rawRedis, realRedisStore } from '../support/redis-store.js';

/** Every cycle record a full scan yields, as `user` → fields. */
async function scanned(inspector: UsageInspector): Promise<Record<string, Readonly<Record<string, string>>>> {
  const found: Record<string, Readonly<Record<string, string>>> = {};
  for await (const page of inspector.scanCycles({ batchSize: 100 })) {
    for (const record of page as InspectedRecord[]) if (record.type === 'hash') found[record.target.userId] = record.fields;
  }
  return found;
}

// The same commands on both stores must leave the same observable state: what a scan (top, export,
// verify) sees and which cycles the alert monitor re-checks.
describeRedis('the in-memory store and the Redis store agree at their seams (real Redis)', () => {
  const prefix = uniquePrefix();
  let redis: RedisUsageStore;
  let raw: Redis;

  beforeAll(() => {
    redis = realRedisStore({ prefix });
    raw = rawRedis();
  });

  afterAll(async () => {
    await redis.close();
    raw.disconnect();
  });

  type Store = UsageStore & AlertStateStore;
  const stores = (): [string, Store, UsageInspector][] => {
    const memory = new InMemoryUsageStore();
    return [
      ['redis', redis, redis.createInspector()],
      ['memory', memory, new InMemoryUsageInspector(memory)],
    ];
  };

  describe.each(['redis', 'memory'])('on the %s store', (name) => {
    it('a user with only a lease, a denied reserve or a reset cycle without a limit has no cycle hash to scan', async () => {
      const [, store, inspector] = stores().find(([n]) => n === name)!;
      const leased = aUserId(`leased-${name}`);
      const denied = aUserId(`denied-${name}`);
      const reset = aUserId(`reset-${name}`);
      const recorded = aUserId(`recorded-${name}`);
      expect((await store.reserve(aReserve(leased, 10))).granted).toBe(true);
      await store.setLimit(aLimit(denied, 5));
      expect((await store.reserve(aReserve(denied, 10))).granted).toBe(false);
      await store.recordUsage(aUsageRecord({ userId: reset }));
      await store.resetUsage({ userId: reset, cycle: CYCLE });
      await store.recordUsage(aUsageRecord({ userId: recorded, prompt: 3, completion: 4 }));
      const mine = new Set<string>([leased, denied, reset, recorded]);
      const users = Object.keys(await scanned(inspector)).filter((user) => mine.has(user));
      expect(users).toEqual([recorded]);
    });

    it('a reset re-arms the thresholds and drops the cycle from the alerted cycles', async () => {
      const [, store] = stores().find(([n]) => n === name)!;
      const user = aUserId(`alerted-${name}`);
      const cycle = aCycle();
      await store.setLimit(aLimit(user, 100));
      await store.recordUsage(aUsageRecord({ userId: user, cycle, prompt: 90, completion: 0 }));
      expect((await store.syncThresholds({ userId: user, cycle, thresholdsPpm: [800_000] })).newlyCrossedPpm).toEqual([800_000]);
      expect(await store.alertedCycles(user)).toEqual([CYCLE]);
      await store.resetUsage({ userId: user, cycle: CYCLE });
      expect(await store.alertedCycles(user)).toEqual([]);
    });
  });

  it('a cycle whose retention has passed is no longer among the alerted cycles (as in memory)', async () => {
    const user = aUserId('alerted-expired');
    const kept = aCycle();
    const expiring = aCycle(OTHER_CYCLE, Date.now() + 1_000);
    await redis.setLimit(aLimit(user, 10));
    for (const cycle of [kept, expiring]) {
      await redis.recordUsage(aUsageRecord({ userId: user, cycle }));
      expect((await redis.syncThresholds({ userId: user, cycle, thresholdsPpm: [500_000] })).newlyCrossedPpm).toEqual([500_000]);
    }
    expect((await redis.alertedCycles(user)).sort()).toEqual([CYCLE, OTHER_CYCLE]);
    // EXPIREAT takes whole seconds (rounded up): wait until the expiring cycle's hash is gone.
    while ((await raw.exists(`${prefix}:${user}:${OTHER_CYCLE}`)) === 1) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await redis.alertedCycles(user)).toEqual([CYCLE]);
  });

  it.each([false, true])('a scan (hashTags %s) finds the cycle hash and none of the keys beside it', async (hashTags) => {
    const tagged = realRedisStore({ prefix: uniquePrefix(), hashTags });
    try {
      // A user id that looks like a cycle key's head: its other keys still end in their own suffixes.
      const user = userId(`${aUserId('u')}:2024-01-01`);
      const cycle = aCycle();
      await tagged.setLimit(aLimit(user, 100));
      await tagged.setLimit(aLimit(user, 100, cycle));
      const lease = aReserve(user, 5, 60_000, cycle);
      expect((await tagged.reserve(lease)).granted).toBe(true);
      await tagged.recordUsage(aUsageRecord({ userId: user, cycle, prompt: 90, completion: 0, idempotencyKeys: [anIdempotencyKey()] }));
      await tagged.syncThresholds({ userId: user, cycle, thresholdsPpm: [800_000] });
      const inspector = tagged.createInspector();
      const records: InspectedRecord[] = [];
      for await (const page of inspector.scanCycles({ batchSize: 1 })) records.push(...page);
      for await (const page of inspector.scanCycles({ cycle: CYCLE, batchSize: 1 })) records.push(...page);
      expect(records.map((record) => [record.type, record.target])).toEqual([
        ['hash', { kind: 'cycle', userId: user, cycle: CYCLE }],
        ['hash', { kind: 'cycle', userId: user, cycle: CYCLE }],
      ]);
    } finally {
      await tagged.close();
    }
  });

  it('a corrupt daily rollup is reported on the rollup key, not on the cycle hash', async () => {
    const user = aUserId('corrupt-daily');
    const key = `${prefix}:${user}:${CYCLE}`;
    await redis.recordUsage(aUsageRecord({ userId: user }));
    const [day] = Object.keys(await raw.hgetall(`${key}:daily`));
    await raw.hset(`${key}:daily`, day as string, 'oops');
    const refused = redis.recordUsage(aUsageRecord({ userId: user }));
    await expect(refused).rejects.toBeInstanceOf(CorruptUsageDataError);
    await expect(refused).rejects.toMatchObject({ key: `${key}:daily`, field: 'daily' });
    await expect(redis.recordUsageBatch([aUsageRecord({ userId: user })])).resolves.toMatchObject([
      { ok: false, error: { key: `${key}:daily`, field: 'daily' } },
    ]);
  });
});
