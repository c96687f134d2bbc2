import { Redis } from 'ioredis';
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
