import { afterEach, expect, it } from 'vitest';
import { RedisUsageStore } from '../../src/adapters/redis/redis-usage-store.js';
import { applyBatchScript } from '../../src/adapters/redis/scripts/apply-batch.js';
import { isTransientStoreError } from '../../src/adapters/decorators/retrying-usage-store.js';
import { StoreUnavailableError } from '../../src/domain/errors.js';
import type { UserId } from '../../src/domain/user-id.js';
import { aUsageRecord, aUserId, CYCLE } from '../support/mothers.js';
import { describeRedisCluster, uniquePrefix } from '../support/redis.js';
import { clusterClient } from '../support/redis-cluster-store.js';

// WAIT-based durability (TOKEN_STATS_MIN_REPLICAS_ACK) on the shared cluster: one replica per master.
describeRedisCluster('writes confirmed by replicas (WAIT) on a Redis Cluster', () => {
  const stores: RedisUsageStore[] = [];
  const store = (replicas: number): RedisUsageStore => {
    const created = new RedisUsageStore({
      clients: [clusterClient()],
      ownsClients: true,
      prefix: uniquePrefix(),
      hashTags: true,
      replicaAck: { replicas, timeoutMs: 200 },
    });
    stores.push(created);
    return created;
  };

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });

  it('with 1 replica required, records, batches across masters, reserves and limits are acknowledged once the replica has them', async () => {
    const s = store(1);
    const users = Array.from({ length: 30 }, () => aUserId('durable'));
    const [first, second] = users as [UserId, UserId];
    await expect(s.recordUsage(aUsageRecord({ userId: first, prompt: 3, completion: 2 }))).resolves.toMatchObject({ duplicate: false });
    const results = await s.recordUsageBatch(users.map((userId) => aUsageRecord({ userId, prompt: 1, completion: 1 })));
    expect(results.every((result) => result.ok)).toBe(true);
    await s.setLimit({ userId: second, limit: 100 as never, cycle: null });
    await expect(
      s.reserve({ userId: second, cycle: aUsageRecord().cycle, lease: { id: 'l1', tokens: 10 as never }, leaseMs: 60_000 }),
    ).resolves.toMatchObject({ granted: true });
    expect((await s.readUsage({ userId: first, cycle: CYCLE })).totalTokens).toBe(7);
  });

  it('with more replicas required than exist, a write fails as transient unavailability after it was applied on the master', async () => {
    const s = store(2);
    const user = aUserId('undurable');
    const failure = await s.recordUsage(aUsageRecord({ userId: user, prompt: 3, completion: 2 })).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StoreUnavailableError);
    expect((failure as Error).message).toMatch(/WAIT: 1 of 2 replicas confirmed the write within 200 ms/);
    expect(isTransientStoreError(failure)).toBe(true);
    // Applied on the master (so a retry must carry the same idempotency key), and reads do not WAIT.
    expect((await s.readUsage({ userId: user, cycle: CYCLE })).totalTokens).toBe(5);
  });
});

// Coalescing (the default) and WAIT together: calls of one turn go out as one batch per hash tag, and
// every caller still waits for its own replica acknowledgement.
describeRedisCluster('coalesced writes confirmed by replicas on a Redis Cluster', () => {
  it('concurrent records and reserves of many users, coalesced per slot, are each acknowledged and counted once', async () => {
    const client = clusterClient();
    const s = new RedisUsageStore({ clients: [client], ownsClients: true, prefix: uniquePrefix(), hashTags: true, replicaAck: { replicas: 1, timeoutMs: 1_000 } });
    const methods = client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const batch = methods[applyBatchScript.name]!;
    let batches = 0;
    methods[applyBatchScript.name] = function (this: unknown, ...args: unknown[]) {
      batches += 1;
      return batch.apply(this, args);
    };
    try {
      const users = Array.from({ length: 8 }, () => aUserId('coalesced'));
      const cycle = aUsageRecord().cycle;
      const outcomes = await Promise.all(
        users.flatMap((userId, u) => [
          ...Array.from({ length: 5 }, () => s.recordUsage(aUsageRecord({ userId, prompt: 2, completion: 1 }))),
          s.reserve({ userId, cycle, lease: { id: `l${u}`, tokens: 4 as never }, leaseMs: 60_000 }),
        ]),
      );
      expect(outcomes).toHaveLength(48);
      expect(batches).toBeGreaterThan(0); // the batch script carried them, not 48 plain calls
      for (const userId of users) {
        expect(await s.readUsage({ userId, cycle: CYCLE })).toMatchObject({ totalTokens: 15, reservedTokens: 4 });
      }
    } finally {
      await s.close();
    }
  });

  it('with more replicas required than exist, every coalesced call fails as unavailable and each was applied once', async () => {
    const s = new RedisUsageStore({ clients: [clusterClient()], ownsClients: true, prefix: uniquePrefix(), hashTags: true, replicaAck: { replicas: 2, timeoutMs: 100 } });
    try {
      const user = aUserId('coalesced-undurable');
      const settled = await Promise.allSettled(Array.from({ length: 6 }, () => s.recordUsage(aUsageRecord({ userId: user, prompt: 1, completion: 1 }))));
      expect(settled.every((outcome) => outcome.status === 'rejected' && outcome.reason instanceof StoreUnavailableError)).toBe(true);
      expect((await s.readUsage({ userId: user, cycle: CYCLE })).totalTokens).toBe(12);
    } finally {
      await s.close();
    }
  });
});
