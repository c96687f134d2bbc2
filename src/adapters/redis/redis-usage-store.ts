import type { Cluster, Redis } from 'ioredis';
import type {
  BatchRecordResult,
  CycleRef,
  LeaseRef,
  ReadOptions,
  RecordOutcome,
  RecordUsageCommand,
  ReleaseCommand,
  ReserveCommand,
  ReserveOutcome,
  SetLimitCommand,
  UsageDetails,
  UsageSnapshot,
  UsageStore,
} from '../../ports/usage-store.js';
import type { AlertStateStore, SyncThresholdsCommand, SyncThresholdsOutcome } from '../../ports/alert-state-store.js';
import type { HealthProbe, StoreHealth } from '../../ports/health-probe.js';
import type { CycleStart } from '../../domain/billing-cycle.js';
import { CorruptUsageDataError, StoreUnavailableError } from '../../domain/errors.js';
import { readOptions } from '../../domain/options.js';
import {
  cycleRefFrom,
  recordBatchFrom,
  recordCommandFrom,
  releaseCommandFrom,
  reserveCommandFrom,
  setLimitCommandFrom,
} from '../../domain/store-commands.js';
import type { UsageError } from '../../domain/errors.js';
import type { UserId } from '../../domain/user-id.js';
import { batchParts, inParts } from './cluster-batch.js';
import { createKeyBuilder } from './keys.js';
import { RedisUsageHistoryStore } from './redis-usage-history-store.js';
import type { KeyBuilder, KeyOptions } from './keys.js';
import { CoalescingScriptCaller } from './coalescing-script-caller.js';
import { neverResendWrites } from './redis-connection.js';
import { RedisUsageInspector } from './redis-usage-inspector.js';
import { awaitReplicas } from './replica-ack.js';
import type { ReplicaAck } from './replica-ack.js';
import { clientError, isCommandTimeout, parseCounter, parseLimit, toUsageError } from './redis-errors.js';
import { applyBatchScript } from './scripts/apply-batch.js';
import { ALL_SCRIPTS } from './scripts/all.js';
import { readUsageScript } from './scripts/read-usage.js';
import { recordUsageScript } from './scripts/record-usage.js';
import { releaseLeaseScript } from './scripts/release-lease.js';
import { reserveScript } from './scripts/reserve.js';
import { paddedKeys, type RedisScript } from './scripts/script.js';
import { setLimitScript } from './scripts/set-limit.js';
import { syncThresholdsScript } from './scripts/sync-thresholds.js';

type ScriptCall = (...keysThenArgs: string[]) => Promise<unknown>;

/** Options of a {@link RedisUsageStore}. */
export interface RedisUsageStoreOptions extends KeyOptions {
  /**
   * One or more ioredis clients, or a `Cluster` (then turn `hashTags` on, so each script's keys share
   * a slot); calls are spread over them round-robin. The store turns off the clients' re-sending of
   * commands that may have run (see `neverResendWrites`): a re-sent increment would count twice.
   */
  readonly clients: readonly (Redis | Cluster)[];
  /** Close the clients in `close()`; true when the store created them. Default false. */
  readonly ownsClients?: boolean;
  /** Retry a read once when the command timed out (reads only: a write is never retried here). */
  readonly retryReadsOnTimeout?: boolean;
  /**
   * Send the `recordUsage` and `reserve` calls issued in one event-loop turn on one connection as one
   * script call (`CoalescingScriptCaller`), at most this many per call; 1 turns coalescing off.
   * Default 128.
   */
  readonly coalesceMaxBatch?: number;
  /**
   * Acknowledge a write only once this many replicas confirmed it (`WAIT`), so a failover to one of
   * them keeps it; fewer in time fails the call as unavailable (retry with the same key). Off by default.
   */
  readonly replicaAck?: ReplicaAck;
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
  readonly #coalescer: CoalescingScriptCaller | undefined;
  readonly #replicaAck: ReplicaAck | undefined;
  #next = 0;
  #closed = false;

  constructor(options: RedisUsageStoreOptions) {
    if (options.clients.length === 0) throw new TypeError('RedisUsageStore needs at least one client');
    this.#clients = options.clients;
    this.#keys = createKeyBuilder(options);
    this.#keyOptions = { prefix: options.prefix, hashTags: options.hashTags };
    this.#ownsClients = options.ownsClients ?? false;
    this.#retryReadsOnTimeout = options.retryReadsOnTimeout ?? false;
    const maxBatch = options.coalesceMaxBatch ?? 128;
    this.#coalescer = maxBatch > 1 ? new CoalescingScriptCaller({ maxBatch }) : undefined;
    this.#replicaAck = options.replicaAck !== undefined && options.replicaAck.replicas > 0 ? options.replicaAck : undefined;
    for (const client of this.#clients) {
      neverResendWrites(client);
      for (const script of ALL_SCRIPTS) {
        client.defineCommand(script.name, { numberOfKeys: script.numberOfKeys, lua: script.lua });
      }
      client.defineCommand(applyBatchScript.name, { lua: applyBatchScript.lua }); // key count passed per call
    }
  }

