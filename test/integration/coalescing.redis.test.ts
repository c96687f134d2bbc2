import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RedisUsageStore } from '../../src/adapters/redis/redis-usage-store.js';
import { applyBatchScript } from '../../src/adapters/redis/scripts/apply-batch.js';
import { CorruptUsageDataError, StoreUnavailableError } from '../../src/domain/errors.js';
import { aCycle, aLimit, anIdempotencyKey, aReserve, aUsageRecord, aUserId, CYCLE } from '../support/mothers.js';
import { describeRedis, redisUrl, uniquePrefix } from '../support/redis.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { rawRedis, realRedisStore } from '../support/redis-store.js';

describeRedis('coalesced record and reserve calls (real Redis)', () => {
  const prefix = uniquePrefix();
  let store: RedisUsageStore;
  let raw: Redis;

  /** How many script calls (EVALSHA + EVAL) the server has run so far. */
  async function scriptCalls(): Promise<number> {
    const info = await raw.info('commandstats');
    let calls = 0;
    for (const [, count] of info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)) calls += Number(count);
    return calls;
  }

  beforeAll(() => {
    store = realRedisStore({ prefix, connections: 1 });
    raw = rawRedis();
  });

  afterAll(async () => {
    await store.close();
    raw.disconnect();
  });

  it('applies 500 records issued in one turn in a handful of script calls, in order, each with its own counters', async () => {
    const user = aUserId('many');
    await store.readUsage({ userId: user, cycle: CYCLE }); // connected, scripts loaded
    const before = await scriptCalls();
    const outcomes = await Promise.all(
      Array.from({ length: 500 }, (_, i) => store.recordUsage(aUsageRecord({ userId: user, prompt: 1, completion: i % 2 }))),
    );
    const calls = (await scriptCalls()) - before;
    expect(calls).toBeLessThanOrEqual(8); // 500 / 128 per batch = 4 (EVAL on a first NOSCRIPT doubles it)
    expect(outcomes.map((o) => o.counters.promptTokens)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1)); // in order
    expect(outcomes.every((o) => !o.duplicate)).toBe(true);
    expect(await store.readUsage({ userId: user, cycle: CYCLE })).toMatchObject({ promptTokens: 500, completionTokens: 250, totalTokens: 750 });
  });

  it('a corrupt counter fails only its own record, writing nothing for it, beside the others of the batch', async () => {
    const [bad, good] = [aUserId('bad'), aUserId('good')];
    await raw.hset(`${prefix}:${bad}:${CYCLE}`, 'total_tokens', 'garbage');
    const results = await Promise.allSettled([
      store.recordUsage(aUsageRecord({ userId: good, prompt: 1, completion: 0 })),
      store.recordUsage(aUsageRecord({ userId: bad, prompt: 1, completion: 0 })),
      store.recordUsage(aUsageRecord({ userId: good, prompt: 2, completion: 0 })),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(CorruptUsageDataError);
    expect(await raw.hgetall(`${prefix}:${bad}:${CYCLE}`)).toEqual({ total_tokens: 'garbage' });
    expect((await store.readUsage({ userId: good, cycle: CYCLE })).totalTokens).toBe(3);
  });

  it('reads each call of a batch in place: records with and without details and reserves, interleaved, each get their own', async () => {
    const users = [aUserId('d1'), aUserId('d2'), aUserId('d3')];
    const details = { cacheReadTokens: 4, cacheWriteTokens: 0, reasoningTokens: 2 };
    const before = await scriptCalls();
    const [withDetails, plain, reserved, plainAgain] = await Promise.all([
      store.recordUsage({ ...aUsageRecord({ userId: users[0]!, prompt: 10, completion: 5 }), details }),
      store.recordUsage(aUsageRecord({ userId: users[1]!, prompt: 1, completion: 1 })),
      store.reserve(aReserve(users[2]!, 30, 60_000)),
      store.recordUsage(aUsageRecord({ userId: users[1]!, prompt: 2, completion: 0 })),
    ]);
    expect((await scriptCalls()) - before).toBe(1); // one batch
    expect(withDetails.counters).toMatchObject({ promptTokens: 10, completionTokens: 5, totalTokens: 15 });
    expect(plain.counters).toMatchObject({ promptTokens: 1, completionTokens: 1, totalTokens: 2 });
    expect(reserved.granted).toBe(true);
    expect(plainAgain.counters).toMatchObject({ promptTokens: 3, completionTokens: 1, totalTokens: 4 });
    expect(await raw.hgetall(`${prefix}:${users[0]!}:${CYCLE}`)).toEqual({
      prompt_tokens: '10',
      completion_tokens: '5',
      total_tokens: '15',
      cache_read_tokens: '4',
      reasoning_tokens: '2',
    });
    // The records without details wrote no detail field (they did not read the next call's arguments as theirs).
    expect(await raw.hgetall(`${prefix}:${users[1]!}:${CYCLE}`)).toEqual({ prompt_tokens: '3', completion_tokens: '1', total_tokens: '4' });
    expect((await store.readUsage({ userId: users[2]!, cycle: CYCLE })).reservedTokens).toBe(30);
  });

  it('refuses a malformed batch whole, before any of its calls wrote anything', async () => {
    const user = aUserId('malformed');
    const key = `${prefix}:${user}:${CYCLE}`;
    const keys = [key, `${key}:daily`]; // a plain record: no lease, no idempotency keys, no details
    const args = ['1', '2', '0', '3', '0', CYCLE];
    const batch = (shapes: string[][]): Promise<unknown> =>
      raw.eval(applyBatchScript.lua, shapes.length * keys.length, ...shapes.flatMap(() => keys), String(shapes.length), ...shapes.flat());
    // A good record, then a kind no script has: the good one is not applied either.
    await expect(batch([['r:2:6', ...args], ['x:2:6', ...args]])).rejects.toThrow(/TUR_BATCH bad shape x:2:6/);
    // Counts that do not add up to the KEYS and ARGV sent (one argument short).
    await expect(batch([['r:2:6', ...args], ['r:2:7', ...args]])).rejects.toThrow(/TUR_BATCH bad shape: the counts do not add up/);
    expect(await raw.exists(key, `${key}:daily`)).toBe(0);
    // The same good record alone is applied.
    expect(await batch([['r:2:6', ...args]])).toEqual([1, 0, 1, 2, 3]);
  });

  it('gives every reserve of one batch the same instant: one server clock read per batch (a batch is atomic)', async () => {
    const user = aUserId('clock');
    const key = `${prefix}:${user}:${CYCLE}`;
    const keys = [key, `${prefix}:${user}:policy`, `${key}:leases`, `${key}:leases:total`];
    // 400 reserves take Redis several ms, so per-reserve clock reads would see the clock move.
    const calls = Array.from({ length: 400 }, (_, i) => ['s:4:3', `lease${i}:1`, '1', '60000']);
    const reply = (await raw.eval(applyBatchScript.lua, calls.length * 4, ...calls.flatMap(() => keys), String(calls.length), ...calls.flat())) as number[];
    const expiries = new Set(Array.from({ length: calls.length }, (_, i) => reply[i * 6 + 5]));
    expect(expiries.size).toBe(1);
    const scores = await raw.zrange(`${key}:leases`, 0, -1, 'WITHSCORES');
    expect(new Set(scores.filter((_, i) => i % 2 === 1))).toEqual(new Set([String([...expiries][0])]));
  });

  it('keeps idempotency per record inside one batch: the second use of a key is a duplicate', async () => {
    const user = aUserId('idem');
    const key = anIdempotencyKey();
    const outcomes = await Promise.all([
      store.recordUsage(aUsageRecord({ userId: user, prompt: 5, completion: 0, idempotencyKeys: [key] })),
      store.recordUsage(aUsageRecord({ userId: user, prompt: 5, completion: 0, idempotencyKeys: [key] })),
      store.recordUsage(aUsageRecord({ userId: user, prompt: 7, completion: 0 })),
    ]);
    expect(outcomes.map((o) => o.duplicate)).toEqual([false, true, false]);
    expect((await store.readUsage({ userId: user, cycle: CYCLE })).totalTokens).toBe(12);
  });

  it('reserves and commits mixed in one batch never grant past the limit: exactly floor(L / k) of 1,000', async () => {
    const user = aUserId('quota');
    const [limit, k] = [700, 7];
    await store.setLimit(aLimit(user, limit));
    const cycle = aCycle();
    const outcomes = await Promise.all(Array.from({ length: 1_000 }, () => store.reserve(aReserve(user, k, 60_000, cycle))));
    const granted = outcomes.filter((o) => o.granted);
    expect(granted).toHaveLength(limit / k);
    expect(granted.map((o) => o.reservedTokens)).toEqual(Array.from({ length: limit / k }, (_, i) => i * k));
    expect(outcomes.filter((o) => !o.granted).every((o) => o.reservedTokens === limit)).toBe(true);
  });

  it('a batch whose connection is cut rejects every call in it with StoreUnavailableError; none resolves', async () => {
    const url = new URL(redisUrl);
    const proxy = new TcpProxy({ host: url.hostname, port: Number(url.port) });
    await proxy.start();
    const client = new Redis({ host: '127.0.0.1', port: proxy.port, lazyConnect: true, commandTimeout: 2_000, maxRetriesPerRequest: 0 });
    const cut = new RedisUsageStore({ clients: [client], ownsClients: true, prefix, hashTags: false });
    const user = aUserId('cut');
    await cut.readUsage({ userId: user, cycle: CYCLE }); // connected
    const calls = Array.from({ length: 50 }, () => cut.recordUsage(aUsageRecord({ userId: user, prompt: 1, completion: 0 })));
    await proxy.stop(); // before the turn ends: the batch goes out on a dead connection
    const results = await Promise.allSettled(calls);
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof StoreUnavailableError)).toBe(true);
    // One batch is one script call: it ran whole or not at all.
    expect([0, 50]).toContain((await store.readUsage({ userId: user, cycle: CYCLE })).totalTokens);
    await cut.close();
  });
});
