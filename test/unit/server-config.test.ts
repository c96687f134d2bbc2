import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/domain/errors.js';
import { Credentials, bearerToken } from '../../src/service/credentials.js';
import { serverConfigFromEnv } from '../../src/service/server-config.js';

const K1 = 'k1-0123456789abcdef';
const K2 = 'k2:with:colons:0123456';

describe('serverConfigFromEnv', () => {
  it('defaults to loopback, port 8080, no keys', () => {
    expect(serverConfigFromEnv({})).toMatchObject({ host: '127.0.0.1', port: 8080, apiKeys: [], userTokens: [], reservationSecret: undefined });
  });

  it('parses API keys (the key may contain colons) and user tokens (the user id may)', () => {
    const config = serverConfigFromEnv({
      TOKEN_USAGE_API_KEYS: `app:record:${K1}, ops:read+admin:${K2}`,
      TOKEN_USAGE_USER_TOKENS: 'team:alice:alice-token-0123456789',
      TOKEN_USAGE_PORT: '9000',
    });
    expect(config.apiKeys).toEqual([
      { name: 'app', key: K1, scopes: ['record'] },
      { name: 'ops', key: K2, scopes: ['read', 'admin'] },
    ]);
    expect(config.userTokens).toEqual([{ userId: 'team:alice', token: 'alice-token-0123456789' }]);
    expect(config.port).toBe(9000);
  });

  it('reads keys and tokens from a JSON auth file as well', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tur-auth-')), 'auth.json');
    writeFileSync(file, JSON.stringify({ apiKeys: [{ name: 'f', key: K1, scopes: ['admin'] }], userTokens: [{ userId: 'bob', token: 'bob-token-0123456789' }] }));
    const config = serverConfigFromEnv({ TOKEN_USAGE_AUTH_FILE: file });
    expect(config.apiKeys).toEqual([{ name: 'f', key: K1, scopes: ['admin'] }]);
    expect(config.userTokens).toEqual([{ userId: 'bob', token: 'bob-token-0123456789' }]);
  });

  it.each([
    [{ TOKEN_USAGE_API_KEYS: 'app:record:short' }, 'TOKEN_USAGE_API_KEYS', /at least 16/],
    [{ TOKEN_USAGE_API_KEYS: `app:write:${K1}` }, 'TOKEN_USAGE_API_KEYS', /scopes/],
    [{ TOKEN_USAGE_API_KEYS: `app:${K1}` }, 'TOKEN_USAGE_API_KEYS', /name:read\+record:key/],
    [{ TOKEN_USAGE_API_KEYS: `a:read:${K1},b:admin:${K1}` }, 'TOKEN_USAGE_API_KEYS', /twice/],
    [{ TOKEN_USAGE_USER_TOKENS: 'alice' }, 'TOKEN_USAGE_USER_TOKENS', /userId:token/],
    [{ TOKEN_USAGE_PORT: '70000' }, 'TOKEN_USAGE_PORT', /65535/],
    [{ TOKEN_USAGE_AUTH_FILE: '/nonexistent/auth.json' }, 'TOKEN_USAGE_AUTH_FILE', /cannot read/],
  ])('%j is a ConfigError naming %s', (env, variable, message) => {
    let error: unknown;
    try {
      serverConfigFromEnv(env);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message).toMatch(message);
  });
});

describe('Credentials', () => {
  it('finds the principal of a secret, and nothing for a near miss', () => {
    const credentials = new Credentials([{ name: 'app', key: K1, scopes: ['record'] }], [{ userId: 'alice', token: 'alice-token-0123456789' }]);
    expect(credentials.lookup(K1)).toEqual({ kind: 'api-key', name: 'app', scopes: ['record'] });
    expect(credentials.lookup('alice-token-0123456789')).toEqual({ kind: 'user', userId: 'alice' });
    expect(credentials.lookup(`${K1}x`)).toBeUndefined();
    expect(credentials.lookup(K1.slice(0, -1))).toBeUndefined();
    expect(credentials.lookup('')).toBeUndefined();
  });

  it('with many secrets, each finds its own principal and only its own', () => {
    const apiKeys = Array.from({ length: 50 }, (_, i) => ({ name: `app${i}`, key: `key-${i}-0123456789abcdef`, scopes: ['record' as const] }));
    const userTokens = Array.from({ length: 50 }, (_, i) => ({ userId: `user${i}`, token: `token-${i}-0123456789abcdef` }));
    const credentials = new Credentials(apiKeys, userTokens);
    apiKeys.forEach((k) => expect(credentials.lookup(k.key)).toEqual({ kind: 'api-key', name: k.name, scopes: ['record'] }));
    userTokens.forEach((t) => expect(credentials.lookup(t.token)).toEqual({ kind: 'user', userId: t.userId }));
    expect(credentials.lookup('key-50-0123456789abcdef')).toBeUndefined();
    // Not ASCII: hashed as UTF-8, like the configured secret.
    expect(new Credentials([{ name: 'u', key: 'schlüssel-0123456789', scopes: ['read'] }], []).lookup('schlüssel-0123456789')).toMatchObject({ name: 'u' });
  });

  it('takes only well-formed bearer headers', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer  abc ')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});
