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
