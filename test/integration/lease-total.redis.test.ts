import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RedisUsageStore } from '../../src/adapters/redis/redis-usage-store.js';
import type { LeaseRef } from '../../src/ports/usage-store.js';
import { aCycle, aLimit, aReserve, aUsageRecord, aUserId, CYCLE } from '../support/mothers.js';
import { describeRedis, uniquePrefix } from '../support/redis.js';
import { rawRedis, realRedisStore } from '../support/redis-store.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describeRedis('the running reserved total beside the leases (real Redis)', () => {
  const prefix = uniquePrefix();
  let store: RedisUsageStore;
  let raw: Redis;
  const leasesKey = (user: string): string => `${prefix}:${user}:${CYCLE}:leases`;

  /** Sum of the tokens of every member, of the live ones, and the stored total, read in one MULTI. */
  async function inspect(user: string): Promise<{ all: number; live: number; total: string | null; totalTtl: number; leasesTtl: number }> {
    const [[, members], [, total], [, totalTtl], [, leasesTtl], [, time]] = (await raw
      .multi()
      .zrange(leasesKey(user), 0, -1, 'WITHSCORES')
      .get(`${leasesKey(user)}:total`)
      .pttl(`${leasesKey(user)}:total`)
      .pttl(leasesKey(user))
      .time()
      .exec()) as [[null, string[]], [null, string | null], [null, number], [null, number], [null, [string, string]]];
    const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
    let all = 0;
    let live = 0;
    for (let i = 0; i < members.length; i += 2) {
      const tokens = Number(/:(\d+)$/.exec(members[i]!)![1]);
      all += tokens;
      if (Number(members[i + 1]) > now) live += tokens;
    }
    return { all, live, total, totalTtl, leasesTtl };
  }

  beforeAll(() => {
    store = realRedisStore({ prefix, connections: 8 });
    raw = rawRedis();
  });

  afterAll(async () => {
    await store.close();
    raw.disconnect();
  });

  it('stays exact under many concurrent reserves, commits, releases and expiries, and never overspends', async () => {
    const user = aUserId('mixed');
    const [limit, k] = [5_000, 7];
    await store.setLimit(aLimit(user, limit));
    const cycle = aCycle();
    let committed = 0;
    const worker = async (i: number): Promise<void> => {
      // Every third lease expires almost at once; the rest live a minute.
      const request = aReserve(user, k, i % 3 === 0 ? 1 : 60_000, cycle);
      const outcome = await store.reserve(request);
      if (!outcome.granted) return;
      expect(outcome.currentUsage + outcome.reservedTokens + k).toBeLessThanOrEqual(limit);
      if (i % 3 === 0) return; // left to expire
      if (i % 3 === 1) {
        const used = i % 2 === 0 ? k : 3;
        await store.recordUsage(aUsageRecord({ userId: user, cycle, prompt: used, completion: 0, releaseLease: request.lease }));
        committed += used;
      } else {
        await store.releaseLease({ userId: user, cycle: CYCLE, lease: request.lease });
      }
    };
    for (let round = 0; round < 4; round += 1) {
      await Promise.all(Array.from({ length: 600 }, (_, i) => worker(round * 600 + i)));
      const state = await inspect(user);
      expect(Number(state.total ?? '0')).toBe(state.all);
      const snapshot = await store.readUsage({ userId: user, cycle: CYCLE });
      expect(snapshot.reservedTokens).toBe(state.live);
      expect(snapshot.totalTokens).toBe(committed);
      expect(snapshot.totalTokens + snapshot.reservedTokens).toBeLessThanOrEqual(limit);
      if (state.total !== null) expect(state.totalTtl).toBeGreaterThan(0);
      await sleep(5); // let the 1 ms leases expire before the next round
    }
  });

  it('grants exactly floor(L / k) from 2,000 concurrent reserves while others release and re-reserve', async () => {
    const user = aUserId('hot');
    const [limit, k] = [700, 7];
    await store.setLimit(aLimit(user, limit));
    const held: LeaseRef[] = [];
    const results = await Promise.all(
      Array.from({ length: 2_000 }, async () => {
        const request = aReserve(user, k);
        const outcome = await store.reserve(request);
        if (outcome.granted) held.push(request.lease);
        return outcome.granted;
      }),
    );
    expect(results.filter(Boolean)).toHaveLength(limit / k);
    expect((await inspect(user)).total).toBe(String(limit));
    // Free half, then race 1,000 reserves for exactly the freed room.
    await Promise.all(held.slice(0, 50).map((lease) => store.releaseLease({ userId: user, cycle: CYCLE, lease })));
    const again = await Promise.all(Array.from({ length: 1_000 }, () => store.reserve(aReserve(user, k))));
    expect(again.filter((o) => o.granted)).toHaveLength(50);
    const state = await inspect(user);
    expect(state.total).toBe(String(limit));
    expect(state.all).toBe(limit);
  });

  /** `count` leases of `tokens` that expired a second ago, with their total, as reserves would have left them. */
  async function seedExpired(user: string, count: number, tokens: number): Promise<void> {
    const past = Date.now() - 1_000;
    const members = Array.from({ length: count }, (_, i) => [past - i, `old-${i}:${tokens}`]).flat();
    await raw.multi().zadd(leasesKey(user), ...members).pexpire(leasesKey(user), 60_000)
      .set(`${leasesKey(user)}:total`, String(count * tokens), 'PX', 60_000).exec();
  }

  it('prunes a backlog of expired leases in bounded steps, and an expired lease never causes a denial', async () => {
    const user = aUserId('backlog');
    await seedExpired(user, 350, 10);
    // Under a limit that only fits once the 3,500 expired tokens are ignored.
    await store.setLimit(aLimit(user, 100));
    const first = await store.reserve(aReserve(user, 100));
    expect(first).toMatchObject({ granted: true, reservedTokens: 0 });
    expect(await inspect(user)).toMatchObject({ all: 100, live: 100, total: '100' });

    const other = aUserId('bounded');
    await seedExpired(other, 250, 1);
    const granted = await store.reserve(aReserve(other, 1)); // no limit: one bounded step of 100
    expect(granted.granted).toBe(true);
    let state = await inspect(other);
    expect(Number(state.total)).toBe(state.all);
    expect(state.all).toBe(151); // 150 expired still waiting + the new lease
    expect((await store.readUsage({ userId: other, cycle: CYCLE })).reservedTokens).toBe(1);
    await store.reserve(aReserve(other, 1));
    await store.reserve(aReserve(other, 1));
    state = await inspect(other);
    expect(state).toMatchObject({ all: 3, live: 3, total: '3' });
  });

  it('rebuilds a missing or unreadable total from the leases (e.g. leases written before the total existed)', async () => {
    const user = aUserId('upgrade');
    await store.setLimit(aLimit(user, 100));
    await store.reserve(aReserve(user, 30));
    await store.reserve(aReserve(user, 20));
    await raw.del(`${leasesKey(user)}:total`);
    expect((await store.readUsage({ userId: user, cycle: CYCLE })).reservedTokens).toBe(50);
    expect(await store.reserve(aReserve(user, 51))).toMatchObject({ granted: false, reservedTokens: 50 });
    expect(await inspect(user)).toMatchObject({ total: '50' });
    expect((await inspect(user)).totalTtl).toBeGreaterThan(0);

    await raw.set(`${leasesKey(user)}:total`, 'garbage', 'PX', 60_000);
    expect((await store.readUsage({ userId: user, cycle: CYCLE })).reservedTokens).toBe(50);
    const lease = aReserve(user, 50);
    expect(await store.reserve(lease)).toMatchObject({ granted: true, reservedTokens: 50 });
    expect(await store.releaseLease({ userId: user, cycle: CYCLE, lease: lease.lease })).toBe(true);
    expect(await inspect(user)).toMatchObject({ total: '50', all: 50 });
  });

  it('a re-sent reserve of the same lease counts it once; the last lease out deletes the total', async () => {
    const user = aUserId('resend');
    const request = aReserve(user, 40);
    await store.reserve(request);
    await store.reserve(request);
    expect(await inspect(user)).toMatchObject({ total: '40', all: 40 });
    await store.recordUsage(aUsageRecord({ userId: user, prompt: 40, completion: 0, releaseLease: request.lease }));
    expect(await inspect(user)).toMatchObject({ total: null, all: 0 });
    // A duplicate commit frees its lease too, and keeps the total.
    const second = aReserve(user, 5);
    const third = aReserve(user, 6);
    await store.reserve(second);
    await store.reserve(third);
    const record = aUsageRecord({ userId: user, prompt: 5, completion: 0, releaseLease: null, idempotencyKeys: [] });
    await store.recordUsage({ ...record, releaseLease: second.lease });
    expect(await inspect(user)).toMatchObject({ total: '6', all: 6 });
  });
});
