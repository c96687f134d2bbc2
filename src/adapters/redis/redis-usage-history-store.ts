import type { Cluster, Redis } from 'ioredis';
import type { CycleStart } from '../../domain/billing-cycle.js';
import type { UserId } from '../../domain/user-id.js';
import type { DailyUsage, UsageHistoryStore } from '../../ports/usage-history-store.js';
import { createKeyBuilder } from './keys.js';
import type { KeyBuilder, KeyOptions } from './keys.js';
import { CorruptUsageDataError } from '../../domain/errors.js';
import { parseCounter, toUsageError } from './redis-errors.js';

/** Options of a {@link RedisUsageHistoryStore}: the same clients and key layout as the `RedisUsageStore`. */
export interface RedisUsageHistoryStoreOptions extends KeyOptions {
  /** Borrowed clients (closing them is the owner's job), or a Cluster with hash tags on. */
  readonly clients: readonly (Redis | Cluster)[];
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const VALUE = /^(\d+):(\d+):(\d+)$/;

/**
 * Reads the `<prefix>:<user>:<cycle>:daily` hashes the record script writes (a field per day,
 * `prompt:completion:total`): one pipelined HGETALL per cycle. All of them are one user's keys, so
 * with hash tags they share a Cluster slot.
 */
export class RedisUsageHistoryStore implements UsageHistoryStore {
  readonly #clients: readonly (Redis | Cluster)[];
  readonly #keys: KeyBuilder;
  #next = 0;

  constructor(options: RedisUsageHistoryStoreOptions) {
    if (options.clients.length === 0) throw new TypeError('RedisUsageHistoryStore needs at least one client');
    this.#clients = options.clients;
    this.#keys = createKeyBuilder(options);
  }

  async readDailyUsage(userId: UserId, cycles: readonly CycleStart[]): Promise<DailyUsage[][]> {
    if (cycles.length === 0) return [];
    const keys = cycles.map((cycle) => this.#keys.daily(userId, cycle));
    const client = this.#clients[this.#next] as Redis | Cluster;
    this.#next = (this.#next + 1) % this.#clients.length;
    const pipeline = client.pipeline();
    for (const key of keys) pipeline.hgetall(key);
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await pipeline.exec();
    } catch (error) {
      throw toUsageError('readDailyUsage', error, keys[0] as string);
    }
    if (replies === null) throw toUsageError('readDailyUsage', new Error('pipeline was not executed'), keys[0] as string);
    return replies.map(([error, fields], i) => {
      const key = keys[i] as string;
      if (error !== null) throw toUsageError('readDailyUsage', error, key);
      return parseDays(fields as Record<string, string>, key);
    });
  }
}

/** Fields `<YYYY-MM-DD>` = `prompt:completion:total` (see the record script), in date order. */
function parseDays(fields: Record<string, string>, key: string): DailyUsage[] {
  const days: DailyUsage[] = [];
  for (const [field, raw] of Object.entries(fields)) {
    if (!DAY.test(field)) continue; // not a rollup field (nothing else writes here; ignore rather than fail a read)
    const parts = VALUE.exec(raw);
    if (parts === null) {
      throw new CorruptUsageDataError(key, field, `${key} field ${field} is not prompt:completion:total: ${JSON.stringify(raw)}`);
    }
    days.push({
      day: field as CycleStart,
      promptTokens: parseCounter(parts[1], key, field),
      completionTokens: parseCounter(parts[2], key, field),
      totalTokens: parseCounter(parts[3], key, field),
    });
  }
  return days.sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0));
}
