import { readFileSync } from 'node:fs';
import { ConfigError } from '../domain/errors.js';

/** What an API key may do. `read` covers stats, checks and history; `admin` limits, resets, verify and sweeps. */
export type Scope = 'record' | 'read' | 'admin';

/** Every scope, in the order they are listed in docs. */
export const SCOPES: readonly Scope[] = ['record', 'read', 'admin'];

/** A bearer API key for services and operators. */
export interface ApiKey {
  /** A label for logs (never the key itself). */
  readonly name: string;
  readonly key: string;
  readonly scopes: readonly Scope[];
}

/** A per-user read-only token for `GET /v1/me/usage`. */
export interface UserToken {
  readonly userId: string;
  readonly token: string;
}

/** The HTTP service's own settings (the store's come from `configFromEnv`). */
export interface ServerConfig {
  readonly host: string;
  readonly port: number;
  readonly apiKeys: readonly ApiKey[];
  readonly userTokens: readonly UserToken[];
  /** Signs reservation handles, so a handle cannot be forged or altered; share it between replicas. */
  readonly reservationSecret: string | undefined;
  /** How long a graceful close may take (drain + flush) before the process gives up. */
  readonly closeTimeoutMs: number;
  /** Under-pressure: shed load (503) past this event-loop delay, in ms; 0 turns it off. */
  readonly maxEventLoopDelayMs: number;
  readonly bodyLimitBytes: number;
  readonly logLevel: string;
  /** fastify's two `info` lines per request (incoming, completed). Off by default: they cost more than the route. */
  readonly requestLogging: boolean;
}

/** The environment variables read by {@link serverConfigFromEnv}. */
export const SERVER_ENV_NAMES = {
  host: 'TOKEN_USAGE_HOST',
  port: 'TOKEN_USAGE_PORT',
  apiKeys: 'TOKEN_USAGE_API_KEYS',
  userTokens: 'TOKEN_USAGE_USER_TOKENS',
  authFile: 'TOKEN_USAGE_AUTH_FILE',
  reservationSecret: 'TOKEN_USAGE_RESERVATION_SECRET',
  closeTimeoutMs: 'TOKEN_USAGE_CLOSE_TIMEOUT_MS',
  maxEventLoopDelayMs: 'TOKEN_USAGE_MAX_EVENT_LOOP_DELAY_MS',
  bodyLimitBytes: 'TOKEN_USAGE_BODY_LIMIT_BYTES',
  logLevel: 'TOKEN_STATS_LOG_LEVEL',
  requestLogging: 'TOKEN_USAGE_REQUEST_LOG',
} as const;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads the service settings. API keys: `TOKEN_USAGE_API_KEYS="name:scope+scope:key,..."`; user tokens:
 * `TOKEN_USAGE_USER_TOKENS="userId:token,..."` (the token is after the last colon); or both in a JSON
 * file named by `TOKEN_USAGE_AUTH_FILE` (`{ "apiKeys": [...], "userTokens": [...] }`), e.g. a mounted
 * Kubernetes secret. Throws `ConfigError` naming the variable.
 */
export function serverConfigFromEnv(env: Env = process.env): ServerConfig {
  const n = SERVER_ENV_NAMES;
  const text = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const int = (name: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number => {
    const value = text(name);
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value) || Number(value) > max) {
      throw new ConfigError(name, `must be a whole number up to ${max}, got ${JSON.stringify(value)}`);
    }
    return Number(value);
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const value = text(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(value)) return true;
    if (['0', 'false', 'no', 'off'].includes(value)) return false;
    throw new ConfigError(name, `must be true or false, got ${JSON.stringify(value)}`);
  };
  const file = text(n.authFile);
  const fromFile = file === undefined ? { apiKeys: [], userTokens: [] } : authFile(file, n.authFile);
  const apiKeys = [...fromFile.apiKeys, ...parseApiKeys(text(n.apiKeys), n.apiKeys)];
  const userTokens = [...fromFile.userTokens, ...parseUserTokens(text(n.userTokens), n.userTokens)];
  assertDistinct(apiKeys.map((k) => k.key).concat(userTokens.map((t) => t.token)));
  return {
    host: text(n.host) ?? '127.0.0.1',
    port: int(n.port, 8080, 65_535),
    apiKeys,
    userTokens,
    reservationSecret: env[n.reservationSecret] === '' ? undefined : env[n.reservationSecret],
    closeTimeoutMs: int(n.closeTimeoutMs, 10_000),
    maxEventLoopDelayMs: int(n.maxEventLoopDelayMs, 1_000),
    bodyLimitBytes: int(n.bodyLimitBytes, 65_536),
    logLevel: text(n.logLevel)?.toLowerCase() ?? 'info',
    requestLogging: bool(n.requestLogging, false),
  };
}

