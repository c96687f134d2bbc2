import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RedisUsageInspector } from '../../src/adapters/redis/redis-usage-inspector.js';
import { ConsistencyVerifier } from '../../src/domain/consistency-verifier.js';
import type { Finding } from '../../src/domain/consistency-verifier.js';
import type { RepairCommand, RepairOutcome, UsageInspector } from '../../src/ports/usage-inspector.js';
import { aUsageRecord, aCycle } from '../support/mothers.js';
import { describeRedis, redisUrl, uniquePrefix } from '../support/redis.js';
import { rawRedis, realRedisStore } from '../support/redis-store.js';
import { userId } from '../../src/domain/user-id.js';

const CYCLE = '2024-01-01';

/** Every key under a prefix with its type and contents, for before/after comparisons. */
async function dump(raw: Redis, prefix: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const stream = raw.scanStream({ match: `${prefix}:*`, count: 500 });
  for await (const keys of stream as AsyncIterable<string[]>) {
    for (const key of keys) {
      const type = await raw.type(key);
      if (type === 'hash') out[key] = await raw.hgetall(key);
      else if (type === 'zset') out[key] = await raw.zrange(key, 0, -1, 'WITHSCORES');
      else if (type === 'string') out[key] = await raw.get(key);
      else out[key] = await raw.lrange(key, 0, -1);
    }
  }
  return out;
}

async function unlinkAll(raw: Redis, prefix: string): Promise<void> {
  const stream = raw.scanStream({ match: `${prefix}:*`, count: 1_000 });
  for await (const keys of stream as AsyncIterable<string[]>) if (keys.length > 0) await raw.unlink(...keys);
}

const summary = (findings: readonly Finding[]): string[] =>
  findings
    .map((f) => `${f.userId}|${f.cycle ?? 'policy'}|${f.kind}|${f.field ?? ''}${'direction' in f ? `|${f.direction}` : ''}`)
    .sort();

