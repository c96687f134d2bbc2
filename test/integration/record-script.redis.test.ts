import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisUsageStore } from '../../src/adapters/redis/redis-usage-store.js';
import { cycleStart } from '../../src/domain/billing-cycle.js';
import { aCycle, aLease, anIdempotencyKey, aReserve, aUsageRecord, aUserId, CYCLE } from '../support/mothers.js';
import { describeRedis, uniquePrefix } from '../support/redis.js';
import { rawRedis, realRedisStore } from '../support/redis-store.js';

/** Every key of the prefix with its DUMP and whether it has a TTL. */
async function snapshot(raw: Redis, prefix: string): Promise<Record<string, string>> {
  const keys = (await raw.keys(`${prefix}:*`)).sort();
  const out: Record<string, string> = {};
  for (const key of keys) out[key] = `${(await raw.dumpBuffer(key))?.toString('hex')} ttl:${(await raw.pttl(key)) > 0}`;
  return out;
}

// What the record script (turRecordUsageV10) does beyond the counters the contract suite checks: the
// order of its writes and when it sets the retention.
describeRedis('the record and reserve scripts on real Redis', () => {
  let raw: Redis;
  let store: RedisUsageStore;
  const prefix = uniquePrefix();

  beforeAll(() => {
    raw = rawRedis();
    store = realRedisStore({ prefix });
  });

  afterAll(async () => {
    await store.close();
    raw.disconnect();
  });

  it('refuses a record whose :leases key has the wrong type with nothing written, so a retry cannot count it twice', async () => {
    const user = aUserId('wrong-leases');
    await store.recordUsage(aUsageRecord({ userId: user, prompt: 7, completion: 3 }));
    await raw.set(`${prefix}:${user}:${CYCLE}:leases`, 'not a zset');
    const before = await snapshot(raw, prefix);
    const commit = aUsageRecord({ userId: user, prompt: 100, completion: 50, releaseLease: aLease(200), idempotencyKeys: [anIdempotencyKey()] });
    await expect(store.recordUsage(commit)).rejects.toThrow();
    // Counters, daily rollup, the running total and the idempotency key are all as they were.
    expect(await snapshot(raw, prefix)).toEqual(before);
    await raw.del(`${prefix}:${user}:${CYCLE}:leases`);
    const retried = await store.recordUsage(commit);
    expect(retried).toMatchObject({ duplicate: false, counters: { promptTokens: 107, completionTokens: 53, totalTokens: 160 } });
  });

  it('refuses a record whose :leases:total key has the wrong type with nothing written', async () => {
    const user = aUserId('wrong-total');
    await store.recordUsage(aUsageRecord({ userId: user }));
    await raw.hset(`${prefix}:${user}:${CYCLE}:leases:total`, 'x', '1');
    const before = await snapshot(raw, prefix);
    await expect(store.recordUsage(aUsageRecord({ userId: user, releaseLease: aLease(10) }))).rejects.toThrow();
    expect(await snapshot(raw, prefix)).toEqual(before);
  });

  it('sets the retention when the cycle hash is new or the retain-until instant changes, not on every record', async () => {
    const user = aUserId('ttl');
    const hash = `${prefix}:${user}:${CYCLE}`;
    const daily = `${hash}:daily`;
    const until = Math.floor(Date.now() / 1000) + 3_600;
    const ttlOf = async (key: string): Promise<number> => raw.expiretime(key);
    await store.recordUsage(aUsageRecord({ userId: user, cycle: aCycle(CYCLE, until * 1000), rollupDay: cycleStart('2024-01-05') }));
    expect(await ttlOf(hash)).toBe(until);
    expect(await ttlOf(daily)).toBe(until);
    expect(await raw.hget(daily, 'retain_until')).toBe(String(until));
    // The same instant again (a current cycle's records) leaves the TTL alone: removed from outside here, so it shows.
    await raw.persist(hash);
    await raw.persist(daily);
    await store.recordUsage(aUsageRecord({ userId: user, cycle: aCycle(CYCLE, until * 1000), rollupDay: cycleStart('2024-01-06') }));
    expect(await raw.pttl(hash)).toBe(-1);
    expect(await raw.pttl(daily)).toBe(-1);
    // A later instant (a late write into an ended cycle: retention counts from now) sets it on both keys.
    await store.recordUsage(aUsageRecord({ userId: user, cycle: aCycle(CYCLE, (until + 60) * 1000), rollupDay: cycleStart('2024-01-06') }));
    expect(await ttlOf(hash)).toBe(until + 60);
    expect(await ttlOf(daily)).toBe(until + 60);
    // A cycle hash recreated by this record (deleted from outside, or reset) gets it with the same instant.
    await raw.del(hash);
    await raw.persist(daily);
    await store.recordUsage(aUsageRecord({ userId: user, cycle: aCycle(CYCLE, (until + 60) * 1000), rollupDay: cycleStart('2024-01-06') }));
    expect(await ttlOf(hash)).toBe(until + 60);
    expect(await ttlOf(daily)).toBe(until + 60);
    expect(await raw.hget(hash, 'total_tokens')).toBe('15');
    // Retention off ('0') leaves the TTL as it is.
    await store.recordUsage(aUsageRecord({ userId: user, cycle: aCycle(CYCLE, null), rollupDay: cycleStart('2024-01-06') }));
    expect(await ttlOf(hash)).toBe(until + 60);
  });

  it('a record that adds 0 to a counter leaves that field unwritten, as HINCRBY-per-field did', async () => {
    const user = aUserId('zero');
    await store.recordUsage(aUsageRecord({ userId: user, prompt: 5, completion: 0 }));
    expect(await raw.hgetall(`${prefix}:${user}:${CYCLE}`)).toEqual({ prompt_tokens: '5', total_tokens: '5' });
    await store.recordUsage(aUsageRecord({ userId: user, prompt: 0, completion: 2, total: 9 }));
    expect(await raw.hgetall(`${prefix}:${user}:${CYCLE}`)).toEqual({
      prompt_tokens: '5',
      completion_tokens: '2',
      other_tokens: '7',
      total_tokens: '14',
    });
  });

  describe('reserve', () => {
    it('extends the leases and their total together to twice the lease duration, only when a lease would outlive them', async () => {
      const user = aUserId('lease-ttl');
      const leases = `${prefix}:${user}:${CYCLE}:leases`;
      expect((await store.reserve(aReserve(user, 5, 10_000))).granted).toBe(true);
      const first = await raw.pttl(leases);
      expect(first).toBeGreaterThan(10_000);
      expect(first).toBeLessThanOrEqual(20_000);
      expect(Math.abs((await raw.pttl(`${leases}:total`)) - first)).toBeLessThan(1_000); // read a moment later
      // A second lease of the same duration ends before the keys do: their TTL is left alone.
      await raw.pexpire(leases, 15_000);
      await raw.pexpire(`${leases}:total`, 15_000);
      expect((await store.reserve(aReserve(user, 5, 10_000))).granted).toBe(true);
      expect(await raw.pttl(leases)).toBeLessThanOrEqual(15_000);
      // A longer lease would outlive them: both are extended, to the same TTL.
      expect((await store.reserve(aReserve(user, 5, 60_000))).granted).toBe(true);
      const extended = await raw.pttl(leases);
      expect(extended).toBeGreaterThan(60_000);
      expect(Math.abs((await raw.pttl(`${leases}:total`)) - extended)).toBeLessThan(1_000);
      expect(await raw.get(`${leases}:total`)).toBe('15');
    });
  });
});
