#!/usr/bin/env node
import { systemClock } from '../adapters/system-clock.js';
import { createTokenUsageRepository } from '../application/di/create.js';
import { configFromEnv, ENV_NAMES } from '../application/env-config.js';
import { CycleCalendar } from '../domain/billing-cycle.js';
import { buildServer } from './build-server.js';
import { serverConfigFromEnv } from './server-config.js';

// `npx token-usage-server` / `npm start`: the HTTP service, configured from the environment.
const env = process.env;
const set = (name: string): boolean => (env[name]?.trim() ?? '') !== '';
// With no store configured at all, run embedded on the in-memory store rather than fail to reach localhost Redis.
const embedded = !set(ENV_NAMES.store) && !set(ENV_NAMES.url) && !set(ENV_NAMES.host);
const storeEnv = embedded ? { ...env, [ENV_NAMES.store]: 'memory' } : env;

let started: Awaited<ReturnType<typeof buildServer>>;
try {
  const storeConfig = configFromEnv(storeEnv);
  const config = serverConfigFromEnv(env);
  started = await buildServer({
    config,
    calendar: new CycleCalendar(systemClock, storeConfig.cycle),
    createRepository: (logger) => createTokenUsageRepository({ env: storeEnv, logger }),
  });
  const { app } = started;
  if (embedded) {
    app.log.warn(
      'EMBEDDED IN-MEMORY STORE: nothing persists, every restart loses all usage and limits, and replicas do not share data. Set REDIS_URL for production.',
    );
  }
  await app.listen({ host: config.host, port: config.port });
  installSignalHandlers(started.app, config.closeTimeoutMs);
} catch (error) {
  const { code, message } = error as { code?: string; message?: string };
  process.stderr.write(`token-usage-server: cannot start: ${code === undefined ? '' : `${code} `}${message ?? String(error)}\n`);
  process.exit(1);
}

/**
 * SIGTERM/SIGINT: stop accepting (new requests get 503), let in-flight requests finish, then flush
 * the buffered recorder and close Redis (the app's onClose hook), then exit 0. A close that hangs
 * past the timeout exits 1 rather than hold the pod forever.
 */
function installSignalHandlers(app: typeof started.app, closeTimeoutMs: number): void {
  let closing = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down: draining requests, flushing buffered records');
    const timer = setTimeout(() => {
      app.log.error({ closeTimeoutMs }, 'shutdown timed out');
      process.exit(1);
    }, closeTimeoutMs + 5_000);
    timer.unref();
    app.close().then(
      () => {
        app.log.info('closed cleanly');
        process.exit(0);
      },
      (error: unknown) => {
        app.log.error({ err: { message: (error as Error).message } }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}