describeRedis('consistency verifier on real Redis', () => {
  let raw: Redis;
  let client: Redis;

  beforeAll(() => {
    raw = rawRedis();
    client = new Redis(redisUrl, { lazyConnect: true, commandTimeout: 5_000, maxRetriesPerRequest: 1 });
  });

  afterAll(() => {
    raw.disconnect();
    client.disconnect();
  });

  describe.each([false, true])('hashTags %s', (hashTags) => {
    let prefix: string;
    // As the key builder writes them: inside a hash tag, % { } are percent-encoded.
    const tag = (user: string): string => user.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    const key = (user: string, suffix: string): string => `${prefix}:${hashTags ? `{${tag(user)}}` : user}:${suffix}`;
    const inspector = (): RedisUsageInspector => new RedisUsageInspector({ clients: [client], prefix, hashTags });

    beforeEach(async () => {
      prefix = uniquePrefix();
      await raw.hset(key('clean', CYCLE), { prompt_tokens: '150', completion_tokens: '75', total_tokens: '225', usage_limit: '1000' });
      await raw.hset(key('other:tok', CYCLE), { prompt_tokens: '1', other_tokens: '9', total_tokens: '10' });
      await raw.hset(key('neg', CYCLE), { prompt_tokens: '-5', completion_tokens: '10', total_tokens: '5' });
      await raw.hset(key('abc', CYCLE), { prompt_tokens: 'abc', completion_tokens: '3', total_tokens: '3' });
      await raw.hset(key('frac', CYCLE), { prompt_tokens: '1.5', total_tokens: '0' });
      await raw.hset(key('zeros', CYCLE), { completion_tokens: '007', total_tokens: '7' });
      await raw.hset(key('{inflated}', CYCLE), { prompt_tokens: '100', completion_tokens: '50', total_tokens: '400' });
      await raw.hset(key('de:flated', CYCLE), { prompt_tokens: '100', completion_tokens: '50', total_tokens: '120' });
      await raw.hset(key('limit', CYCLE), { total_tokens: '0', usage_limit: '-3' });
      await raw.rpush(key('listy', CYCLE), 'x');
      await raw.hset(key('later', '2024-02-01'), { prompt_tokens: '-1', total_tokens: '0' });
      // Not cycle hashes: never scanned, never touched.
      await raw.hset(key('neg', 'policy'), { usage_limit: 'oops' });
      await raw.zadd(key('neg', `${CYCLE}:leases`), Date.now() + 60_000, 'lease-1:10');
      await raw.hset(key('neg', `${CYCLE}:alerts`), { '800000': '1' });
      await raw.set(key('neg', `idem:${'a'.repeat(40)}`), '1');
      await raw.expire(key('neg', CYCLE), 3_600);
    });

    afterEach(async () => {
      await unlinkAll(raw, prefix);
    });

    const EXPECTED = [
      `abc|${CYCLE}|non-integer-counter|prompt_tokens`,
      `de:flated|${CYCLE}|total-mismatch|total_tokens|deflated`,
      `frac|${CYCLE}|non-integer-counter|prompt_tokens`,
      `limit|${CYCLE}|bad-limit|usage_limit`,
      `listy|${CYCLE}|wrong-type|`,
      `neg|${CYCLE}|negative-counter|prompt_tokens`,
      `neg|${CYCLE}|total-mismatch|total_tokens|deflated`,
      `zeros|${CYCLE}|non-integer-counter|completion_tokens`,
      `zeros|${CYCLE}|total-mismatch|total_tokens|inflated`,
      `{inflated}|${CYCLE}|total-mismatch|total_tokens|inflated`,
    ];

    it('a dry run finds every corrupt hash of the cycle, skips other keys and changes nothing', async () => {
      const before = await dump(raw, prefix);
      const report = await new ConsistencyVerifier(inspector()).verifyCycle(CYCLE, { batchSize: 3 });
      expect(await dump(raw, prefix)).toEqual(before);
      expect(report.mode).toBe('dry-run');
      expect(report.scanned).toBe(10);
      expect(summary(report.findings)).toEqual(EXPECTED);
      expect(report.findings).toContainEqual(
        expect.objectContaining({ kind: 'wrong-type', key: key('listy', CYCLE), actualType: 'list' }),
      );
      expect(report.findings).toContainEqual(
        expect.objectContaining({ kind: 'total-mismatch', userId: '{inflated}', value: '400', expected: '150' }),
      );
      const all = await new ConsistencyVerifier(inspector()).verifyCycle(undefined);
      expect(all.scanned).toBe(11);
      expect(summary(all.findings)).toContain('later|2024-02-01|negative-counter|prompt_tokens');
    });

    it('repair fixes every hash atomically, reports before/after, and a second run is clean', async () => {
      const verifier = new ConsistencyVerifier(inspector());
      const untouched = [key('neg', 'policy'), key('neg', `${CYCLE}:leases`), key('neg', `${CYCLE}:alerts`), key('listy', CYCLE)];
      const before = await dump(raw, prefix);
      const report = await verifier.verifyCycle(CYCLE, { repair: true, batchSize: 4 });
      expect(report.repaired).toHaveLength(7);
      expect(report.skipped).toEqual([{ key: key('listy', CYCLE), userId: 'listy', cycle: CYCLE, reason: 'not-a-hash' }]);
      expect(report.repaired).toContainEqual({
        key: key('neg', CYCLE),
        userId: 'neg',
        cycle: CYCLE,
        changes: [
          { field: 'prompt_tokens', before: '-5', after: '0' },
          { field: 'total_tokens', before: '5', after: '10' },
        ],
      });
      const after = await dump(raw, prefix);
      for (const k of untouched) expect(after[k]).toEqual(before[k]);
      expect(after[key('{inflated}', CYCLE)]).toEqual({ prompt_tokens: '100', completion_tokens: '50', total_tokens: '150' });
      expect(after[key('de:flated', CYCLE)]).toEqual({ prompt_tokens: '100', completion_tokens: '50', total_tokens: '150' });
      expect(after[key('abc', CYCLE)]).toEqual({ prompt_tokens: '0', completion_tokens: '3', total_tokens: '3' });
      expect(after[key('zeros', CYCLE)]).toEqual({ completion_tokens: '0', total_tokens: '0' });
      expect(after[key('limit', CYCLE)]).toEqual({ total_tokens: '0' });
      expect(after[key('clean', CYCLE)]).toEqual(before[key('clean', CYCLE)]);
      expect(await raw.ttl(key('neg', CYCLE))).toBeGreaterThan(3_000); // the TTL survives a repair

      const again = await verifier.verifyCycle(CYCLE, { repair: true });
      expect(summary(again.findings)).toEqual([`listy|${CYCLE}|wrong-type|`]);
      expect(again.repaired).toEqual([]);
      // The store reads repaired hashes without CorruptUsageDataError.
      const store = realRedisStore({ prefix, hashTags });
      await expect(store.readUsage({ userId: userId('abc'), cycle: aCycle().start })).resolves.toMatchObject({ totalTokens: 3 });
      await store.close();
    });

    it('treatExcessAsUnattributed raises other_tokens instead of lowering the total', async () => {
      const report = await new ConsistencyVerifier(inspector()).verifyUser('{inflated}', CYCLE, {
        repair: true,
        treatExcessAsUnattributed: true,
      });
      expect(report.repaired).toEqual([
        expect.objectContaining({ changes: [{ field: 'other_tokens', before: null, after: '250' }] }),
      ]);
      expect(await raw.hgetall(key('{inflated}', CYCLE))).toEqual({
        prompt_tokens: '100',
        completion_tokens: '50',
        other_tokens: '250',
        total_tokens: '400',
      });
    });

    it('verifyUser also checks and repairs the policy hash', async () => {
      const report = await new ConsistencyVerifier(inspector()).verifyUser('neg', CYCLE, { repair: true });
      expect(summary(report.findings)).toEqual([
        `neg|${CYCLE}|negative-counter|prompt_tokens`,
        `neg|${CYCLE}|total-mismatch|total_tokens|deflated`,
        'neg|policy|bad-standing-limit|usage_limit',
      ]);
      expect(await raw.exists(key('neg', 'policy'))).toBe(0); // its only field was the bad limit
      expect(await raw.hgetall(key('neg', CYCLE))).toEqual({ prompt_tokens: '0', completion_tokens: '10', total_tokens: '10' });
      const nobody = await new ConsistencyVerifier(inspector()).verifyUser('nobody', CYCLE);
      expect(nobody).toMatchObject({ scanned: 0, findings: [] });
    });

    it('skips a hash that changed between read and repair, losing no increment; a re-run repairs it', async () => {
      const real = inspector();
      const store = realRedisStore({ prefix, hashTags });
      const racing: UsageInspector = {
        scanCycles: (options) => real.scanCycles(options),
        readRecord: (target) => real.readRecord(target),
        async repairRecord(command: RepairCommand): Promise<RepairOutcome> {
          // A writer that adds 5 prompt tokens (through the store's own script) just before the repair.
          if (command.target.userId === 'de:flated') {
            await store.recordUsage(aUsageRecord({ userId: command.target.userId, prompt: 5, completion: 0 }));
          }
          return real.repairRecord(command);
        },
      };
      const report = await new ConsistencyVerifier(racing).verifyUser('de:flated', CYCLE, { repair: true });
      expect(report.skipped).toEqual([
        { key: key('de:flated', CYCLE), userId: 'de:flated', cycle: CYCLE, reason: 'changed-concurrently' },
      ]);
      expect(report.repaired).toEqual([]);
      expect(await raw.hgetall(key('de:flated', CYCLE))).toMatchObject({ prompt_tokens: '105', total_tokens: '125' });
      const rerun = await new ConsistencyVerifier(real).verifyUser('de:flated', CYCLE, { repair: true });
      expect(rerun.repaired).toEqual([
        expect.objectContaining({ changes: [{ field: 'total_tokens', before: '125', after: '155' }] }),
      ]);
      await store.close();
    });

    it('a repair of a key that vanished or changed type writes nothing', async () => {
      const real = inspector();
      const target = { kind: 'cycle', userId: userId('ghost'), cycle: aCycle().start } as const;
      const command: RepairCommand = { target, expected: { total_tokens: '1' }, changes: { total_tokens: '2' } };
      expect(await real.repairRecord(command)).toBe('changed-concurrently');
      expect(await raw.exists(key('ghost', CYCLE))).toBe(0);
      await raw.set(key('ghost', CYCLE), 'string now');
      expect(await real.repairRecord(command)).toBe('changed-concurrently');
      expect(await raw.get(key('ghost', CYCLE))).toBe('string now');
    });
  });
});
