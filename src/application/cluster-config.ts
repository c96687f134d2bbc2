import { ConfigError } from '../domain/errors.js';
import type { ClusterSeed } from '../adapters/redis/redis-connection.js';

/**
 * Validates Redis Cluster seed nodes: an array of `{ host, port }` or `host:port` strings, or one
 * comma-separated string of them (`REDIS_CLUSTER_NODES=redis-a:7000,redis-b:7000`). Throws
 * `ConfigError` naming `name`. A few reachable nodes are enough: the client learns the rest.
 */
export function clusterSeeds(value: unknown, name: string): ClusterSeed[] {
  if (value === undefined) return [];
  const items: unknown[] = typeof value === 'string' ? value.split(',').map((part) => part.trim()).filter(Boolean) : (value as unknown[]);
  if (!Array.isArray(items)) throw new ConfigError(name, 'must be a list of host:port');
  return items.map((item) => {
    if (typeof item === 'string') {
      const match = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(item);
      if (match === null) throw new ConfigError(name, `must be host:port, got ${JSON.stringify(item)}`);
      return seed(match[1] as string, Number(match[2]), name);
    }
    const candidate = item as Partial<ClusterSeed> | null;
    if (candidate === null || typeof candidate !== 'object' || typeof candidate.host !== 'string') {
      throw new ConfigError(name, 'must list { host, port } or "host:port" entries');
    }
    return seed(candidate.host, Number(candidate.port), name);
  });
}

function seed(host: string, port: number, name: string): ClusterSeed {
  if (host.trim() === '') throw new ConfigError(name, 'a node has an empty host');
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new ConfigError(name, `port must be 1..65535, got ${port}`);
  return { host: host.replace(/^\[|\]$/g, ''), port };
}