  async recordUsage(recordCommand: RecordUsageCommand): Promise<RecordOutcome> {
    const call = this.#recordCall(recordCommandFrom(recordCommand));
    let reply: unknown;
    try {
      reply = await this.#call('recordUsage', call.keys[0], recordUsageScript, call.keys, call.args);
    } catch (error) {
      throw onRollupKey(error, call);
    }
    return recordOutcome(reply, call.keys[0]);
  }

  /**
   * One pipelined round trip per part: the whole batch on one Redis, one part per node on a Cluster,
   * sent in parallel. A part that failed answers `StoreUnavailableError` for each of its records
   * (any subset of it may have run: retry them with the same keys) beside the other parts' results;
   * the call rejects only when every part failed.
   */
  async recordUsageBatch(batch: readonly RecordUsageCommand[]): Promise<BatchRecordResult[]> {
    const commands = recordBatchFrom(batch);
    if (commands.length === 0) return [];
    const calls = commands.map((command) => this.#recordCall(command));
    const client = this.#client('recordUsageBatch');
    const parts = batchParts(client, calls.map((call) => call.keys[0]));
    if (parts.length === 1) return this.#recordPart(client, calls);
    return inParts(
      parts,
      (part) => this.#recordPart(client, part.map((i) => calls[i] as RecordCall)),
      (error): BatchRecordResult => ({ ok: false, error: error as UsageError }),
    );
  }

  /** One pipeline of record scripts on one node; rejects when its round trip failed. */
  async #recordPart(client: Redis | Cluster, calls: readonly RecordCall[]): Promise<BatchRecordResult[]> {
    const pipeline = client.pipeline();
    const queue = pipeline as unknown as Record<string, (...keysThenArgs: string[]) => unknown>;
    for (const call of calls) queue[recordUsageScript.name]?.call(pipeline, ...paddedKeys(recordUsageScript, call.keys), ...call.args);
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await pipeline.exec();
    } catch (error) {
      throw clientError(client, 'recordUsageBatch', error, calls[0]?.keys[0] ?? '');
    }
    if (replies === null) throw toUsageError('recordUsageBatch', new Error('pipeline was not executed'), '');
    // ioredis resolves a pipeline even when the connection failed, with an error per command. That is
    // a failed round trip (any subset may have run), not a refusal of single records: reject it whole,
    // so the caller retries the batch with the same idempotency keys.
    const unavailable = replies.find(([error], i) => error !== null && !isCorrupt(toUsageError('recordUsageBatch', error, calls[i]?.keys[0] ?? '')));
    if (unavailable !== undefined) throw clientError(client, 'recordUsageBatch', unavailable[0], '');
    await this.#confirmed(client, calls[0]?.keys[0] ?? '', 'recordUsageBatch');
    return replies.map(([error, reply], i): BatchRecordResult => {
      const key = calls[i]?.keys[0] ?? '';
      if (error !== null) return { ok: false, error: onRollupKey(toUsageError('recordUsageBatch', error, key), calls[i] as RecordCall) };
      try {
        return { ok: true, outcome: recordOutcome(reply, key) };
      } catch (parseError) {
        return { ok: false, error: toUsageError('recordUsageBatch', parseError, key) };
      }
    });
  }

  #recordCall(command: RecordUsageCommand): RecordCall {
    const { userId, cycle, idempotencyKeys } = command;
    const key = this.#keys.cycle(userId, cycle.start);
    if (idempotencyKeys.length > 2) throw new TypeError('recordUsage takes at most two idempotency keys');
    const keys: [string, string, ...string[]] = [key, this.#keys.daily(userId, cycle.start)];
    const args = [
      String(command.promptTokens),
      String(command.completionTokens),
      String(command.otherTokens),
      // The domain checked that the sum is a safe integer; summing here keeps floats out of Lua.
      String(command.promptTokens + command.completionTokens + command.otherTokens),
      unixSeconds(cycle.retainUntil),
      command.rollupDay,
    ];
    // The lease and idempotency keys and their arguments only when the record needs them: a plain
    // record is 2 keys and 6 arguments in a batch instead of 6 and 9 (less for Redis to read per record).
    if (command.releaseLease !== null || idempotencyKeys.length > 0 || command.details !== undefined) {
      keys.push(this.#keys.leases(userId, cycle.start), this.#keys.leaseTotal(userId, cycle.start));
      for (const idem of idempotencyKeys) keys.push(this.#keys.idempotency(userId, idem));
      args.push(
        command.releaseLease === null ? '' : leaseMember(command.releaseLease),
        String(idempotencyKeys.length),
        String(command.dedupeWindowMs),
        ...detailArgs(command),
      );
    }
    return { keys, args };
  }

  /** A reader of the daily rollups this store writes, on the same (borrowed) clients. */
  historyStore(): RedisUsageHistoryStore {
    return new RedisUsageHistoryStore({ clients: this.#clients, ...this.#keyOptions });
  }

  async readUsage(cycleRef: CycleRef, options?: ReadOptions): Promise<UsageSnapshot> {
    readOptions(options); // validated, then ignored: Redis is never stale
    const ref = cycleRefFrom(cycleRef);
    const key = this.#keys.cycle(ref.userId, ref.cycle);
    const policyKey = this.#keys.policy(ref.userId);
    const keys = [key, policyKey, this.#keys.leases(ref.userId, ref.cycle), this.#keys.leaseTotal(ref.userId, ref.cycle)];
    const call = (): Promise<unknown> => this.#call('readUsage', key, readUsageScript, keys, []);
    let reply: unknown;
    try {
      reply = await call();
    } catch (error) {
      if (!this.#retryReadsOnTimeout || !(error instanceof Error && isCommandTimeout(error.cause))) throw error;
      reply = await call();
    }
    const [prompt, completion, total, cycleLimit, standingLimit, reserved, ...details] = reply as unknown[];
    return {
      promptTokens: parseCounter(prompt, key, 'prompt_tokens'),
      completionTokens: parseCounter(completion, key, 'completion_tokens'),
      totalTokens: parseCounter(total, key, 'total_tokens'),
      cycleLimit: parseLimit(cycleLimit, key),
      standingLimit: parseLimit(standingLimit, policyKey),
      reservedTokens: Number(reserved),
      ...parseDetails(details),
    };
  }

  async resetUsage(cycleRef: CycleRef): Promise<void> {
    const ref = cycleRefFrom(cycleRef);
    const key = this.#keys.cycle(ref.userId, ref.cycle);
    const client = this.#client('resetUsage');
    try {
      // One MULTI (one slot with hash tags): the counters go, usage_limit stays (an emptied hash
      // disappears by itself), the daily rollups go with them (history keeps summing to the
      // counters), and the alert thresholds are re-armed (so the cycle leaves the user's alerted cycles).
      const replies = await client
        .multi()
        .hdel(key, 'prompt_tokens', 'completion_tokens', 'total_tokens', 'other_tokens', ...DETAIL_FIELDS)
        .del(this.#keys.alerts(ref.userId, ref.cycle))
        .zrem(this.#keys.alertedCycles(ref.userId), ref.cycle)
        .del(this.#keys.daily(ref.userId, ref.cycle))
        .exec();
      const failed = replies?.find(([error]) => error !== null)?.[0];
      if (failed) throw failed;
      await this.#confirmed(client, key, 'resetUsage');
    } catch (error) {
      throw clientError(client, 'resetUsage', error, key);
    }
  }

  async setLimit(setLimitCommand: SetLimitCommand): Promise<void> {
    const command = setLimitCommandFrom(setLimitCommand);
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

  async reserve(reserveCommand: ReserveCommand): Promise<ReserveOutcome> {
    const command = reserveCommandFrom(reserveCommand);
    const { userId, cycle, lease } = command;
    const key = this.#keys.cycle(userId, cycle.start);
    const reply = await this.#call(
      'reserve',
      key,
      reserveScript,
      [key, this.#keys.policy(userId), this.#keys.leases(userId, cycle.start), this.#keys.leaseTotal(userId, cycle.start)],
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

  async releaseLease(releaseCommand: ReleaseCommand): Promise<boolean> {
    const command = releaseCommandFrom(releaseCommand);
    const key = this.#keys.leases(command.userId, command.cycle);
    const total = this.#keys.leaseTotal(command.userId, command.cycle);
    const reply = await this.#call('releaseLease', key, releaseLeaseScript, [key, total], [leaseMember(command.lease)]);
    return Number(reply) === 1;
  }

  async syncThresholds(command: SyncThresholdsCommand): Promise<SyncThresholdsOutcome> {
    const { userId, cycle } = command;
    const key = this.#keys.cycle(userId, cycle.start);
    const reply = await this.#call(
      'syncThresholds',
      key,
      syncThresholdsScript,
      [key, this.#keys.policy(userId), this.#keys.alerts(userId, cycle.start), this.#keys.alertedCycles(userId)],
      [unixSeconds(cycle.retainUntil), cycle.start, ...command.thresholdsPpm.map(String)],
    );
    const [used, limit, ...newly] = (reply as unknown[]).map(Number) as [number, number, ...number[]];
    return { currentUsage: used, limit: limit === -1 ? null : limit, newlyCrossedPpm: newly };
  }

  async alertedCycles(user: UserId): Promise<CycleStart[]> {
    const key = this.#keys.alertedCycles(user);
    let members: string[];
    try {
      // Scores are the cycles' retention (ms, this process's clock as the retention itself): a cycle
      // whose hash has expired is no longer alerted, though its member stays until the next claim.
      members = await this.#client('alertedCycles').zrangebyscore(key, `(${Date.now()}`, '+inf');
    } catch (error) {
      throw toUsageError('alertedCycles', error, key);
    }
    // Only dates this package wrote; anything else in the key is ignored rather than trusted.
    return members.filter((member) => DATE.test(member)) as CycleStart[];
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
      throw clientError(client, 'probe', error, key);
    }
  }

  /** An inspector on this store's clients and key layout (a Cluster: every master), for checks and sweeps. */
  createInspector(): RedisUsageInspector {
    return new RedisUsageInspector({ clients: this.#clients, ...this.#keyOptions });
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
    const client = this.#client(operation);
    const run = (client as unknown as Record<string, ScriptCall>)[script.name] as ScriptCall;
    let reply: unknown;
    try {
      reply =
        this.#coalescer !== undefined && CoalescingScriptCaller.batchable(script)
          ? await this.#coalescer.call(client, script, keys, args)
          : await run.call(client, ...paddedKeys(script, keys), ...args);
    } catch (error) {
      throw clientError(client, operation, error, errorKey);
    }
    if (script !== readUsageScript) await this.#confirmed(client, keys[0] ?? errorKey, operation);
    return reply;
  }

  /** With `replicaAck`: waits until enough replicas confirmed the write just made on `key`'s connection. */
  async #confirmed(client: Redis | Cluster, key: string, operation: string): Promise<void> {
    if (this.#replicaAck === undefined) return;
    try {
      await awaitReplicas(client, key, this.#replicaAck, operation);
    } catch (error) {
      throw clientError(client, operation, error, key);
    }
  }

}

interface RecordCall {
  /** The record script's keys: the cycle hash and its daily rollup, then only those it needs. */
  readonly keys: readonly [string, string, ...string[]];
  readonly args: readonly string[];
}

/**
 * The record script's 'TUR_CORRUPT daily' is about the rollup hash (KEYS[2]), not the cycle hash:
 * name that key and the day's field, so the error points at what to fix.
 */
function onRollupKey<E>(error: E, call: RecordCall): E | CorruptUsageDataError {
  if (!(error instanceof CorruptUsageDataError) || error.field !== 'daily') return error;
  const [daily, day] = [call.keys[1], call.args[5] ?? ''];
  return new CorruptUsageDataError(
    daily,
    'daily',
    `${daily} field ${day} is not prompt:completion:total of integers from 0 to ${Number.MAX_SAFE_INTEGER}, or this record ` +
      'would push one past it; nothing was written (verifyConsistency does not check rollups: fix or delete that field)',
    { cause: error },
  );
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

const DETAIL_FIELDS = ['cache_read_tokens', 'cache_write_tokens', 'reasoning_tokens'] as const;
const DETAIL_NAMES = ['cacheReadTokens', 'cacheWriteTokens', 'reasoningTokens'] as const;

/** ARGV[9..11] of the record script: the details, or nothing when there are none. */
function detailArgs(command: RecordUsageCommand): string[] {
  const { details } = command;
  return details === undefined ? [] : DETAIL_NAMES.map((name) => String(details[name] ?? 0));
}

/**
 * The detail fields of a read, each only when present and not 0 (so plain usage reads as before).
 * A corrupt detail is left out rather than failing the read: details never gate enforcement.
 */
function parseDetails(values: readonly unknown[]): UsageDetails {
  const details: { -readonly [K in keyof UsageDetails]: number } = {};
  DETAIL_NAMES.forEach((name, i) => {
    const value = Number(values[i] ?? 0);
    if (Number.isSafeInteger(value) && value > 0 && /^\d+$/.test(String(values[i]))) details[name] = value;
  });
  return details;
}

/** A lease as a sorted-set member; the tokens ride along so sums need no second key. */
function leaseMember(lease: LeaseRef): string {
  return `${lease.id}:${lease.tokens}`;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

function unixSeconds(epochMs: number | null): string {
  return epochMs === null ? '0' : String(Math.ceil(epochMs / 1000));
}
