import { afterEach, describe, expect, it } from 'vitest';
import { serverLoggerOptions } from '../../src/service/build-server.js';
import { bearer, SECRETS, testServer } from '../support/service.js';

type Server = Awaited<ReturnType<typeof testServer>>;
let server: Server;
afterEach(async () => server?.app.close());

const record = bearer(SECRETS.record);

async function badRecord(payload: unknown, headers: Record<string, string> = {}) {
  const reply = await server.app.inject({ method: 'POST', url: '/v1/usage', headers: { ...record, ...headers }, payload: payload as object });
  expect(reply.statusCode).toBe(400);
  expect(reply.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect((await server.repository.getUsageStats('u1')).totalTokens).toBe(0);
  return reply.json() as { field: string; code: string; detail: string; status: number };
}

describe('HTTP API: bad input is a 400 problem naming the field, and writes nothing', () => {
  it.each([
    [{ userId: 'u1', promptTokens: -1 }, 'body.promptTokens'],
    [{ userId: 'u1', promptTokens: 1.5 }, 'body.promptTokens'],
    [{ userId: 'u1', promptTokens: '5' }, 'body.promptTokens'],
    [{ userId: 'u1', completionTokens: true }, 'body.completionTokens'],
    [{ promptTokens: 5 }, 'body.userId'],
    [{ userId: '', promptTokens: 5 }, 'body.userId'],
    [{ userId: 'u1', promptTokens: 5, extra: 1 }, 'body.extra'],
    [{ userId: 'u1', promptTokens: 5, cycleStartDate: '2024/01/01' }, 'body.cycleStartDate'],
    [{ userId: 'u1' }, 'body.promptTokens'],
    [{ userId: 'u1', promptTokens: 2, completionTokens: 1, totalTokens: 9 }, 'body.totalTokens'],
  ])('%j -> %s', async (payload, field) => {
    server = await testServer();
    const problem = await badRecord(payload);
    expect(problem.field).toBe(field);
    expect(problem.status).toBe(400);
  });

  it('domain checks the schema cannot express still name the field (a control character, a non-date)', async () => {
    server = await testServer();
    expect((await badRecord({ userId: 'u\u0001', promptTokens: 5 })).code).toBe('USAGE.INVALID_USER_ID');
    expect((await badRecord({ userId: 'u1', promptTokens: 5, cycleStartDate: '2024-02-30' })).code).toBe('USAGE.INVALID_CYCLE_DATE');
  });

  it('a bad Idempotency-Key header is named', async () => {
    server = await testServer();
    expect((await badRecord({ userId: 'u1', promptTokens: 5 }, { 'idempotency-key': 'x'.repeat(300) })).field).toBe('headers.idempotency-key');
  });

  it('malformed JSON and query strings are problems too', async () => {
    server = await testServer();
    const json = await server.app.inject({ method: 'POST', url: '/v1/usage', headers: { ...record, 'content-type': 'application/json' }, payload: '{"userId":' });
    expect(json.statusCode).toBe(400);
    expect(json.headers['content-type']).toMatch(/problem\+json/);
    expect(json.json()).toMatchObject({ title: 'Bad Request', status: 400, code: 'USAGE.INVALID_REQUEST' });
    const media = await server.app.inject({ method: 'POST', url: '/v1/usage', headers: { ...record, 'content-type': 'text/csv' }, payload: 'u1,5' });
    expect(media.json()).toMatchObject({ title: 'Unsupported Media Type', status: 415, code: 'USAGE.INVALID_REQUEST' });
    const query = await server.app.inject({ method: 'GET', url: '/v1/users/u1/check?tokens=1e3', headers: bearer(SECRETS.read) });
    expect(query.statusCode).toBe(400);
    expect(query.json().field).toBe('querystring.tokens');
    const limit = await server.app.inject({ method: 'PUT', url: '/v1/users/u1/limit', headers: bearer(SECRETS.admin), payload: { limit: -5 } });
    expect(limit.json().field).toBe('body.limit');
  });

  it('unknown routes are 404 problems', async () => {
    server = await testServer();
    const reply = await server.app.inject({ method: 'GET', url: '/v1/nope', headers: record });
    expect(reply.statusCode).toBe(404);
    expect(reply.headers['content-type']).toMatch(/problem\+json/);
  });
});

describe('HTTP API: authentication and scopes', () => {
  it('no token and an unknown token are 401 problems with a challenge', async () => {
    server = await testServer();
    for (const headers of [{}, bearer('not-a-configured-key-123'), { authorization: 'Basic abc' }]) {
      const reply = await server.app.inject({ method: 'GET', url: '/v1/users/u1/usage', headers });
      expect(reply.statusCode).toBe(401);
      expect(reply.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(reply.headers['content-type']).toMatch(/problem\+json/);
    }
  });

  it('each scope opens only its routes; admin implies read, nothing implies record', async () => {
    server = await testServer();
    const call = (secret: string, method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) =>
      server.app.inject({ method, url, headers: bearer(secret), ...(payload === undefined ? {} : { payload }) }).then((r) => r.statusCode);
    const recordBody = { userId: 'u1', promptTokens: 1 };
    expect(await call(SECRETS.read, 'POST', '/v1/usage', recordBody)).toBe(403);
    expect(await call(SECRETS.admin, 'POST', '/v1/usage', recordBody)).toBe(403);
    expect(await call(SECRETS.alice, 'POST', '/v1/usage', recordBody)).toBe(403);
    expect(await call(SECRETS.record, 'GET', '/v1/users/u1/usage')).toBe(403);
    expect(await call(SECRETS.read, 'PUT', '/v1/users/u1/limit', { limit: 5 })).toBe(403);
    expect(await call(SECRETS.record, 'PUT', '/v1/users/u1/limit', { limit: 5 })).toBe(403);
    expect(await call(SECRETS.alice, 'GET', '/v1/users/alice/usage')).toBe(403);
    expect(await call(SECRETS.admin, 'GET', '/v1/users/u1/usage')).toBe(200);
    expect(await call(SECRETS.admin, 'PUT', '/v1/users/u1/limit', { limit: 5 })).toBe(200);
    expect(await call(SECRETS.record, 'POST', '/v1/usage', recordBody)).toBe(200);
    expect(await call(SECRETS.read, 'GET', '/v1/me/usage')).toBe(403);
  });

  it("a user token sees only its own usage, with what is reserved in flight", async () => {
    server = await testServer();
    await server.repository.setUsageLimit('alice', 500);
    await server.repository.incrementTotalUsage('alice', 120);
    await server.repository.incrementTotalUsage('bob', 999);
    await server.repository.reserve('alice', 30);
    const reply = await server.app.inject({ method: 'GET', url: '/v1/me/usage', headers: bearer(SECRETS.alice) });
    expect(reply.json()).toEqual({
      userId: 'alice',
      cycleStartDate: '2024-01-01',
      promptTokens: 0,
      completionTokens: 0,
      totalTokens: 120,
      limit: 500,
      remaining: 380,
      unlimited: false,
      exceeded: false,
      reserved: 30,
    });
  });

  it('never logs a bearer token', async () => {
    const lines: string[] = [];
    const stream = { write: (line: string) => lines.push(line) };
    // Request logging on, so the per-request lines are in what is checked too.
    server = await testServer({ logger: serverLoggerOptions('trace', stream), server: { requestLogging: true } });
    await server.app.inject({ method: 'GET', url: '/v1/users/u1/usage', headers: bearer(SECRETS.read) });
    await server.app.inject({ method: 'GET', url: '/v1/users/u1/usage', headers: bearer('wrong-key-but-still-secret') });
    server.app.log.info({ headers: { authorization: `Bearer ${SECRETS.admin}` } }, 'a line that tries to log a header');
    server.app.log.child({ component: 'redis' }).warn({ options: { password: SECRETS.admin } }, 'a line that tries to log a password');
    const all = lines.join('\n');
    expect(lines.length).toBeGreaterThan(2);
    for (const secret of [SECRETS.read, SECRETS.admin, 'wrong-key-but-still-secret']) expect(all).not.toContain(secret);
    expect(all).toContain('[redacted]');
  });
});

describe('HTTP API: a JSON content type without a body', () => {
  const json = { 'content-type': 'application/json' };

  it('is no body: a DELETE answers normally, a route that needs a body names it in a 400 problem', async () => {
    server = await testServer();
    await server.repository.setUsageLimit('u1', 100);
    const { handle } = (await server.app.inject({ method: 'POST', url: '/v1/reservations', headers: record, payload: { userId: 'u1', tokens: 10 } })).json();
    const release = await server.app.inject({ method: 'DELETE', url: `/v1/reservations/${handle}`, headers: { ...record, ...json } });
    expect(release.statusCode).toBe(200);
    expect(release.json()).toEqual({ released: true });
    const clear = await server.app.inject({ method: 'DELETE', url: '/v1/users/u1/limit', headers: { ...bearer(SECRETS.admin), ...json } });
    expect(clear.statusCode).toBe(200);
    const empty = await server.app.inject({ method: 'POST', url: '/v1/usage', headers: { ...record, ...json }, payload: '' });
    expect(empty.statusCode).toBe(400);
    expect(empty.json()).toMatchObject({ code: 'USAGE.INVALID_REQUEST', status: 400 });
    expect((await server.repository.getUsageStats('u1')).totalTokens).toBe(0);
  });

  it('a body still goes through the strict parser: a __proto__ key is refused', async () => {
    server = await testServer();
    const reply = await server.app.inject({ method: 'POST', url: '/v1/usage', headers: { ...record, ...json }, payload: '{"userId":"u1","promptTokens":1,"__proto__":{"x":1}}' });
    expect(reply.statusCode).toBe(400);
    expect((await server.repository.getUsageStats('u1')).totalTokens).toBe(0);
  });
});
