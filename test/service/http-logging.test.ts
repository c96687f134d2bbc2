import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryUsageStore } from '../../src/adapters/memory/in-memory-usage-store.js';
import { serverLoggerOptions } from '../../src/service/build-server.js';
import { serverConfigFromEnv } from '../../src/service/server-config.js';
import { SwitchableStore } from '../support/failing-store.js';
import { FakeClock } from '../support/fake-clock.js';
import { bearer, SECRETS, testServer } from '../support/service.js';

type Server = Awaited<ReturnType<typeof testServer>>;
let server: Server;
afterEach(async () => server?.app.close());

const record = bearer(SECRETS.record);

/** A server logging every level into `lines` (parsed JSON), on an in-memory store that can fail. */
async function loggingServer(requestLogging: boolean) {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const stream = { write: (line: string) => void (raw.push(line), lines.push(JSON.parse(line) as Record<string, unknown>)) };
  const store = new SwitchableStore(new InMemoryUsageStore({ clock: new FakeClock('2024-01-15T12:00:00Z') }));
  server = await testServer({ store, logger: serverLoggerOptions('trace', stream), server: { requestLogging } });
  const forRequests = () => lines.filter((l) => l['reqId'] !== undefined);
  return { lines, raw, store, forRequests };
}

describe('HTTP service logging', () => {
  it('logs no line per request by default, yet a server error is logged once with its request id and principal', async () => {
    const { store, forRequests, raw } = await loggingServer(false);
    const ok = await server.app.inject({ method: 'POST', url: '/v1/usage', headers: record, payload: { userId: 'u1', promptTokens: 3 } });
    expect(ok.statusCode).toBe(200);
    await server.app.inject({ method: 'GET', url: '/v1/users/u1/usage', headers: bearer('wrong-key-but-still-secret') });
    expect(forRequests()).toEqual([]);

    store.failing.add('recordUsage');
    const failed = await server.app.inject({ method: 'POST', url: '/v1/usage', headers: record, payload: { userId: 'u1', promptTokens: 3 } });
    expect(failed.statusCode).toBe(503);
    const errors = forRequests();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ level: 50, msg: 'request failed', principal: 'app', err: { code: 'USAGE.STORE_UNAVAILABLE' } });
    expect(errors[0]?.['reqId']).toEqual(expect.any(String));
    for (const secret of [SECRETS.record, 'wrong-key-but-still-secret']) expect(raw.join('\n')).not.toContain(secret);
  });

  it('with TOKEN_USAGE_REQUEST_LOG on: an incoming and a completed line per request, sharing its request id, no secret', async () => {
    const { forRequests, raw } = await loggingServer(true);
    await server.app.inject({ method: 'POST', url: '/v1/usage', headers: record, payload: { userId: 'u1', promptTokens: 3 } });
    await server.app.inject({ method: 'POST', url: '/v1/usage', headers: record, payload: { userId: 'u1', promptTokens: 4 } });
    const lines = forRequests();
    expect(lines.map((l) => l['msg'])).toEqual(['incoming request', 'request completed', 'incoming request', 'request completed']);
    expect(lines[0]?.['reqId']).toBe(lines[1]?.['reqId']);
    expect(lines[2]?.['reqId']).toBe(lines[3]?.['reqId']);
    expect(lines[0]?.['reqId']).not.toBe(lines[2]?.['reqId']);
    expect(lines[1]).toMatchObject({ level: 30, res: { statusCode: 200 } });
    expect(raw.join('\n')).not.toContain(SECRETS.record);
  });

  it('reads TOKEN_USAGE_REQUEST_LOG as a boolean, off by default, and refuses anything else naming it', () => {
    expect(serverConfigFromEnv({}).requestLogging).toBe(false);
    expect(serverConfigFromEnv({ TOKEN_USAGE_REQUEST_LOG: 'true' }).requestLogging).toBe(true);
    expect(serverConfigFromEnv({ TOKEN_USAGE_REQUEST_LOG: 'off' }).requestLogging).toBe(false);
    expect(() => serverConfigFromEnv({ TOKEN_USAGE_REQUEST_LOG: 'sometimes' })).toThrow(/TOKEN_USAGE_REQUEST_LOG/);
  });
});
