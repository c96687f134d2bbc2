import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { BatchedCallError, batchSize, CoalescingScriptCaller, hashTagOf } from '../../src/adapters/redis/coalescing-script-caller.js';
import { applyBatchScript } from '../../src/adapters/redis/scripts/apply-batch.js';
import { readUsageScript } from '../../src/adapters/redis/scripts/read-usage.js';
import { recordUsageScript } from '../../src/adapters/redis/scripts/record-usage.js';
import { reserveScript } from '../../src/adapters/redis/scripts/reserve.js';

type Sent = { command: string; args: (string | number)[] };

/**
 * A client that answers each plain call with its arguments and each batch call per `answer`: a call
 * answered `[1, x]` replies `[x, null, 'v2', ...]`, as wide as its script's reply (a nil inside it included).
 */
function fakeClient(options: { cluster?: boolean; failBatch?: Error; answer?: (i: number) => [number, unknown] } = {}) {
  const sent: Sent[] = [];
  const client: Record<string, unknown> = { isCluster: options.cluster ?? false };
  for (const name of [recordUsageScript.name, reserveScript.name, readUsageScript.name]) {
    client[name] = async (...args: (string | number)[]) => {
      sent.push({ command: name, args });
      return ['plain', ...args];
    };
  }
  client[applyBatchScript.name] = async (...args: (string | number)[]) => {
    sent.push({ command: applyBatchScript.name, args });
    if (options.failBatch !== undefined) throw options.failBatch;
    // The flat reply of turApplyBatchV3: per call 1 and as many values as its script replies, or 0 and an error.
    let at = 1 + Number(args[0]);
    const n = Number(args[at]);
    at += 1;
    const flat: unknown[] = [];
    for (let i = 0; i < n; i += 1) {
      const [kind, , argCount] = String(args[at]).split(':');
      const width = kind === 'r' ? recordUsageScript.replyWidth : reserveScript.replyWidth;
      at += 1 + Number(argCount);
      const [ok, value] = options.answer?.(i) ?? [1, `reply ${i}`];
      if (ok === 1) flat.push(1, value, ...Array.from({ length: width - 1 }, (_, j) => (j === 0 ? null : `v${j + 1}`)));
      else flat.push(0, value);
    }
    return flat;
  };
  return { client: client as unknown as Redis, sent };
}

