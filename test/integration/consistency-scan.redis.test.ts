import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RedisUsageInspector } from '../../src/adapters/redis/redis-usage-inspector.js';
import { ConsistencyVerifier } from '../../src/domain/consistency-verifier.js';
import type { VerificationProgress } from '../../src/domain/consistency-verifier.js';
import type { InspectedRecord, UsageInspector } from '../../src/ports/usage-inspector.js';
import { describeRedis, redisUrl, uniquePrefix } from '../support/redis.js';
import { rawRedis } from '../support/redis-store.js';

const KEYS = 100_000;
const CHUNK = 5_000;
const BATCH = 1_000;
const CORRUPT_EVERY = 1_000; // every 1000th hash has a deflated total

describeRedis('consistency verifier: a 100,000-key scan', () => {
  let raw: Redis;
  let client: Redis;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    raw = rawRedis();
    client = new Redis(redisUrl, { lazyConnect: true, commandTimeout: 10_000, maxRetriesPerRequest: 1 });
    for (let start = 0; start < KEYS; start += CHUNK) {
      const pipeline = raw.pipeline();
      for (let i = start; i < start + CHUNK; i += 1) {
        const total = i % CORRUPT_EVERY === 0 ? '1' : '30';
        pipeline.hset(`${prefix}:user-${i}:2024-01-01`, 'prompt_tokens', '10', 'completion_tokens', '20', 'total_tokens', total);
        if (i % 100 === 0) pipeline.zadd(`${prefix}:user-${i}:2024-01-01:leases`, 1, 'lease:1'); // not a cycle hash
      }
      await pipeline.exec();
    }
  }, 60_000);

  afterAll(async () => {
    const stream = raw.scanStream({ match: `${prefix}:*`, count: 5_000 });
    for await (const keys of stream as AsyncIterable<string[]>) if (keys.length > 0) await raw.unlink(...keys);
    raw.disconnect();
    client.disconnect();
  }, 60_000);

  it('finds every hash with progress, one page of at most batchSize records at a time', async () => {
    const real = new RedisUsageInspector({ clients: [client], prefix, hashTags: false });
    const pageSizes: number[] = [];
    const counting: UsageInspector = {
      async *scanCycles(options) {
        for await (const page of real.scanCycles(options) as AsyncIterable<readonly InspectedRecord[]>) {
          pageSizes.push(page.length);
          yield page;
        }
      },
      readRecord: (target) => real.readRecord(target),
      repairRecord: (command) => real.repairRecord(command),
    };
    const progress: VerificationProgress[] = [];
    const heapBefore = process.memoryUsage().heapUsed;
    let heapPeak = heapBefore;
    const started = Date.now();

    const report = await new ConsistencyVerifier(counting).verifyCycle('2024-01-01', {
      batchSize: BATCH,
      onProgress: (p) => {
        progress.push(p);
        heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
      },
    });

    expect(Date.now() - started).toBeLessThan(30_000);
    expect(report.scanned).toBe(KEYS);
    expect(report.counts.findings).toBe(KEYS / CORRUPT_EVERY);
    expect(report.findings.every((f) => f.kind === 'total-mismatch')).toBe(true);
    const scanned = progress.map((p) => p.scanned);
    expect(scanned.length).toBeGreaterThanOrEqual(KEYS / BATCH);
    for (let i = 1; i < scanned.length; i += 1) expect(scanned[i]).toBeGreaterThan(scanned[i - 1] as number);
    expect(scanned.at(-1)).toBe(KEYS);
    // Bounded memory: never more than one page of records in hand, and the heap stays far from "all records".
    expect(Math.max(...pageSizes)).toBeLessThanOrEqual(BATCH);
    expect(pageSizes.reduce((a, b) => a + b, 0)).toBe(KEYS);
    expect(heapPeak - heapBefore).toBeLessThan(150 * 1024 * 1024);
  }, 60_000);
});
