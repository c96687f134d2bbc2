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
  /** ioredis clients of one Redis server (not a Cluster); the first one runs the scan. */
  readonly clients: readonly Redis[];
}

/**
 * A `UsageInspector` on one Redis server: SCAN with MATCH and COUNT (never KEYS), one pipelined
 * round trip of HGETALLs per page, and a compare-and-set Lua script per repair. The clients are
 * borrowed: closing them is the owner's job. For a Cluster, scan each master (`cluster.nodes('master')`).
 */
export class RedisUsageInspector implements UsageInspector {
  readonly #client: Redis;
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
    let cursor = '0';
    do {
      let reply: [cursor: string, keys: string[]];
      try {
        reply = await this.#client.scan(cursor, 'MATCH', match, 'COUNT', batchSize);
      } catch (error) {
        throw toUsageError('scanCycles', error, match);
      }
      cursor = reply[0];
      for (const key of reply[1]) {
        if (seen.has(key)) continue;
        seen.add(key);
        const parsed = this.#keys.parseCycleKey(key);
        if (parsed === null) continue; // matched the glob but is no key of ours (e.g. an impossible date)
        pending.push({ kind: 'cycle', ...parsed });
        pendingKeys.push(key);
      }
      while (pending.length >= batchSize || (cursor === '0' && pending.length > 0)) {
        const records = await this.#readPage(pending.slice(0, batchSize), pendingKeys.slice(0, batchSize));
        pending = pending.slice(batchSize);
        pendingKeys = pendingKeys.slice(batchSize);
        if (records.length > 0) yield records;
      }
    } while (cursor !== '0');
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
    const pipeline = this.#client.pipeline();
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
