import calculateSlot from 'cluster-key-slot';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { systemClock } from '../../src/adapters/system-clock.js';
import { AlertMonitor } from '../../src/domain/alert-monitor.js';
import { CycleCalendar } from '../../src/domain/billing-cycle.js';
import { UsageAccounting } from '../../src/domain/usage-accounting.js';
import { createTokenUsageRepository } from '../../src/index.js';
import type { TokenUsageRepository } from '../../src/index.js';
import type { AlertSink, UsageAlert } from '../../src/ports/alert-sink.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { describeRedisCluster, redisClusterNodes, uniquePrefix } from '../support/redis.js';
import { clusterClient, realClusterStore } from '../support/redis-cluster-store.js';

// The library's paths on the shared 3-master + 3-replica cluster, configured from the environment as
// an operator would (REDIS_CLUSTER_NODES): users spread over every master.
describeRedisCluster('the repository on a 3-master Redis Cluster', () => {
  const prefix = uniquePrefix();
  const repos: TokenUsageRepository[] = [];
  let raw: Cluster;
  const cycle = `${new Date().toISOString().slice(0, 8)}01`;

  const repository = (env: Record<string, string> = {}): TokenUsageRepository => {
    const repo = createTokenUsageRepository({
      env: {
        REDIS_CLUSTER_NODES: redisClusterNodes.map(({ host, port }) => `${host}:${port}`).join(','),
        TOKEN_STATS_HASH_TAGS: 'true',
        TOKEN_STATS_KEY_PREFIX: prefix,
        // The machine is shared with the other suites: generous timeouts, and a failure throws
        // (rather than denying a reservation) so it cannot pass for a limit decision.
        REDIS_COMMAND_TIMEOUT_MS: '20000',
        TOKEN_STATS_FAILURE_POLICY: 'throw',
        ...env,
      },
      logger: new RecordingLogger(),
    });
    repos.push(repo);
    return repo;
  };

  beforeAll(() => {
    raw = clusterClient();
  });

  afterAll(async () => {
    await Promise.all(repos.map((repo) => repo.close()));
    raw.disconnect();
  });

  it('the buffered recorder writes 500 users across every master: close() resolves and every total is exact', async () => {
    const repo = repository({ TOKEN_STATS_BATCH_SIZE: '100' });
    const users = Array.from({ length: 500 }, (_, i) => `buffered-${i}`);
    for (let round = 0; round < 3; round += 1) {
      await Promise.all(users.map((userId) => repo.recordBuffered({ userId, promptTokens: 4, completionTokens: 3 })));
    }
    await repo.close({ timeoutMs: 30_000 });
    const reader = repository();
    const totals = await Promise.all(users.map((userId) => reader.getUsageStats(userId)));
    expect(totals.filter((stats) => stats.totalTokens !== 21)).toEqual([]);
    const owners = new Set(await Promise.all(users.map(async (userId) => ownerOf(raw, `${prefix}:{${userId}}:${cycle}`))));
    expect(owners.size).toBe(3);
  }, 90_000);

  it('zero overspend: 2,000 concurrent reserves from 8 clients grant exactly floor(L / k)', async () => {
    const [limit, k] = [10_000, 7];
    const clients = Array.from({ length: 8 }, () => repository());
    await clients[0]?.setUsageLimit('hot', limit);
    const results = await Promise.all(
      Array.from({ length: 2_000 }, (_, i) => (clients[i % clients.length] as TokenUsageRepository).reserve('hot', k)),
    );
    const grants = results.filter((result) => result.granted).length;
    expect(grants).toBe(Math.floor(limit / k));
    expect(await clients[0]?.canConsume('hot', 0)).toMatchObject({ reserved: grants * k, remaining: limit % k });
  }, 90_000);

  it('50 concurrent recorders on 5 separate Cluster clients crossing 80 % at once fire one alert', async () => {
    const alerts: UsageAlert[] = [];
    const sink: AlertSink = { deliver: async (alert) => void alerts.push(alert) };
    const calendar = new CycleCalendar(systemClock, { policy: 'monthly', timeZone: 'UTC', retentionCycles: 3 });
    const alertPrefix = uniquePrefix();
    const procs = Array.from({ length: 5 }, () => {
      const store = realClusterStore({ prefix: alertPrefix });
      return {
        store,
        accounting: new UsageAccounting(store, calendar, { dedupeWindowMs: 60_000 }),
        monitor: new AlertMonitor(store, calendar, { sinks: [sink] }, systemClock, new RecordingLogger()),
      };
    });
    try {
      const [first] = procs;
      await first?.store.setLimit({ userId: 'race' as never, limit: 1_000 as never, cycle: null });
      await first?.accounting.record({ userId: 'race', promptTokens: 790 });
      const fired = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const proc = procs[i % procs.length] as (typeof procs)[number];
          await proc.accounting.record({ userId: 'race', promptTokens: 1 });
          return proc.monitor.observe('race');
        }),
      );
      await Promise.all(procs.map((proc) => proc.monitor.idle()));
      expect(fired.flat().map((alert) => alert.level)).toEqual(['info']);
      expect(alerts).toHaveLength(1);
      expect(await raw.hgetall(`${alertPrefix}:{race}:${calendar.currentStart()}:alerts`)).toEqual({ '800000': '1' });
    } finally {
      await Promise.all(procs.map((proc) => proc.store.close()));
    }
  }, 90_000);

  it('verifyConsistency scans every master (3,000 hashes, with progress) and repairs each key on its owner', async () => {
    const verifyPrefix = uniquePrefix();
    const repo = repository({ TOKEN_STATS_KEY_PREFIX: verifyPrefix });
    const users = Array.from({ length: 3_000 }, (_, i) => `v-${i}`);
    const deflated = new Set(users.filter((_, i) => i % 100 === 0)); // 30 hashes whose total is too low
    for (let from = 0; from < users.length; from += 500) {
      await Promise.all(
        users.slice(from, from + 500).map((userId) =>
          raw.hset(`${verifyPrefix}:{${userId}}:${cycle}`, {
            prompt_tokens: '10',
            completion_tokens: '5',
            total_tokens: deflated.has(userId) ? '1' : '15',
          }),
        ),
      );
    }
    const scanned: number[] = [];
    const dry = await repo.verifyConsistency({ batchSize: 250, onProgress: (progress) => scanned.push(progress.scanned) });
    expect(dry.scanned).toBe(3_000);
    expect(scanned.at(-1)).toBe(3_000);
    expect(scanned.length).toBeGreaterThanOrEqual(12); // pages of at most 250
    expect(new Set(dry.findings.map((finding) => finding.userId))).toEqual(deflated);
    const repaired = await repo.verifyConsistency({ batchSize: 250, repair: true });
    expect(repaired.repaired).toHaveLength(30);
    for (const userId of deflated) expect(await raw.hget(`${verifyPrefix}:{${userId}}:${cycle}`, 'total_tokens')).toBe('15');
    expect((await repo.verifyConsistency({ batchSize: 250 })).findings).toEqual([]);
  }, 90_000);

  it('a Cluster store passed by the host gets its inspector too: verifyConsistency and sweepAlerts work', async () => {
    const hostPrefix = uniquePrefix();
    const repo = createTokenUsageRepository({
      config: { hashTags: true, keyPrefix: hostPrefix, alerts: { enabled: true } },
      store: realClusterStore({ prefix: hostPrefix }),
      logger: new RecordingLogger(),
    });
    repos.push(repo);
    await Promise.all(Array.from({ length: 30 }, (_, i) => repo.incrementDetailedUsage(`host-${i}`, 1, 1)));
    await raw.hset(`${hostPrefix}:{host-0}:${cycle}`, 'total_tokens', '1');
    const report = await repo.verifyConsistency({ batchSize: 7 });
    expect(report.scanned).toBe(30);
    expect(report.findings.map((finding) => finding.userId)).toEqual(['host-0']);
    expect((await repo.sweepAlerts()).scanned).toBe(30);
  }, 90_000);

  it('sweepAlerts finds crossings written by someone else on every master, and fires each once', async () => {
    const sweepPrefix = uniquePrefix();
    const repo = repository({ TOKEN_STATS_KEY_PREFIX: sweepPrefix, TOKEN_STATS_ALERTS: 'true' });
    const hot = Array.from({ length: 30 }, (_, i) => `hot-${i}`);
    await Promise.all(hot.map((userId) => raw.hset(`${sweepPrefix}:{${userId}}:${cycle}`, { total_tokens: '850', usage_limit: '1000' })));
    await Promise.all(
      Array.from({ length: 60 }, (_, i) => raw.hset(`${sweepPrefix}:{cold-${i}}:${cycle}`, { total_tokens: '10', usage_limit: '1000' })),
    );
    const owners = new Set(await Promise.all(hot.map((userId) => ownerOf(raw, `${sweepPrefix}:{${userId}}:${cycle}`))));
    expect(owners.size).toBe(3);
    const report = await repo.sweepAlerts(undefined, { batchSize: 20 });
    expect(report.scanned).toBe(90);
    expect(report.alerts.map((alert) => alert.userId).sort()).toEqual([...hot].sort());
    expect((await repo.sweepAlerts()).alerts).toEqual([]);
  }, 90_000);
});

/** The address of the master that owns `key`. */
async function ownerOf(cluster: Cluster, key: string): Promise<string> {
  if (cluster.status !== 'ready') await cluster.ping();
  return cluster.slots[calculateSlot(key)]?.[0] ?? 'unknown';
}
