import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { batchParts, inParts } from '../../src/adapters/redis/cluster-batch.js';

const clients: (Redis | Cluster)[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect();
});

describe('batchParts: how a batch is split for one pipeline per node', () => {
  const keys = ['token_usage:{alice}:2024-01-01', 'token_usage:{bob}:2024-01-01', 'token_usage:{alice}:2024-02-01', 'token_usage:{carol}:2024-01-01'];

  it('on a single Redis: one part, in order', () => {
    const redis = new Redis({ lazyConnect: true });
    clients.push(redis);
    expect(batchParts(redis, keys)).toEqual([[0, 1, 2, 3]]);
  });

  it("on a Cluster: one part per node group of the client's slot table, each in order", () => {
    const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
    clients.push(cluster);
    const slot = (key: string): number => calculateSlot(key);
    cluster.slots[slot(keys[0] as string)] = ['127.0.0.1:7000', '127.0.0.1:7003'];
    cluster.slots[slot(keys[1] as string)] = ['127.0.0.1:7001', '127.0.0.1:7004'];
    cluster.slots[slot(keys[3] as string)] = ['127.0.0.1:7000', '127.0.0.1:7003'];
    expect(batchParts(cluster, keys)).toEqual([[0, 2, 3], [1]]);
  });

  it('on a Cluster whose slot table is still unknown: one part per slot', () => {
    const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
    clients.push(cluster);
    expect(batchParts(cluster, keys)).toEqual([[0, 2], [1], [3]]);
  });
});

describe('inParts: one pipeline per part, answers back in order', () => {
  const parts = [[0, 2], [1], [3]];
  const run = (failing: number[]) => async (part: readonly number[]) => {
    if (part.some((i) => failing.includes(i))) throw new Error(`part ${part.join(',')} failed`);
    return part.map((i) => `ok ${i}`);
  };

  it('puts each answer at its index, and a failed part as one failure per record, beside the others', async () => {
    expect(await inParts(parts, run([1]), (error) => `failed: ${(error as Error).message}`)).toEqual([
      'ok 0',
      'failed: part 1 failed',
      'ok 2',
      'ok 3',
    ]);
  });

  it('rejects when every part failed', async () => {
    await expect(inParts(parts, run([0, 1, 3]), () => 'failed')).rejects.toThrow(/part .* failed/);
  });
});
