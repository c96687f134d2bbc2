import { expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RetryingUsageStore } from '../../src/adapters/decorators/retrying-usage-store.js';
import { RedisUsageStore } from '../../src/adapters/redis/redis-usage-store.js';
import type { UserId } from '../../src/domain/user-id.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { aCycle, anIdempotencyKey, aUsageRecord, aUserId, CYCLE } from '../support/mothers.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { describeRedis, redisUrl, uniquePrefix } from '../support/redis.js';
import { rawRedis } from '../support/redis-store.js';

const RECORDS = 10_000;
const IN_FLIGHT = 50;
const FAULT_EVERY = 500;
const PROMPT = 3;
const COMPLETION = 2;
const COMMAND_TIMEOUT_MS = 300;

type FaultKind = 'drop' | 'black hole' | 'slow (RTT > timeout)' | 'jitter';
const FAULTS: readonly FaultKind[] = ['drop', 'black hole', 'slow (RTT > timeout)', 'jitter'];

describeRedis('resilience under injected network faults (real Redis)', () => {
  // 'caller': each record carries its own key; 'generated': none, so the decorator adds one per record.
  it.each(['caller', 'generated'] as const)(
    `${RECORDS} records with %s idempotency keys through Retrying(Redis behind a fault proxy): all acknowledged, none lost, none doubled`,
    async (keys) => {
      const url = new URL(redisUrl);
      const proxy = new FaultProxy({ host: url.hostname, port: Number(url.port) });
      await proxy.start();
      // The settings of src/adapters/redis/redis-connection.ts, with a short timeout and fast reconnects.
      const client = new Redis(proxy.url, {
        lazyConnect: true,
        commandTimeout: COMMAND_TIMEOUT_MS,
        maxRetriesPerRequest: 1,
        autoResendUnfulfilledCommands: false,
        retryStrategy: (times: number) => Math.min(20 * times, 200),
      });
      const connectionErrors: string[] = [];
      client.on('error', (error: Error) => connectionErrors.push(error.message));
      const prefix = uniquePrefix();
      const logger = new RecordingLogger();
      const store = new RetryingUsageStore(
        new RedisUsageStore({ clients: [client], ownsClients: true, prefix, hashTags: false }),
        { logger, maxAttempts: 20, baseDelayMs: 20, maxDelayMs: 500 },
      );
      const users: UserId[] = Array.from({ length: 4 }, (_, i) => aUserId(`fault-${i}`));
      const cycle = aCycle();

      // Faults, one every FAULT_EVERY records started, in turn; timed ones end after a while (or at
      // the next fault). Their timing only changes how many retries happen, never what is asserted.
      const injected: Record<FaultKind, number> = { drop: 0, 'black hole': 0, 'slow (RTT > timeout)': 0, jitter: 0 };
      let ending: NodeJS.Timeout | undefined;
      const endLater = (ms: number): void => {
        ending = setTimeout(() => proxy.reset(), ms);
      };
      const inject = (n: number): void => {
        clearTimeout(ending);
        proxy.reset();
        const kind = FAULTS[n % FAULTS.length] as FaultKind;
        injected[kind] += 1;
        if (kind === 'drop') proxy.dropConnections();
        if (kind === 'black hole') {
          proxy.blackHoleAfter((n * 97) % 400); // often cuts a command in half
          endLater(800);
        }
        if (kind === 'slow (RTT > timeout)') {
          proxy.delay(200); // each way: commands land, their replies come after the timeout
          endLater(600);
        }
        if (kind === 'jitter') {
          proxy.delay(20);
          endLater(500);
        }
      };

      let started = 0;
      let acknowledged = 0;
      let duplicates = 0;
      const failures: unknown[] = [];
      const startedAt = Date.now();
      const worker = async (): Promise<void> => {
        while (started < RECORDS) {
          const i = started++;
          if (i > 0 && i % FAULT_EVERY === 0) inject(i / FAULT_EVERY - 1);
          const command = aUsageRecord({
            userId: users[i % users.length] as UserId,
            cycle,
            prompt: PROMPT,
            completion: COMPLETION,
            idempotencyKeys: keys === 'caller' ? [anIdempotencyKey()] : [],
            dedupeWindowMs: 600_000,
          });
          try {
            const outcome = await store.recordUsage(command);
            acknowledged += 1;
            if (outcome.duplicate) duplicates += 1;
          } catch (error) {
            failures.push(error);
          }
        }
      };
      try {
        await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
      } finally {
        clearTimeout(ending);
        proxy.reset();
      }
      const durationMs = Date.now() - startedAt;

      // The truth, read straight from Redis, not through the proxy or the store.
      const raw = rawRedis();
      let prompt = 0;
      let completion = 0;
      let total = 0;
      try {
        for (const user of users) {
          const hash = await raw.hgetall(`${prefix}:${user}:${CYCLE}`);
          prompt += Number(hash['prompt_tokens'] ?? 0);
          completion += Number(hash['completion_tokens'] ?? 0);
          total += Number(hash['total_tokens'] ?? 0);
        }
        let cursor = '0';
        do {
          const [nextCursor, keys] = await raw.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1_000);
          if (keys.length > 0) await raw.unlink(...keys);
          cursor = nextCursor;
        } while (cursor !== '0');
      } finally {
        raw.disconnect();
        await store.close();
        await proxy.stop();
      }

      const retries = logger.lines.filter((line) => line.level === 'warn');
      const retryCauses: Record<string, number> = {};
      for (const line of retries) {
        const message = String((line.fields['err'] as { message: string }).message).replace(/\d+/g, 'N');
        retryCauses[message] = (retryCauses[message] ?? 0) + 1;
      }
      console.log(
        JSON.stringify(
          {
            keys,
            records: RECORDS,
            acknowledged,
            failed: failures.length,
            faultsInjected: injected,
            retries: retries.length,
            retryCauses,
            acknowledgedAsDuplicate: duplicates,
            proxy: proxy.stats,
            connectionErrors: connectionErrors.length,
            durationMs,
          },
          null,
          2,
        ),
      );

      expect(failures.map((error) => String(error))).toEqual([]);
      expect(acknowledged).toBe(RECORDS);
      expect({ prompt, completion, total }).toEqual({
        prompt: acknowledged * PROMPT,
        completion: acknowledged * COMPLETION,
        total: acknowledged * (PROMPT + COMPLETION),
      });
      expect(Object.values(injected).reduce((a, b) => a + b)).toBe(RECORDS / FAULT_EVERY - 1);
      expect(retries.length).toBeGreaterThan(0);
      // The slow phases make commands land after their timeout, so some retries find their write
      // applied: with the caller's key the store says duplicate; with a generated key the decorator
      // knows it was its own earlier attempt and says it is not.
      if (keys === 'caller') expect(duplicates).toBeGreaterThan(0);
      else expect(duplicates).toBe(0);
    },
    120_000,
  );
});