describe('CoalescingScriptCaller', () => {
  it('sends the calls of one turn as one batch, in order, with each call shape (kind, key count, argument count) and arguments', async () => {
    const { client, sent } = fakeClient();
    const caller = new CoalescingScriptCaller({ maxBatch: 10 });
    const replies = await Promise.all([
      caller.call(client, recordUsageScript, ['a', 'b'], ['1', '2']),
      caller.call(client, reserveScript, ['c'], ['3']),
      caller.call(client, recordUsageScript, ['d'], []),
    ]);
    expect(replies).toEqual([
      ['reply 0', null, 'v2', 'v3'],
      ['reply 1', null, 'v2', 'v3', 'v4'],
      ['reply 2', null, 'v2', 'v3'],
    ]);
    expect(sent).toEqual([
      { command: applyBatchScript.name, args: [4, 'a', 'b', 'c', 'd', '3', 'r:2:2', '1', '2', 's:1:1', '3', 'r:1:0'] },
    ]);
  });

  it('sends a batch of one as the plain script call, and calls of later turns in later batches', async () => {
    const { client, sent } = fakeClient();
    const caller = new CoalescingScriptCaller({ maxBatch: 10 });
    // The plain call takes the script's full key count: keys left out are its first key, the placeholder.
    expect(await caller.call(client, recordUsageScript, ['a', 'b'], ['1'])).toEqual(['plain', 'a', 'b', 'a', 'a', 'a', 'a', '1']);
    expect(await caller.call(client, reserveScript, ['b', 'c', 'd', 'e'], ['2'])).toEqual(['plain', 'b', 'c', 'd', 'e', '2']);
    expect(sent.map((s) => s.command)).toEqual([recordUsageScript.name, reserveScript.name]);
  });

  it('never batches a script it cannot apply in a batch', async () => {
    const { client, sent } = fakeClient();
    const caller = new CoalescingScriptCaller({ maxBatch: 10 });
    await Promise.all([caller.call(client, readUsageScript, ['a'], []), caller.call(client, readUsageScript, ['b'], [])]);
    expect(sent.map((s) => s.command)).toEqual([readUsageScript.name, readUsageScript.name]);
  });

  it('holds at most maxBatch calls per batch', async () => {
    const { client, sent } = fakeClient();
    const caller = new CoalescingScriptCaller({ maxBatch: 3 });
    const replies = await Promise.all(Array.from({ length: 7 }, (_, i) => caller.call(client, recordUsageScript, [`k${i}`], [])));
    expect(sent.map((s) => s.command)).toEqual([applyBatchScript.name, applyBatchScript.name, recordUsageScript.name]);
    const wide = (i: number) => [`reply ${i}`, null, 'v2', 'v3'];
    expect(replies).toEqual([wide(0), wide(1), wide(2), wide(0), wide(1), wide(2), ['plain', ...Array.from({ length: 6 }, () => 'k6')]]);
  });

  it('rejects only the call its script refused, with that script error', async () => {
    const { client } = fakeClient({ answer: (i) => (i === 1 ? [0, 'TUR_CORRUPT total_tokens'] : [1, 'ok']) });
    const caller = new CoalescingScriptCaller({ maxBatch: 10 });
    const results = await Promise.allSettled([0, 1, 2].map((i) => caller.call(client, recordUsageScript, [`k${i}`], [])));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const reason = (results[1] as PromiseRejectedResult).reason as Error;
    expect(reason).toBeInstanceOf(BatchedCallError);
    expect(reason.message).toBe('TUR_CORRUPT total_tokens');
  });

  it('rejects every call of a batch whose round trip failed, with the error a plain call would get', async () => {
    const lost = new Error('Connection is closed.');
    const { client } = fakeClient({ failBatch: lost });
    const caller = new CoalescingScriptCaller({ maxBatch: 10 });
    const results = await Promise.allSettled([0, 1, 2].map((i) => caller.call(client, reserveScript, [`k${i}`], [])));
    expect(results.map((r) => (r as PromiseRejectedResult).reason)).toEqual([lost, lost, lost]);
  });

  it('on a Cluster groups calls by hash tag, and sends calls without one (or with mixed tags) alone', async () => {
    const { client, sent } = fakeClient({ cluster: true });
    const caller = new CoalescingScriptCaller({ maxBatch: 10 });
    await Promise.all([
      caller.call(client, recordUsageScript, ['p:{u1}:a', 'p:{u1}:b'], []),
      caller.call(client, recordUsageScript, ['p:{u2}:a'], []),
      caller.call(client, recordUsageScript, ['p:{u1}:c'], []),
      caller.call(client, recordUsageScript, ['p:u3:a'], []),
      caller.call(client, recordUsageScript, ['p:{u4}:a', 'p:{u5}:a'], []),
      caller.call(client, recordUsageScript, ['p:{u2}:b'], []),
    ]);
    const batches = sent.filter((s) => s.command === applyBatchScript.name).map((s) => s.args.slice(1, 1 + Number(s.args[0])));
    expect(batches).toEqual([
      ['p:{u1}:a', 'p:{u1}:b', 'p:{u1}:c'],
      ['p:{u2}:a', 'p:{u2}:b'],
    ]);
    expect(sent.filter((s) => s.command === recordUsageScript.name).map((s) => s.args[0])).toEqual(['p:u3:a', 'p:{u4}:a']);
  });

  it('splits a large turn into a few batches (so Redis and Node overlap), never below 8 calls nor above maxBatch', async () => {
    expect([1, 8, 20, 64, 100, 512, 5_000].map((n) => batchSize(n, 128))).toEqual([8, 8, 8, 16, 25, 128, 128]);
    expect(batchSize(64, 10)).toBe(10);
    const { client, sent } = fakeClient();
    const caller = new CoalescingScriptCaller({ maxBatch: 128 });
    await Promise.all(Array.from({ length: 64 }, (_, i) => caller.call(client, recordUsageScript, [`k${i}`], [])));
    // 4 batches of 16, in order.
    const batches = sent.map((s) => s.args.slice(1, 1 + Number(s.args[0])));
    expect(batches.map((keys) => keys.length)).toEqual([16, 16, 16, 16]);
    expect(batches.flat()).toEqual(Array.from({ length: 64 }, (_, i) => `k${i}`));
  });

  it('reads hash tags as Redis does', () => {
    expect(hashTagOf('a:{user}:b')).toBe('user');
    expect(hashTagOf('a:{}:b{x}')).toBeNull();
    expect(hashTagOf('a:b')).toBeNull();
    expect(hashTagOf('{a}{b}')).toBe('a');
  });
});
