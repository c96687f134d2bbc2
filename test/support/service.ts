import { InMemoryUsageStore } from '../../src/adapters/memory/in-memory-usage-store.js';
import { DEFAULT_CONFIG } from '../../src/application/config.js';
import type { TokenUsageConfigInput } from '../../src/application/config.js';
import { createTokenUsageRepository } from '../../src/application/di/create.js';
import { CycleCalendar } from '../../src/domain/billing-cycle.js';
import type { UsageStore } from '../../src/ports/usage-store.js';
import { buildServer } from '../../src/service/build-server.js';
import type { ServerConfig } from '../../src/service/server-config.js';
import { FakeClock } from './fake-clock.js';

/** The bearer secrets the test servers know. */
export const SECRETS = {
  record: 'record-key-0123456789',
  read: 'read-key-0123456789ab',
  admin: 'admin-key-0123456789a',
  alice: 'alice-token-012345678',
} as const;

/** A server config with one key per scope and a user token for `alice`. */
export function testServerConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  return {
    host: '127.0.0.1',
    port: 0,
    apiKeys: [
      { name: 'app', key: SECRETS.record, scopes: ['record'] },
      { name: 'viewer', key: SECRETS.read, scopes: ['read'] },
      { name: 'ops', key: SECRETS.admin, scopes: ['admin'] },
    ],
    userTokens: [{ userId: 'alice', token: SECRETS.alice }],
    reservationSecret: 'a-test-reservation-secret-0123',
    closeTimeoutMs: 5_000,
    maxEventLoopDelayMs: 0,
    bodyLimitBytes: 65_536,
    logLevel: 'silent',
    requestLogging: false,
    ...overrides,
  };
}

/** A service on an in-memory store (or the given one) on a fake clock at 2024-01-15. */
export async function testServer(options: { store?: UsageStore; config?: TokenUsageConfigInput; server?: Partial<ServerConfig>; logger?: unknown } = {}) {
  const clock = new FakeClock('2024-01-15T12:00:00Z');
  const store = options.store ?? new InMemoryUsageStore({ clock });
  const cycle = { ...DEFAULT_CONFIG.cycle, ...options.config?.cycle };
  const { app, repository } = await buildServer({
    config: testServerConfig(options.server),
    calendar: new CycleCalendar(clock, cycle),
    createRepository: (logger) => createTokenUsageRepository({ config: { store: 'memory', ...options.config }, store, clock, logger }),
    logger: (options.logger as false | undefined) ?? false,
  });
  return { app, repository, store, clock };
}

/** `Authorization` header for a secret. */
export function bearer(secret: string): { authorization: string } {
  return { authorization: `Bearer ${secret}` };
}
