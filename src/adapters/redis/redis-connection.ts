import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import type { Logger } from '../../ports/logger.js';

/** Where and how to connect to Redis. */
export interface RedisConnectionOptions {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  /** Use TLS (`rediss://`). */
  readonly tls: boolean;
  /** Give up connecting after this long. */
  readonly connectTimeoutMs: number;
  /** Fail a command that has no reply after this long, so no call waits forever. */
  readonly commandTimeoutMs: number;
}

/**
 * Creates a lazily connecting ioredis client that never waits forever and never re-sends a command
 * that may already have run (a re-sent increment would count twice).
 */
export function createRedisClient(options: RedisConnectionOptions, logger: Logger): Redis {
  const client = new Redis({
    host: options.host,
    port: options.port,
    db: options.db,
    ...(options.username === undefined ? {} : { username: options.username }),
    ...(options.password === undefined ? {} : { password: options.password }),
    ...(options.tls ? { tls: { servername: options.host } } : {}),
    lazyConnect: true,
    connectTimeout: options.connectTimeoutMs,
    commandTimeout: options.commandTimeoutMs,
    // A queued command fails after one failed reconnect instead of waiting in the offline queue.
    maxRetriesPerRequest: 1,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, 2_000),
    connectionName: 'token-usage-repository',
  });
  // Log connection trouble once per outage, not once per reconnect attempt; never the password.
  let healthy = true;
  client.on('error', (error: Error) => {
    if (!healthy) return;
    healthy = false;
    logger.warn({ err: { message: error.message }, host: options.host, port: options.port }, 'redis connection error');
  });
  client.on('ready', () => {
    if (!healthy) logger.info({ host: options.host, port: options.port }, 'redis connection restored');
    healthy = true;
  });
  return client;
}

/** A Redis Cluster node to start from (the client learns the rest from `CLUSTER SLOTS`). */
export interface ClusterSeed {
  readonly host: string;
  readonly port: number;
}

/**
 * Creates a lazily connecting ioredis `Cluster` with the same guarantees as {@link createRedisClient}:
 * no command waits forever, and a write whose connection dropped is never re-sent by the client
 * (see {@link neverResendWrites}); redirections (`MOVED`, `ASK`) and `TRYAGAIN`/`CLUSTERDOWN`, which
 * Redis answers without running the command, are still followed.
 */
export function createRedisClusterClient(seeds: readonly ClusterSeed[], options: RedisConnectionOptions, logger: Logger): Cluster {
  const cluster = new Cluster(
    seeds.map(({ host, port }) => ({ host, port })),
    {
      lazyConnect: true,
      redisOptions: {
        ...(options.username === undefined ? {} : { username: options.username }),
        ...(options.password === undefined ? {} : { password: options.password }),
        ...(options.tls ? { tls: {} } : {}),
        connectTimeout: options.connectTimeoutMs,
        commandTimeout: options.commandTimeoutMs,
        maxRetriesPerRequest: 1,
        autoResendUnfulfilledCommands: false,
        connectionName: 'token-usage-repository',
      },
      ...SAFE_CLUSTER_OPTIONS,
      // Learn a failover promptly even when no command was redirected yet.
      slotsRefreshInterval: 1_000,
    },
  );
  let healthy = true;
  cluster.on('error', (error: Error) => {
    if (!healthy) return;
    healthy = false;
    logger.warn({ err: { message: error.message }, seeds: seeds.map(({ host, port }) => `${host}:${port}`) }, 'redis cluster connection error');
  });
  cluster.on('ready', () => {
    if (!healthy) logger.info({}, 'redis cluster connection restored');
    healthy = true;
  });
  return cluster;
}

/**
 * The Cluster options that keep a write from running twice: ioredis re-sends a command whose node
 * connection closed (`retryDelayOnFailover` > 0), and that command may already have run.
 */
const SAFE_CLUSTER_OPTIONS: Pick<ClusterOptions, 'retryDelayOnFailover'> = { retryDelayOnFailover: 0 };

const GUARDED = new WeakSet<Cluster>();

/**
 * Turns off ioredis' re-sending of commands that may already have run, on a client someone else
 * built: `autoResendUnfulfilledCommands` on a `Redis` (re-sends after a reconnect), and on a `Cluster`
 * `retryDelayOnFailover` (re-sends after a node's connection closed) plus the re-send of each node
 * connection, current and future. A re-sent increment would count twice; a caller that wants retries
 * uses idempotency keys (`RetryingUsageStore`).
 */
export function neverResendWrites(client: Redis | Cluster): void {
  if (client instanceof Cluster) {
    if (GUARDED.has(client)) return; // one listener per Cluster, however many stores share it
    GUARDED.add(client);
    Object.assign(client.options, SAFE_CLUSTER_OPTIONS);
    const noResend = (node: Redis): void => {
      node.options.autoResendUnfulfilledCommands = false;
    };
    if (client.options.redisOptions !== undefined) (client.options.redisOptions as RedisOptions).autoResendUnfulfilledCommands = false;
    for (const node of client.nodes('all')) noResend(node);
    client.on('+node', noResend);
  } else {
    client.options.autoResendUnfulfilledCommands = false;
  }
}
