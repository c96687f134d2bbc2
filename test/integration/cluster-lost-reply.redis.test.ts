import calculateSlot from 'cluster-key-slot';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RetryingUsageStore } from '../../src/adapters/decorators/retrying-usage-store.js';
import { RedisUsageStore } from '../../src/adapters/redis/redis-usage-store.js';
import { StoreUnavailableError } from '../../src/domain/errors.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { aUsageRecord, aUserId, CYCLE } from '../support/mothers.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { describeRedisCluster, redisClusterNodes, uniquePrefix } from '../support/redis.js';
import { clusterClient } from '../support/redis-cluster-store.js';

// A proxy in front of every node of the shared cluster; the client reaches the nodes only through
// them (natMap rewrites the addresses CLUSTER SLOTS announces), so a test can drop one reply.
describeRedisCluster('a write whose reply is lost, on a Redis Cluster', () => {
  const proxies = new Map<number, FaultProxy>();
  const natMap: Record<string, { host: string; port: number }> = {};
  const clients: Cluster[] = [];

  beforeAll(async () => {
    for (const node of redisClusterNodes) {
      const proxy = new FaultProxy(node);
      await proxy.start();
      proxies.set(node.port, proxy);
      natMap[`${node.host}:${node.port}`] = { host: '127.0.0.1', port: proxy.port };
    }
  });

  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await Promise.all([...proxies.values()].map((proxy) => proxy.stop()));
  });

  /** A Cluster with ioredis' defaults (as a user builds it from the README), through the proxies. */
  const defaultCluster = async (): Promise<Cluster> => {
    const seed = [...proxies.values()][0] as FaultProxy;
    const cluster = new Cluster([{ host: '127.0.0.1', port: seed.port }], { natMap, lazyConnect: true });
    clients.push(cluster);
    await cluster.connect();
    return cluster;
  };

  /** The proxy in front of the master that owns `key`. */
  const ownerProxy = (cluster: Cluster, key: string): FaultProxy => {
    const owner = cluster.slots[calculateSlot(key)]?.[0] ?? '';
    const port = Number(owner.split(':')[1]);
    const proxy = proxies.get(port) ?? [...proxies.values()].find((p) => p.port === port);
    if (proxy === undefined) throw new Error(`no proxy for ${owner}`);
    return proxy;
  };

  it('for contrast: a bare ioredis Cluster with its defaults re-sends the increment, which then counts twice', async () => {
    const cluster = await defaultCluster();
    const key = `${uniquePrefix()}:{contrast}:n`;
    await cluster.hincrby(key, 'n', 5); // opens the connection to the key's owner
    ownerProxy(cluster, key).dropNextReply();
    await expect(cluster.hincrby(key, 'n', 10)).resolves.toBe(25);
    expect(await cluster.hget(key, 'n')).toBe('25');
  });

  it('the store on the same default Cluster never re-sends: the call fails as unavailable and its 10 tokens count once', async () => {
    const cluster = await defaultCluster();
    const prefix = uniquePrefix();
    const store = new RedisUsageStore({ clients: [cluster], prefix, hashTags: true });
    const user = aUserId('lost');
    // Opens the connection to the owner and loads the script there (a first EVALSHA answers NOSCRIPT).
    await store.recordUsage(aUsageRecord({ userId: user, prompt: 5, completion: 0 }));
    ownerProxy(cluster, `${prefix}:{${user}}:${CYCLE}`).dropNextReply();
    const failure = await store.recordUsage(aUsageRecord({ userId: user, prompt: 10, completion: 0 })).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StoreUnavailableError);
    expect((await store.readUsage({ userId: user, cycle: CYCLE })).totalTokens).toBe(15);
  });

  it('with the retrying decorator the caller sees one write that is no duplicate, stored once', async () => {
    const cluster = clusterClient(redisClusterNodes);
    clients.push(cluster);
    const natCluster = await defaultCluster();
    const prefix = uniquePrefix();
    const store = new RetryingUsageStore(new RedisUsageStore({ clients: [natCluster], prefix, hashTags: true }), {
      logger: new RecordingLogger(),
      maxAttempts: 5,
      baseDelayMs: 20,
    });
    const user = aUserId('retried');
    await store.recordUsage(aUsageRecord({ userId: user, prompt: 5, completion: 0 }));
    ownerProxy(natCluster, `${prefix}:{${user}}:${CYCLE}`).dropNextReply();
    const outcome = await store.recordUsage(aUsageRecord({ userId: user, prompt: 10, completion: 0 }));
    expect(outcome.duplicate).toBe(false);
    expect(outcome.counters.totalTokens).toBe(15);
    expect(await cluster.hget(`${prefix}:{${user}}:${CYCLE}`, 'total_tokens')).toBe('15');
  });
});
