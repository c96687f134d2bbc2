import { Cluster } from 'ioredis';
import type { Redis } from 'ioredis';
import type {
  InspectedRecord,
  InspectedTarget,
  RepairCommand,
  RepairOutcome,
  ScanCyclesOptions,
  UsageInspector,
} from '../../ports/usage-inspector.js';
import { createKeyBuilder } from './keys.js';
import type { KeyBuilder, KeyOptions } from './keys.js';
import { toUsageError } from './redis-errors.js';
import { repairHashScript } from './scripts/repair-hash.js';

type ScriptCall = (...keysThenArgs: string[]) => Promise<unknown>;

/** Options of a {@link RedisUsageInspector}: the same clients and key layout as the `RedisUsageStore`. */
export interface RedisUsageInspectorOptions extends KeyOptions {
  /** ioredis clients of one Redis server, or a `Cluster`; the first one is used. */
  readonly clients: readonly (Redis | Cluster)[];
}

/**
 * A `UsageInspector` on Redis: SCAN with MATCH and COUNT (never KEYS), one pipelined round trip of
 * HGETALLs per page, and a compare-and-set Lua script per repair. On a Cluster it scans every master
 * of the topology current when the scan starts, one after the other, reads each page through the
 * Cluster client (each key from its owner, following redirections) and sends each repair to the
 * key's owner; a key that a reshard moves while the scan runs may be missed by that run. The clients
 * are borrowed: closing them is the owner's job.
 */
export class RedisUsageInspector implements UsageInspector {
  readonly #client: Redis | Cluster;
  readonly #keys: KeyBuilder;

  constructor(options: RedisUsageInspectorOptions) {
    const client = options.clients[0];
    if (client === undefined) throw new TypeError('RedisUsageInspector needs at least one client');
    this.#client = client;
    this.#keys = createKeyBuilder(options);
    client.defineCommand(repairHashScript.name, { numberOfKeys: repairHashScript.numberOfKeys, lua: repairHashScript.lua });
  }

  async *scanCycles(options: ScanCyclesOptions): AsyncIterable<readonly InspectedRecord[]> {
    const { batchSize } = options;
    const match = this.#keys.cyclePattern(options.cycle);
    // SCAN may return a key more than once (while the table rehashes): remember keys, not records.
    const seen = new Set<string>();
    let pending: InspectedTarget[] = [];
    let pendingKeys: string[] = [];
    const nodes = await this.#scanNodes();
    for (const [n, node] of nodes.entries()) {
      let cursor = '0';
      do {
        let reply: [cursor: string, keys: string[]];
        try {
          reply = await node.scan(cursor, 'MATCH', match, 'COUNT', batchSize);
        } catch (error) {
          throw toUsageError('scanCycles', error, match);
        }
        cursor = reply[0];
        const lastPage = cursor === '0' && n === nodes.length - 1;
        for (const key of reply[1]) {
          if (seen.has(key)) continue;
          seen.add(key);
          const parsed = this.#keys.parseCycleKey(key);
          if (parsed === null) continue; // matched the glob but is no key of ours (e.g. an impossible date)
          pending.push({ kind: 'cycle', ...parsed });
          pendingKeys.push(key);
        }
        while (pending.length >= batchSize || (lastPage && pending.length > 0)) {
          const records = await this.#readPage(pending.slice(0, batchSize), pendingKeys.slice(0, batchSize));
          pending = pending.slice(batchSize);
          pendingKeys = pendingKeys.slice(batchSize);
          if (records.length > 0) yield records;
        }
      } while (cursor !== '0');
    }
  }

