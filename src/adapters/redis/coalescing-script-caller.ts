import type { Cluster, Redis } from 'ioredis';
import { applyBatchScript, BATCHABLE, callShape } from './scripts/apply-batch.js';
import { type BatchableScript, paddedKeys, type RedisScript } from './scripts/script.js';

type ScriptCall = (...keysThenArgs: (string | number)[]) => Promise<unknown>;

/** The error of one call in a batch: the message its own script would have failed with. */
export class BatchedCallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BatchedCallError';
  }
}

interface Pending {
  readonly kind: string;
  readonly script: BatchableScript;
  readonly keys: readonly string[];
  readonly args: readonly string[];
  readonly resolve: (reply: unknown) => void;
  readonly reject: (error: unknown) => void;
}

const KIND_OF = new Map(Object.entries(BATCHABLE).map(([kind, script]) => [script.name, kind]));

/** The Redis Cluster hash tag of a key (what its slot is computed from), or null when it has none. */
export function hashTagOf(key: string): string | null {
  const open = key.indexOf('{');
  if (open === -1) return null;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : null;
}

/**
 * Sends the record and reserve script calls issued in one event-loop turn on one connection as one
 * `turApplyBatchV3` call, which applies them in order, each as its own script would, with a reply per
 * call; each caller's promise settles only after Redis replied. A batch of one is the plain script
 * call; batches hold at most `maxBatch` calls, and a turn's calls are split into a few batches
 * (`batchSize`) so that Redis and Node overlap. On a Cluster, calls are grouped by hash tag (one tag,
 * one slot), and a call whose keys carry no tag goes alone. A failed batch call (connection lost,
 * timeout) rejects every call in it, as each plain call would have failed: any subset may have been
 * applied, so idempotency keys and retries keep their meaning per call.
 */
export class CoalescingScriptCaller {
  readonly #maxBatch: number;
  readonly #queues = new Map<Redis | Cluster, Map<string, Pending[]>>();

  constructor(options: { readonly maxBatch: number }) {
    if (!Number.isSafeInteger(options.maxBatch) || options.maxBatch < 1) throw new TypeError('maxBatch must be a positive integer');
    this.#maxBatch = options.maxBatch;
  }

  /** Whether calls of this script can be coalesced. */
  static batchable(script: RedisScript): boolean {
    return KIND_OF.has(script.name);
  }

  /** Queues one script call on `client` for the end of this turn; resolves with the script's own reply. */
  call(client: Redis | Cluster, script: RedisScript, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    const kind = KIND_OF.get(script.name);
    const cluster = isCluster(client);
    const group = cluster ? hashTagOf(keys[0] ?? '') : '';
    if (kind === undefined || group === null || (cluster && keys.some((key) => hashTagOf(key) !== group))) {
      return plain(client, script, keys, args);
    }
    return new Promise((resolve, reject) => {
      let groups = this.#queues.get(client);
      if (groups === undefined) {
        groups = new Map();
        this.#queues.set(client, groups);
        // setImmediate, not a microtask: callers resuming from one socket read take several promise
        // hops before they call again; all of them are queued by the time the check phase runs.
        setImmediate(() => this.#flush(client));
      }
      let queue = groups.get(group);
      if (queue === undefined) {
        queue = [];
        groups.set(group, queue);
      }
      queue.push({ kind, script: BATCHABLE[kind] as BatchableScript, keys, args, resolve, reject });
    });
  }

  #flush(client: Redis | Cluster): void {
    const groups = this.#queues.get(client);
    this.#queues.delete(client);
    for (const queue of groups?.values() ?? []) {
      const size = batchSize(queue.length, this.#maxBatch);
      for (let start = 0; start < queue.length; start += size) {
        send(client, queue.slice(start, start + size));
      }
    }
  }
}

/** A turn's calls go as up to this many batches (when each still holds MIN_SPLIT_BATCH calls). */
const SPLIT_INTO = 4;
const MIN_SPLIT_BATCH = 8;

/**
 * The batch size for `queued` calls of one turn. One batch per turn would make Node and Redis take
 * turns (Redis applies the batch while Node waits, then Node handles every reply while Redis idles);
 * a few smaller batches overlap them: Redis applies the next while Node reads the previous reply and
 * its callers queue the next turn's calls (about 1.4x the records/s at 64 in flight in a side-by-side
 * run). Past SPLIT_INTO * maxBatch calls there are more batches anyway.
 */
export function batchSize(queued: number, maxBatch: number): number {
  return Math.min(maxBatch, Math.max(MIN_SPLIT_BATCH, Math.ceil(queued / SPLIT_INTO)));
}

function send(client: Redis | Cluster, batch: Pending[]): void {
  if (batch.length === 1) {
    const only = batch[0]!;
    plain(client, only.script, only.keys, only.args).then(only.resolve, only.reject);
    return;
  }
  const keys: string[] = [];
  const argv: string[] = [String(batch.length)];
  for (const call of batch) {
    keys.push(...call.keys);
    argv.push(callShape(call.kind, call.keys.length, call.args.length), ...call.args);
  }
  const run = (client as unknown as Record<string, ScriptCall>)[applyBatchScript.name] as ScriptCall;
  run.call(client, keys.length, ...keys, ...argv).then(
    (reply) => settle(batch, reply as unknown[]),
    (error: unknown) => {
      for (const call of batch) call.reject(error);
    },
  );
}

/** Splits the batch script's flat reply (per call: 1 and its reply's elements, or 0 and an error). */
function settle(batch: readonly Pending[], replies: readonly unknown[]): void {
  let at = 0;
  for (const call of batch) {
    const status = replies[at];
    if (Number(status) === 1) {
      call.resolve(replies.slice(at + 1, at + 1 + call.script.replyWidth));
      at += 1 + call.script.replyWidth;
    } else {
      call.reject(new BatchedCallError(status === undefined ? 'no reply for this call in the batch' : String(replies[at + 1])));
      at += 2;
    }
  }
}

function plain(client: Redis | Cluster, script: RedisScript, keys: readonly string[], args: readonly string[]): Promise<unknown> {
  const run = (client as unknown as Record<string, ScriptCall>)[script.name] as ScriptCall;
  return run.call(client, ...paddedKeys(script, keys), ...args);
}

function isCluster(client: Redis | Cluster): boolean {
  return (client as { isCluster?: boolean }).isCluster === true;
}
