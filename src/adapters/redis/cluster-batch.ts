import calculateSlot from 'cluster-key-slot';
import { Cluster } from 'ioredis';
import type { Redis } from 'ioredis';

/**
 * Splits a batch into the parts one pipeline can carry: everything for a single Redis, and on a
 * Cluster one part per node group (ioredis refuses a pipeline whose keys live on different nodes),
 * by the client's current slot table; a slot it does not know yet is a part of its own. Each part
 * lists indexes into `keys` (one routing key per command), in order.
 */
export function batchParts(client: Redis | Cluster, keys: readonly string[]): number[][] {
  if (!(client instanceof Cluster)) return [keys.map((_, i) => i)];
  const parts = new Map<string, number[]>();
  keys.forEach((key, i) => {
    const slot = calculateSlot(key);
    const nodes = client.slots[slot];
    const group = nodes === undefined || nodes.length === 0 ? `slot ${slot}` : nodes.join(';');
    const part = parts.get(group);
    if (part === undefined) parts.set(group, [i]);
    else part.push(i);
  });
  return [...parts.values()];
}

/**
 * Runs each part (in parallel) and puts the answers back in the batch's order; a part that failed
 * answers `failed(error)` for each of its commands. Rejects only when every part failed.
 */
export async function inParts<T>(
  parts: readonly number[][],
  run: (part: readonly number[]) => Promise<T[]>,
  failed: (error: unknown) => T,
): Promise<T[]> {
  const settled = await Promise.allSettled(parts.map(run));
  const rejected = settled.find((outcome) => outcome.status === 'rejected');
  if (rejected !== undefined && settled.every((outcome) => outcome.status === 'rejected')) throw rejected.reason;
  const results: T[] = [];
  settled.forEach((outcome, p) => {
    (parts[p] as number[]).forEach((index, j) => {
      results[index] = outcome.status === 'fulfilled' ? (outcome.value[j] as T) : failed(outcome.reason);
    });
  });
  return results;
}