  /** The server to scan, or every master of the Cluster (connecting it first when needed). */
  async #scanNodes(): Promise<Redis[]> {
    const client = this.#client;
    if (!(client instanceof Cluster)) return [client];
    try {
      // Any command waits for the slot table; PING needs no key.
      if (client.status !== 'ready') await client.ping();
    } catch (error) {
      throw toUsageError('scanCycles', error, '');
    }
    const masters = client.nodes('master');
    if (masters.length === 0) throw toUsageError('scanCycles', new Error('the Redis Cluster has no master'), '');
    return masters;
  }

  async readRecord(target: InspectedTarget): Promise<InspectedRecord | null> {
    const [record] = await this.#readPage([target], [this.#key(target)]);
    return record ?? null;
  }

  async repairRecord(command: RepairCommand): Promise<RepairOutcome> {
    const key = this.#key(command.target);
    const expected = Object.entries(command.expected);
    const changes = Object.entries(command.changes);
    const args = [String(expected.length), String(changes.length)];
    for (const [field, value] of [...expected, ...changes]) args.push(field, value === null ? '-' : `=${value}`);
    const client = this.#client as unknown as Record<string, ScriptCall>;
    try {
      const reply = await (client[repairHashScript.name] as ScriptCall).call(client, key, ...args);
      return Number(reply) === 1 ? 'applied' : 'changed-concurrently';
    } catch (error) {
      throw toUsageError('repairRecord', error, key);
    }
  }

  /** HGETALL of every key in one pipeline; a key of another type is asked its TYPE; a vanished key is left out. */
  async #readPage(targets: readonly InspectedTarget[], keys: readonly string[]): Promise<InspectedRecord[]> {
    const replies = await this.#exec('readRecords', keys, (pipeline, key) => pipeline.hgetall(key));
    const records: (InspectedRecord | null)[] = [];
    const wrongType: number[] = [];
    replies.forEach(([error, fields], i) => {
      const target = targets[i] as InspectedTarget;
      const key = keys[i] as string;
      if (error !== null) {
        if (!error.message.includes('WRONGTYPE')) throw toUsageError('readRecords', error, key);
        wrongType.push(i);
        records.push(null);
      } else {
        const hash = fields as Record<string, string>;
        records.push(Object.keys(hash).length === 0 ? null : { target, key, type: 'hash', fields: hash });
      }
    });
    if (wrongType.length > 0) {
      const wrongKeys = wrongType.map((i) => keys[i] as string);
      const types = await this.#exec('readRecords', wrongKeys, (pipeline, key) => pipeline.type(key));
      wrongType.forEach((index, j) => {
        const [error, type] = types[j] ?? [null, 'unknown'];
        const actualType = error === null ? String(type) : 'unknown';
        if (actualType === 'none') return; // deleted in between: nothing to report
        records[index] = { target: targets[index] as InspectedTarget, key: keys[index] as string, type: 'wrong-type', actualType };
      });
    }
    return records.filter((record): record is InspectedRecord => record !== null);
  }

  async #exec(
    operation: string,
    keys: readonly string[],
    queue: (pipeline: ReturnType<Redis['pipeline']>, key: string) => unknown,
  ): Promise<[Error | null, unknown][]> {
    const client = this.#client;
    if (client instanceof Cluster) {
      // Keys of one page may live on several nodes: one pipeline per key, each routed to its owner.
      return Promise.all(keys.map(async (key) => (await this.#pipeline(client, operation, [key], queue))[0] ?? [null, null]));
    }
    return this.#pipeline(client, operation, keys, queue);
  }

  async #pipeline(
    client: Redis | Cluster,
    operation: string,
    keys: readonly string[],
    queue: (pipeline: ReturnType<Redis['pipeline']>, key: string) => unknown,
  ): Promise<[Error | null, unknown][]> {
    const pipeline = client.pipeline();
    for (const key of keys) queue(pipeline, key);
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await pipeline.exec();
    } catch (error) {
      throw toUsageError(operation, error, keys[0] ?? '');
    }
    if (replies === null) throw toUsageError(operation, new Error('pipeline was not executed'), keys[0] ?? '');
    return replies;
  }

  #key(target: InspectedTarget): string {
    return target.kind === 'cycle' ? this.#keys.cycle(target.userId, target.cycle) : this.#keys.policy(target.userId);
  }
}