/** Parses `name:scope+scope:key,...`; the key is everything after the second colon. */
export function parseApiKeys(value: string | undefined, variable: string): ApiKey[] {
  if (value === undefined) return [];
  return value.split(',').map((entry, index) => {
    const [name, scopes, ...rest] = entry.trim().split(':');
    const key = rest.join(':');
    if (name === undefined || name === '' || scopes === undefined || key === '') {
      throw new ConfigError(variable, `entry ${index + 1} must look like name:read+record:key`);
    }
    return apiKey({ name, key, scopes: scopes.split('+') }, variable);
  });
}

/** Parses `userId:token,...`; the token is after the last colon (user ids may contain colons). */
export function parseUserTokens(value: string | undefined, variable: string): UserToken[] {
  if (value === undefined) return [];
  return value.split(',').map((entry, index) => {
    const at = entry.lastIndexOf(':');
    const userId = entry.slice(0, at).trim();
    const token = entry.slice(at + 1).trim();
    if (at < 1 || userId === '' || token === '') throw new ConfigError(variable, `entry ${index + 1} must look like userId:token`);
    return userToken({ userId, token }, variable);
  });
}

const MIN_SECRET_LENGTH = 16;

function apiKey(raw: { name?: unknown; key?: unknown; scopes?: unknown }, variable: string): ApiKey {
  const { name, key, scopes } = raw;
  if (typeof name !== 'string' || name === '') throw new ConfigError(variable, 'every API key needs a name');
  if (typeof key !== 'string' || key.length < MIN_SECRET_LENGTH) {
    throw new ConfigError(variable, `API key ${name} must be at least ${MIN_SECRET_LENGTH} characters`);
  }
  if (!Array.isArray(scopes) || scopes.length === 0 || !scopes.every((s) => SCOPES.includes(s as Scope))) {
    throw new ConfigError(variable, `API key ${name}: scopes must be some of ${SCOPES.join(', ')}`);
  }
  return { name, key, scopes: [...new Set(scopes as Scope[])] };
}

function userToken(raw: { userId?: unknown; token?: unknown }, variable: string): UserToken {
  const { userId, token } = raw;
  if (typeof userId !== 'string' || userId === '') throw new ConfigError(variable, 'every user token needs a userId');
  if (typeof token !== 'string' || token.length < MIN_SECRET_LENGTH) {
    throw new ConfigError(variable, `the token of user ${userId} must be at least ${MIN_SECRET_LENGTH} characters`);
  }
  return { userId, token };
}

function authFile(path: string, variable: string): { apiKeys: ApiKey[]; userTokens: UserToken[] } {
  let parsed: { apiKeys?: unknown; userTokens?: unknown };
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8')) as typeof parsed;
  } catch (error) {
    throw new ConfigError(variable, `cannot read ${path} as JSON: ${(error as Error).message}`, { cause: error });
  }
  const list = (value: unknown, field: string): Record<string, unknown>[] => {
    if (value === undefined) return [];
    if (!Array.isArray(value)) throw new ConfigError(variable, `${field} must be an array`);
    return value as Record<string, unknown>[];
  };
  return {
    apiKeys: list(parsed.apiKeys, 'apiKeys').map((k) => apiKey(k, variable)),
    userTokens: list(parsed.userTokens, 'userTokens').map((t) => userToken(t, variable)),
  };
}

// One secret, one identity: otherwise which scopes a request has would depend on lookup order.
function assertDistinct(secrets: readonly string[]): void {
  if (new Set(secrets).size !== secrets.length) {
    throw new ConfigError(SERVER_ENV_NAMES.apiKeys, 'the same secret is configured twice');
  }
}
