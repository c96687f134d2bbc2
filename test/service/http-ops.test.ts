import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryUsageStore } from '../../src/adapters/memory/in-memory-usage-store.js';
import { SwitchableStore } from '../support/failing-store.js';
import { FakeClock } from '../support/fake-clock.js';
import { bearer, SECRETS, testServer } from '../support/service.js';

type Server = Awaited<ReturnType<typeof testServer>>;
let server: Server;
afterEach(async () => server?.app.close());

const admin = bearer(SECRETS.admin);

describe('HTTP API: probes, metrics, docs', () => {
  it('livez needs nothing; readyz does a store round trip and turns 503 (without crashing) when the store is down', async () => {
    const store = new SwitchableStore(new InMemoryUsageStore({ clock: new FakeClock('2024-01-15T12:00:00Z') }));
    server = await testServer({ store });
    expect((await server.app.inject('/livez')).json()).toEqual({ status: 'ok' });
    const ready = await server.app.inject('/readyz');
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'healthy' });
    store.down = true;
    const unready = await server.app.inject('/readyz');
    expect(unready.statusCode).toBe(503);
    expect(unready.json()).toMatchObject({ status: 'unhealthy', error: expect.stringContaining('ECONNREFUSED') });
    expect((await server.app.inject('/livez')).statusCode).toBe(200);
    store.down = false;
    expect((await server.app.inject('/readyz')).statusCode).toBe(200);
  });

  it('metrics are the Prometheus exposition of the repository', async () => {
    server = await testServer();
    await server.app.inject({ method: 'POST', url: '/v1/usage', headers: bearer(SECRETS.record), payload: { userId: 'u1', promptTokens: 3 } });
    const reply = await server.app.inject('/metrics');
    expect(reply.headers['content-type']).toMatch(/^text\/plain/);
    expect(reply.body).toMatch(/token_usage_operations_total\{[^}]*operation="record"[^}]*\} 1/);
  });

  it('serves an OpenAPI 3 document generated from the route schemas, and a docs page', async () => {
    server = await testServer();
    const spec = (await server.app.inject('/openapi.json')).json();
    expect(spec.openapi).toMatch(/^3\./);
    for (const path of ['/v1/usage', '/v1/users/{userId}/usage', '/v1/reservations', '/v1/reservations/{handle}/commit', '/v1/admin/verify', '/readyz']) {
      expect(Object.keys(spec.paths)).toContain(path);
    }
    expect(spec.paths['/v1/usage'].post.requestBody.content['application/json'].schema.properties).toHaveProperty('promptTokens');
    expect(spec.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' });
    const docs = await server.app.inject('/docs/');
    expect(docs.statusCode).toBe(200);
    expect(docs.body).toContain('swagger');
  });
});

describe('HTTP API: admin', () => {
  it('verify checks the cycle or one user (dry run or repair) and validates its options', async () => {
    const clock = new FakeClock('2024-01-15T12:00:00Z');
    const store = new InMemoryUsageStore({ clock });
    server = await testServer({ store });
    await server.repository.incrementDetailedUsage('u1', 5, 5);
    const clean = await server.app.inject({ method: 'POST', url: '/v1/admin/verify', headers: admin, payload: {} });
    expect(clean.statusCode).toBe(200);
    expect(clean.json()).toMatchObject({ mode: 'dry-run', scanned: 1, counts: { findings: 0 } });
    const one = await server.app.inject({ method: 'POST', url: '/v1/admin/verify', headers: admin, payload: { userId: 'u1', repair: true } });
    expect(one.json()).toMatchObject({ mode: 'repair', counts: { findings: 0 } });
    const bad = await server.app.inject({ method: 'POST', url: '/v1/admin/verify', headers: admin, payload: { batchSize: 0 } });
    expect(bad.json().field).toBe('body.batchSize');
  });

  it('sweep-alerts is a 409 problem when alerts are off, and sweeps when on', async () => {
    server = await testServer();
    const off = await server.app.inject({ method: 'POST', url: '/v1/admin/sweep-alerts', headers: admin, payload: {} });
    expect(off.statusCode).toBe(409);
    expect(off.json()).toMatchObject({ code: 'USAGE.INVALID_CONFIG' });
    await server.app.close();
    server = await testServer({ config: { alerts: { enabled: true } } });
    await server.repository.setUsageLimit('u1', 100);
    await server.repository.incrementTotalUsage('u1', 90);
    const on = await server.app.inject({ method: 'POST', url: '/v1/admin/sweep-alerts', headers: admin, payload: {} });
    expect(on.statusCode).toBe(200);
    // The record already claimed the 80 % alert, so the sweep finds the user and claims nothing new.
    expect(on.json()).toEqual({ cycleStartDate: '2024-01-01', scanned: 1, alerts: [] });
  });
});
