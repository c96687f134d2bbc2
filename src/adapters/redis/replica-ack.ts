import calculateSlot from 'cluster-key-slot';
import { Cluster } from 'ioredis';
import type { Redis } from 'ioredis';
import { StoreUnavailableError } from '../../domain/errors.js';

/** How many replicas must confirm a write before the store acknowledges it, and how long to wait. */
export interface ReplicaAck {
  readonly replicas: number;
  readonly timeoutMs: number;
}

/**
 * Sends `WAIT replicas timeout` on the connection that just wrote `key` (the client itself, or on a
 * Cluster the pooled connection to the key's owner, which carried the write) and throws
 * `StoreUnavailableError` when fewer replicas confirmed it: the write is applied on the master but
 * could be lost if that master failed now, so the caller may retry it with the same idempotency key.
 * A failed `WAIT` command rejects with the client's own error, for the caller to map.
 */
export async function awaitReplicas(client: Redis | Cluster, key: string, ack: ReplicaAck, operation: string): Promise<void> {
  const connection = client instanceof Cluster ? ownerConnection(client, key, operation) : client;
  const confirmed = Number(await connection.wait(ack.replicas, ack.timeoutMs));
  if (confirmed < ack.replicas) {
    throw new StoreUnavailableError(
      operation,
      `Redis failed: WAIT: ${confirmed} of ${ack.replicas} replicas confirmed the write within ${ack.timeoutMs} ms ` +
        '(applied on the master; retry with the same idempotency key)',
    );
  }
}

function ownerConnection(cluster: Cluster, key: string, operation: string): Redis {
  const owner = cluster.slots[calculateSlot(key)]?.[0];
  const node = cluster.nodes('master').find((candidate) => `${candidate.options.host}:${candidate.options.port}` === owner);
  if (node === undefined) throw new StoreUnavailableError(operation, `Redis failed: WAIT: no connection to the owner of ${key}`);
  return node;
}
