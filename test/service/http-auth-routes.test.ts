import { afterEach, describe, expect, it } from 'vitest';
import { bearer, SECRETS, testServer } from '../support/service.js';

type Server = Awaited<ReturnType<typeof testServer>>;
let server: Server;
afterEach(async () => server?.app.close());

// These pin that no route slips past the auth hook, whenever and wherever it is declared.
describe('HTTP API: every route is checked, whenever and wherever it is declared', () => {
  it('a route declared after the server is built, without an access, is closed: 401 without a key, 403 with any', async () => {
    server = await testServer();
    server.app.get('/v1/late', async () => ({ reached: true }));
    server.app.register(async (plugin) => {
      plugin.get('/v1/late-in-plugin', { config: { access: 'read' } }, async () => ({ reached: true }));
    });
    const anonymous = await server.app.inject('/v1/late');
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['www-authenticate']).toBe('Bearer realm="token-usage"');
    for (const secret of Object.values(SECRETS)) {
      const reply = await server.app.inject({ url: '/v1/late', headers: bearer(secret) });
      expect(reply.statusCode).toBe(403);
      expect(reply.json()).toMatchObject({ status: 403, detail: 'this route needs the unknown scope' });
    }
    expect((await server.app.inject('/v1/late-in-plugin')).statusCode).toBe(401);
    expect((await server.app.inject({ url: '/v1/late-in-plugin', headers: bearer(SECRETS.record) })).statusCode).toBe(403);
    const allowed = await server.app.inject({ url: '/v1/late-in-plugin', headers: bearer(SECRETS.read) });
    expect(allowed.json()).toEqual({ reached: true });
  });

  it("HEAD of a GET route is checked like the GET; public routes (probes, docs, spec) need no key", async () => {
    server = await testServer();
    expect((await server.app.inject({ method: 'HEAD', url: '/v1/users/u1/usage' })).statusCode).toBe(401);
    expect((await server.app.inject({ method: 'HEAD', url: '/v1/users/u1/usage', headers: bearer(SECRETS.record) })).statusCode).toBe(403);
    expect((await server.app.inject({ method: 'HEAD', url: '/v1/users/u1/usage', headers: bearer(SECRETS.read) })).statusCode).toBe(200);
    for (const url of ['/livez', '/openapi.json', '/docs/', '/docs/static/swagger-ui.css']) {
      expect((await server.app.inject(url)).statusCode, url).toBe(200);
    }
  });

  it('a principal found once does not leak into the next request', async () => {
    server = await testServer();
    const ok = await server.app.inject({ url: '/v1/users/u1/usage', headers: bearer(SECRETS.read) });
    expect(ok.statusCode).toBe(200);
    const next = await server.app.inject({ url: '/v1/users/u1/usage', headers: bearer('not-a-configured-key-000') });
    expect(next.statusCode).toBe(401);
  });
});
