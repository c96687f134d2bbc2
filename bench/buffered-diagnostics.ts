/**
 * Diagnostics of the buffered recorder behind docs/benchmarks.md's findings:
 * `npx tsx bench/buffered-diagnostics.ts`. Starts its own redis-server (127.0.0.1, free port), then at
 * 1,024 records in flight over 10,000 users for 1.5 s, for highWaterMark 10,000 (default) and 20,000:
 * how many flush() calls were parked at once, how many batches were written and their size, records
 * per written entry (coalescing), and how many idempotency keys the flushes left in Redis.
 * Then, against a closed port (Redis down), whether records go to deadLetters().
 */
import { Container } from 'inversify';
import { Redis } from 'ioredis';
import type { RecordUsageCommand, UsageStore } from '../src/ports/usage-store.js';
import { loadLibrary } from './lib.js';
import { runClosedLoop } from './load.js';
import { freeLoopbackPort, LOOPBACK, startRedis } from './redis-server.js';
import { COMPLETION, PROMPT, USER_IDS, USERS } from './rows.js';

async function main(): Promise<void> {
  const lib = await loadLibrary();
  const logger = lib.createDefaultLogger('silent');
  const redis = await startRedis();
  const admin = new Redis(redis.port, LOOPBACK);
  try {
    const config = lib.resolveConfig({ redis: { url: redis.url }, logLevel: 'silent' });
    for (const highWaterMark of [10_000, 20_000]) {
      await admin.flushall();
      const container = new Container();
      container.load(lib.tokenUsageModule({ config, logger }));
      const store: UsageStore = container.get(lib.TOKENS.UsageStore);
      const batches: number[] = [];
      const batch = store.recordUsageBatch.bind(store);
      store.recordUsageBatch = (commands: readonly RecordUsageCommand[]) => {
        batches.push(commands.length);
        return batch(commands);
      };
      const recorder = new lib.BufferedUsageRecorder(store, container.get(lib.TOKENS.UsageAccounting), { highWaterMark }, logger);
      // Count flush() calls in progress; record() calls this.flush(), which finds the instance property.
      const flush = recorder.flush.bind(recorder);
      let active = 0;
      let peak = 0;
      let calls = 0;
      recorder.flush = async () => {
        calls += 1;
        active += 1;
        peak = Math.max(peak, active);
        try {
          await flush();
        } finally {
          active -= 1;
        }
      };
      const result = await runClosedLoop(
        (i) => recorder.record({ userId: USER_IDS[i % USERS] as string, promptTokens: PROMPT, completionTokens: COMPLETION }),
        { concurrency: 1_024, durationMs: 1_500, finish: () => recorder.flush() },
      );
      const entries = batches.reduce((a, b) => a + b, 0);
      const idempotencyKeys = (await admin.eval("return #redis.call('KEYS', ARGV[1])", 0, '*:idem:*')) as number;
      const sample = (await admin.keys('*:idem:*'))[0];
      process.stdout.write(
        `highWaterMark ${highWaterMark}: ${Math.round((result.ops / result.elapsedMs) * 1000)} records/s; ` +
          `flush() calls ${calls}, at most ${peak} in progress at once; ${batches.length} batches written ` +
          `(sizes ${batches.join(', ')}); ${(result.ops / entries).toFixed(2)} records per written entry; ` +
          `${idempotencyKeys} idempotency keys left in Redis${sample === undefined ? '' : ` (PTTL ${await admin.pttl(sample)} ms)`}\n`,
      );
      await recorder.close({ timeoutMs: 5_000 });
      await store.close();
    }

    // Redis down: are buffered records retried, or dead-lettered?
    const closed = await freeLoopbackPort();
    const downConfig = lib.resolveConfig({ redis: { url: `redis://${LOOPBACK}:${closed}` }, logLevel: 'silent' });
    const container = new Container();
    container.load(lib.tokenUsageModule({ config: downConfig, logger }));
    const store: UsageStore = container.get(lib.TOKENS.UsageStore);
    const recorder = new lib.BufferedUsageRecorder(store, container.get(lib.TOKENS.UsageAccounting), { highWaterMark: 500 }, logger);
    for (let i = 0; i < 300; i++) await recorder.record({ userId: `u${i}`, promptTokens: PROMPT });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const letters = recorder.deadLetters();
    process.stdout.write(
      `Redis down, 300 records: pending ${recorder.pendingRecords}, dead-lettered ${letters.length}` +
        `${letters[0] === undefined ? '' : ` (${letters[0].error.name}: ${letters[0].error.message})`}\n`,
    );
    await recorder.close({ timeoutMs: 200 }).catch(() => undefined);
    await store.close();
  } finally {
    admin.disconnect();
    await redis.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${String(error instanceof Error ? error.stack : error)}\n`);
    process.exit(1);
  },
);
