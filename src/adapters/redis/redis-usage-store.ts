import type { Cluster, Redis } from 'ioredis';
import type {
  BatchRecordResult,
  CycleRef,
  LeaseRef,
  RecordOutcome,
  RecordUsageCommand,
  ReleaseCommand,
  ReserveCommand,
  ReserveOutcome,
  SetLimitCommand,
  UsageSnapshot,
  UsageStore,
} from '../../ports/usage-store.js';
import type { AlertStateStore, SyncThresholdsCommand, SyncThresholdsOutcome } from '../../ports/alert-state-store.js';
import type { HealthProbe, StoreHealth } from '../../ports/health-probe.js';
import { StoreUnavailableError } from '../../domain/errors.js';
import type { UsageError } from '../../domain/errors.js';
import { createKeyBuilder } from './keys.js';
import { RedisUsageHistoryStore } from './redis-usage-history-store.js';
import type { KeyBuilder, KeyOptions } from './keys.js';
import { isCommandTimeout, parseCounter, parseLimit, toUsageError } from './redis-errors.js';
import { ALL_SCRIPTS } from './scripts/all.js';
import { readUsageScript } from './scripts/read-usage.js';
import { recordUsageScript } from './scripts/record-usage.js';
import { releaseLeaseScript } from './scripts/release-lease.js';
import { reserveScript } from './scripts/reserve.js';
import type { RedisScript } from './scripts/script.js';
import { setLimitScript } from './scripts/set-limit.js';
import { syncThresholdsScript } from './scripts/sync-thresholds.js';

type ScriptCall = (...keysThenArgs: string[]) => Promise<unknown>;

/** Options of a {@link RedisUsageStore}. */
export interface RedisUsageStoreOptions extends KeyOptions {
  /**
   * One or more ioredis clients, or a `Cluster` (then turn `hashTags` on, so each script's keys share
   * a slot); calls are spread over them round-robin.
   */
  readonly clients: readonly (Redis | Cluster)[];
  /** Close the clients in `close()`; true when the store created them. Default false. */
  readonly ownsClients?: boolean;
  /** Retry a read once when the command timed out (reads only: a write is never retried here). */
  readonly retryReadsOnTimeout?: boolean;
}

/**
 * A `UsageStore` on Redis in the seed's layout. Every multi-field operation is one Lua script
 * (`defineCommand`, so one EVALSHA round trip), hence atomic.
 */
export class RedisUsageStore implements UsageStore, AlertStateStore, HealthProbe {
  readonly #clients: readonly (Redis | Cluster)[];
  readonly #keys: KeyBuilder;
  readonly #keyOptions: KeyOptions;
  readonly #ownsClients: boolean;
  readonly #retryReadsOnTimeout: boolean;
  #next = 0;
  #closed = false;

  constructor(options: RedisUsageStoreOptions) {
    if (options.clients.length === 0) throw new TypeError('RedisUsageStore needs at least one client');
    this.#clients = options.clients;
    this.#keys = createKeyBuilder(options);
    this.#keyOptions = { prefix: options.prefix, hashTags: options.hashTags };
    this.#ownsClients = options.ownsClients ?? false;
    this.#retryReadsOnTimeout = options.retryReadsOnTimeout ?? false;
    for (const client of this.#clients) {
      for (const script of ALL_SCRIPTS) {
        client.defineCommand(script.name, { numberOfKeys: script.numberOfKeys, lua: script.lua });
      }
    }
  }

  async recordUsage(command: RecordUsageCommand): Promise<RecordOutcome> {
    const call = this.#recordCall(command);
    const reply = await this.#call('recordUsage', call.keys[0], recordUsageScript, call.keys, call.args);
    return recordOutcome(reply, call.keys[0]);
  }

  async recordUsageBatch(commands: readonly RecordUsageCommand[]): Promise<BatchRecordResult[]> {
    if (commands.length === 0) return [];
    const calls = commands.map((command) => this.#recordCall(command));
    const pipeline = this.#client('recordUsageBatch').pipeline();
    const queue = pipeline as unknown as Record<string, (...keysThenArgs: string[]) => unknown>;
    for (const call of calls) queue[recordUsageScript.name]?.call(pipeline, ...call.keys, ...call.args);
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await pipeline.exec();
    } catch (error) {
      throw toUsageError('recordUsageBatch', error, calls[0]?.keys[0] ?? '');
    }
    if (replies === null) throw toUsageError('recordUsageBatch', new Error('pipeline was not executed'), '');
    // ioredis resolves a pipeline even when the connection failed, with an error per command. That is
    // a failed round trip (any subset may have run), not a refusal of single records: reject it whole,
    // so the caller retries the batch with the same idempotency keys.
    const unavailable = replies.find(([error], i) => error !== null && !isCorrupt(toUsageError('recordUsageBatch', error, calls[i]?.keys[0] ?? '')));
    if (unavailable !== undefined) throw toUsageError('recordUsageBatch', unavailable[0], '');
    return replies.map(([error, reply], i): BatchRecordResult => {
      const key = calls[i]?.keys[0] ?? '';
      if (error !== null) return { ok: false, error: toUsageError('recordUsageBatch', error, key) };
      try {
        return { ok: true, outcome: recordOutcome(reply, key) };
      } catch (parseError) {
        return { ok: false, error: toUsageError('recordUsageBatch', parseError, key) };
      }
    });
  }

