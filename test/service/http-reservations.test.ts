import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryUsageStore } from '../../src/adapters/memory/in-memory-usage-store.js';
import { SwitchableStore } from '../support/failing-store.js';
import { FakeClock } from '../support/fake-clock.js';
import { bearer, SECRETS, testServer } from '../support/service.js';

type Server = Awaited<ReturnType<typeof testServer>>;
let server: Server;
afterEach(async () => server?.app.close());

const record = bearer(SECRETS.record);
const reserve = (payload: object) => server.app.inject({ method: 'POST', url: '/v1/reservations', headers: record, payload });

describe('HTTP API: reservations', () => {
  it('reserve holds tokens; commit records the actual usage and frees the hold, once', async () => {
    server = await testServer();
    await server.repository.setUsageLimit('u1', 100);
    const granted = await reserve({ userId: 'u1', tokens: 60 });
    expect(granted.statusCode).toBe(201);
    const body = granted.json();
    expect(body).toMatchObject({ granted: true, reason: 'within-limit', userId: 'u1', cycleStartDate: '2024-01-01', tokens: 60, degraded: false });
    const denied = await reserve({ userId: 'u1', tokens: 50 });
    expect(denied.statusCode).toBe(429);
    expect(denied.headers['content-type']).toMatch(/problem\+json/);
    expect(denied.json()).toMatchObject({ reason: 'limit-exceeded', limit: 100, currentUsage: 0, reserved: 60, remaining: 40, requested: 50 });

    const commit = () =>
      server.app.inject({ method: 'POST', url: `/v1/reservations/${body.handle}/commit`, headers: record, payload: { promptTokens: 30, completionTokens: 10 } });
    const first = await commit();
    expect(first.json()).toMatchObject({ recorded: true, duplicate: false, counters: { promptTokens: 30, completionTokens: 10, totalTokens: 40 } });
    expect((await commit()).json().duplicate).toBe(true);
    expect(await server.repository.getUsageStats('u1')).toEqual({ promptTokens: 30, completionTokens: 10, totalTokens: 40 });
    // The hold is gone: 60 more fit now.
    expect((await reserve({ userId: 'u1', tokens: 60 })).statusCode).toBe(201);
  });

  it('a re-sent reserve with the same Idempotency-Key holds once and returns the same reservation; a bad key is a 400', async () => {
    server = await testServer();
    await server.repository.setUsageLimit('u1', 100);
    const send = (key: string) =>
      server.app.inject({ method: 'POST', url: '/v1/reservations', headers: { ...record, 'idempotency-key': key }, payload: { userId: 'u1', tokens: 60 } });
    const first = await send('retry-me');
    const again = await send('retry-me');
    expect([first.statusCode, again.statusCode]).toEqual([201, 201]);
    expect(again.json().id).toBe(first.json().id);
    expect((await server.repository.canConsume('u1', 40)).reserved).toBe(60);
    // Another key is another request: 60 more do not fit.
    expect((await send('another')).statusCode).toBe(429);
    const bad = await send('x'.repeat(300));
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toMatch(/problem\+json/);
    expect((await server.repository.canConsume('u1', 40)).reserved).toBe(60);
  });

  it('release frees the hold; releasing again says false', async () => {
    server = await testServer();
    await server.repository.setUsageLimit('u1', 10);
    const { handle } = (await reserve({ userId: 'u1', tokens: 10, leaseMs: 60_000 })).json();
    const release = () => server.app.inject({ method: 'DELETE', url: `/v1/reservations/${handle}`, headers: record });
    expect((await release()).json()).toEqual({ released: true });
    expect((await release()).json()).toEqual({ released: false });
    expect((await reserve({ userId: 'u1', tokens: 10 })).statusCode).toBe(201);
  });

  it('a forged or altered handle is a 400 and changes nothing', async () => {
    server = await testServer();
    await server.repository.setUsageLimit('u1', 100);
    const { handle } = (await reserve({ userId: 'u1', tokens: 50 })).json() as { handle: string };
    const [payload, signature] = handle.split('.') as [string, string];
    const fields = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown[];
    fields[3] = 1; // claim a smaller hold
    const altered = `${Buffer.from(JSON.stringify(fields)).toString('base64url')}.${signature}`;
    for (const bad of [altered, 'garbage', `${payload}.AAAA`]) {
      const reply = await server.app.inject({ method: 'POST', url: `/v1/reservations/${encodeURIComponent(bad)}/commit`, headers: record, payload: { totalTokens: 5 } });
      expect(reply.statusCode).toBe(400);
      expect(reply.json()).toMatchObject({ code: 'USAGE.INVALID_RESERVATION', field: 'params.reservation' });
    }
    expect((await server.repository.getUsageStats('u1')).totalTokens).toBe(0);
    expect((await server.repository.canConsume('u1', 0)).reserved).toBe(50);
  });

  it('a handle from a server with another secret is refused', async () => {
    server = await testServer();
    const { handle } = (await reserve({ userId: 'u1', tokens: 5 })).json();
    const other = await testServer({ server: { reservationSecret: 'a-different-secret-0123456789' } });
    const reply = await other.app.inject({ method: 'DELETE', url: `/v1/reservations/${handle}`, headers: record });
    expect(reply.statusCode).toBe(400);
    await other.app.close();
  });

  it('commit validates the usage (total below prompt + completion) and writes nothing', async () => {
    server = await testServer();
    const { handle } = (await reserve({ userId: 'u1', tokens: 5 })).json();
    const reply = await server.app.inject({
      method: 'POST',
      url: `/v1/reservations/${handle}/commit`,
      headers: record,
      payload: { promptTokens: 5, completionTokens: 5, totalTokens: 3 },
    });
    expect(reply.statusCode).toBe(400);
    expect(reply.json().field).toBe('totalTokens');
    expect((await server.repository.getUsageStats('u1')).totalTokens).toBe(0);
  });

  it('an unreachable store under fail-closed is a 503 denial naming the reason; a read is a 503 store-unavailable problem', async () => {
    const clock = new FakeClock('2024-01-15T12:00:00Z');
    const store = new SwitchableStore(new InMemoryUsageStore({ clock }));
    server = await testServer({ store });
    store.down = true;
    const denied = await reserve({ userId: 'u1', tokens: 5 });
    expect(denied.statusCode).toBe(503);
    expect(denied.json()).toMatchObject({ reason: 'store-unavailable' });
    const usage = await server.app.inject({ method: 'GET', url: '/v1/users/u1/usage', headers: bearer(SECRETS.read) });
    expect(usage.statusCode).toBe(503);
    expect(usage.json()).toMatchObject({ code: 'USAGE.STORE_UNAVAILABLE' });
  });
});