  #recordCall(command: RecordUsageCommand): { keys: [string, string, string, string, string]; args: string[] } {
    const { userId, cycle, idempotencyKeys } = command;
    const key = this.#keys.cycle(userId, cycle.start);
    if (idempotencyKeys.length > 2) throw new TypeError('recordUsage takes at most two idempotency keys');
    const claims = idempotencyKeys.map((idem) => this.#keys.idempotency(userId, idem));
    return {
      keys: [key, this.#keys.leases(userId, cycle.start), claims[0] ?? key, claims[1] ?? key, this.#keys.daily(userId, cycle.start)],
      args: [
        String(command.promptTokens),
        String(command.completionTokens),
        String(command.otherTokens),
        // The domain checked that the sum is a safe integer; summing here keeps floats out of Lua.
        String(command.promptTokens + command.completionTokens + command.otherTokens),
        unixSeconds(cycle.retainUntil),
        command.releaseLease === null ? '' : leaseMember(command.releaseLease),
        String(claims.length),
        String(command.dedupeWindowMs),
        command.rollupDay,
      ],
    };
  }

  /** A reader of the daily rollups this store writes, on the same (borrowed) clients. */
  historyStore(): RedisUsageHistoryStore {
    return new RedisUsageHistoryStore({ clients: this.#clients, ...this.#keyOptions });
  }

  async readUsage(ref: CycleRef): Promise<UsageSnapshot> {
    const key = this.#keys.cycle(ref.userId, ref.cycle);
    const policyKey = this.#keys.policy(ref.userId);
    const keys = [key, policyKey, this.#keys.leases(ref.userId, ref.cycle)];
    const call = (): Promise<unknown> => this.#call('readUsage', key, readUsageScript, keys, []);
    let reply: unknown;
    try {
      reply = await call();
    } catch (error) {
      if (!this.#retryReadsOnTimeout || !(error instanceof Error && isCommandTimeout(error.cause))) throw error;
      reply = await call();
    }
    const [prompt, completion, total, cycleLimit, standingLimit, reserved] = reply as unknown[];
    return {
      promptTokens: parseCounter(prompt, key, 'prompt_tokens'),
      completionTokens: parseCounter(completion, key, 'completion_tokens'),
      totalTokens: parseCounter(total, key, 'total_tokens'),
      cycleLimit: parseLimit(cycleLimit, key),
      standingLimit: parseLimit(standingLimit, policyKey),
      reservedTokens: Number(reserved),
    };
  }

  async resetUsage(ref: CycleRef): Promise<void> {
    const key = this.#keys.cycle(ref.userId, ref.cycle);
    try {
      // One MULTI (one slot with hash tags): the counters go, usage_limit stays (an emptied hash
      // disappears by itself), the daily rollups go with them (history keeps summing to the
      // counters), and the alert thresholds are re-armed.
      const replies = await this.#client('resetUsage')
        .multi()
        .hdel(key, 'prompt_tokens', 'completion_tokens', 'total_tokens', 'other_tokens')
        .del(this.#keys.alerts(ref.userId, ref.cycle))
        .del(this.#keys.daily(ref.userId, ref.cycle))
        .exec();
      const failed = replies?.find(([error]) => error !== null)?.[0];
      if (failed) throw failed;
    } catch (error) {
      throw toUsageError('resetUsage', error, key);
    }
  }

  async setLimit(command: SetLimitCommand): Promise<void> {
    const key =
      command.cycle === null
        ? this.#keys.policy(command.userId)
        : this.#keys.cycle(command.userId, command.cycle.start);
    // A later expiry on the cycle hash (a limit set after the cycle ended) must move its rollup's too.
    const daily = command.cycle === null ? key : this.#keys.daily(command.userId, command.cycle.start);
    await this.#call('setLimit', key, setLimitScript, [key, daily], [
      String(command.limit),
      unixSeconds(command.cycle?.retainUntil ?? null),
    ]);
  }

  async reserve(command: ReserveCommand): Promise<ReserveOutcome> {
    const { userId, cycle, lease } = command;
    const key = this.#keys.cycle(userId, cycle.start);
    const reply = await this.#call(
      'reserve',
      key,
      reserveScript,
      [key, this.#keys.policy(userId), this.#keys.leases(userId, cycle.start)],
      [leaseMember(lease), String(lease.tokens), String(command.leaseMs)],
    );
    const [granted, used, reserved, limit, expiresAt] = (reply as unknown[]).map(Number) as [
      number,
      number,
      number,
      number,
      number,
    ];
    return {
      granted: granted === 1,
      currentUsage: used,
      reservedTokens: reserved,
      limit: limit === -1 ? null : limit,
      expiresAt,
    };
  }

  async releaseLease(command: ReleaseCommand): Promise<boolean> {
    const key = this.#keys.leases(command.userId, command.cycle);
    const reply = await this.#call('releaseLease', key, releaseLeaseScript, [key], [leaseMember(command.lease)]);
    return Number(reply) === 1;
  }

  async syncThresholds(command: SyncThresholdsCommand): Promise<SyncThresholdsOutcome> {
    const { userId, cycle } = command;
    const key = this.#keys.cycle(userId, cycle.start);
    const reply = await this.#call(
      'syncThresholds',
      key,
      syncThresholdsScript,
      [key, this.#keys.policy(userId), this.#keys.alerts(userId, cycle.start)],
      [unixSeconds(cycle.retainUntil), ...command.thresholdsPpm.map(String)],
    );
    const [used, limit, ...newly] = (reply as unknown[]).map(Number) as [number, number, ...number[]];
    return { currentUsage: used, limit: limit === -1 ? null : limit, newlyCrossedPpm: newly };
  }

  async probe(): Promise<StoreHealth> {
    const key = this.#keys.health();
    const client = this.#client('probe');
    try {
      const token = globalThis.crypto.randomUUID();
      const [, [, echoed], [, info]] = (await client
        .multi()
        .set(key, token, 'PX', 60_000)
        .get(key)
        .info('server')
        .exec()) as [unknown, [unknown, string | null], [unknown, string]];
      if (echoed !== token) throw new Error('the health key did not read back what was written');
      return { store: 'redis', version: /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? 'unknown' };
    } catch (error) {
      throw toUsageError('probe', error, key);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (!this.#ownsClients) return;
    await Promise.all(
      this.#clients.map(async (client) => {
        if (client.status === 'end' || client.status === 'wait') {
          client.disconnect();
          return;
        }
        try {
          await client.quit();
        } catch {
          client.disconnect();
        }
      }),
    );
  }

  #client(operation: string): Redis | Cluster {
    if (this.#closed) throw new StoreUnavailableError(operation, 'the Redis usage store is closed');
    const client = this.#clients[this.#next] as Redis | Cluster;
    this.#next = (this.#next + 1) % this.#clients.length;
    return client;
  }

  async #call(
    operation: string,
    errorKey: string,
    script: RedisScript,
    keys: readonly string[],
    args: readonly string[],
  ): Promise<unknown> {
    const client = this.#client(operation) as unknown as Record<string, ScriptCall>;
    const run = client[script.name] as ScriptCall;
    try {
      return await run.call(client, ...keys, ...args);
    } catch (error) {
      throw toUsageError(operation, error, errorKey);
    }
  }
}

function isCorrupt(error: UsageError): boolean {
  return error.code === 'USAGE.CORRUPT_DATA';
}

/** Maps the record script's reply `{duplicate, prompt, completion, total}`. */
function recordOutcome(reply: unknown, key: string): RecordOutcome {
  const [duplicate, prompt, completion, total] = reply as [unknown, unknown, unknown, unknown];
  return {
    duplicate: Number(duplicate) === 1,
    counters: {
      promptTokens: parseCounter(prompt, key, 'prompt_tokens'),
      completionTokens: parseCounter(completion, key, 'completion_tokens'),
      totalTokens: parseCounter(total, key, 'total_tokens'),
    },
  };
}

/** A lease as a sorted-set member; the tokens ride along so sums need no second key. */
function leaseMember(lease: LeaseRef): string {
  return `${lease.id}:${lease.tokens}`;
}

function unixSeconds(epochMs: number | null): string {
  return epochMs === null ? '0' : String(Math.ceil(epochMs / 1000));
}
