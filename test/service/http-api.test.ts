import { afterEach, describe, expect, it } from 'vitest';
import { bearer, SECRETS, testServer } from '../support/service.js';

type Server = Awaited<ReturnType<typeof testServer>>;
let server: Server;
afterEach(async () => server?.app.close());

const record = { ...bearer(SECRETS.record) };
const read = { ...bearer(SECRETS.read) };
const admin = { ...bearer(SECRETS.admin) };

describe('HTTP API: recording and reading', () => {
  it('records detailed usage and reads it back with the limit view', async () => {
    server = await testServer();
    const first = await server.app.inject({ method: 'POST', url: '/v1/usage', headers: record, payload: { userId: 'u1', promptTokens: 10, completionTokens: 5 } });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ recorded: true, duplicate: false, counters: { promptTokens: 10, completionTokens: 5, totalTokens: 15 }, alerts: [] });
    const view = await server.app.inject({ method: 'GET', url: '/v1/users/u1/usage', headers: read });
    expect(view.json()).toEqual({
      userId: 'u1',
      cycleStartDate: '2024-01-01',
      promptTokens: 10,
      completionTokens: 5,
      totalTokens: 15,
      limit: null,
      remaining: null,
      unlimited: true,
      exceeded: false,
    });
  });

  it('records a total-only usage, and a zero record is a no-op', async () => {
    server = await testServer();
    const total = await server.app.inject({ method: 'POST', url: '/v1/usage', headers: record, payload: { userId: 'u1', totalTokens: 7 } });
    expect(total.json().counters).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 7 });
    const zero = await server.app.inject({ method: 'POST', url: '/v1/usage', headers: record, payload: { userId: 'u1', promptTokens: 0 } });
    expect(zero.json()).toEqual({ recorded: false, duplicate: false, counters: null, alerts: [] });
  });

  it('an Idempotency-Key makes a retry a duplicate that adds nothing', async () => {
    server = await testServer();
    const send = () =>
      server.app.inject({ method: 'POST', url: '/v1/usage', headers: { ...record, 'idempotency-key': 'resp_1' }, payload: { userId: 'u1', promptTokens: 3 } });
    expect((await send()).json().duplicate).toBe(false);
    const again = await send();
    expect(again.json().duplicate).toBe(true);
    expect((await server.repository.getUsageStats('u1')).totalTokens).toBe(3);
  });

  it('buffered records answer 202 and land on flush', async () => {
    server = await testServer();
    const reply = await server.app.inject({
      method: 'POST',
      url: '/v1/usage',
      headers: record,
      payload: { userId: 'u1', promptTokens: 2, completionTokens: 1, totalTokens: 5, buffered: true },
    });
    expect(reply.statusCode).toBe(202);
    await server.repository.flush();
    expect(await server.repository.getUsageStats('u1')).toEqual({ promptTokens: 2, completionTokens: 1, totalTokens: 5 });
  });

  it('a dated record lands in that cycle', async () => {
    server = await testServer();
    await server.app.inject({ method: 'POST', url: '/v1/usage', headers: record, payload: { userId: 'u1', totalTokens: 4, cycleStartDate: '2023-12-01' } });
    const view = await server.app.inject({ method: 'GET', url: '/v1/users/u1/usage?cycleStartDate=2023-12-01', headers: read });
    expect(view.json().totalTokens).toBe(4);
    expect((await server.repository.getUsageStats('u1')).totalTokens).toBe(0);
  });

  it('admins reset a cycle; the limit stays', async () => {
    server = await testServer();
    await server.repository.setUsageLimit('u1', 100);
    await server.repository.incrementTotalUsage('u1', 40);
    const reset = await server.app.inject({ method: 'DELETE', url: '/v1/users/u1/usage', headers: admin });
    expect(reset.json()).toEqual({ reset: true, cycleStartDate: '2024-01-01' });
    const view = await server.app.inject({ method: 'GET', url: '/v1/users/u1/usage', headers: admin });
    expect(view.json()).toMatchObject({ totalTokens: 0, limit: 100, remaining: 100, unlimited: false });
  });
});

describe('HTTP API: limits and checks', () => {
  it('sets, reads and removes standing and dated limits', async () => {
    server = await testServer();
    const put = await server.app.inject({ method: 'PUT', url: '/v1/users/u1/limit', headers: admin, payload: { limit: 1000 } });
    expect(put.json()).toEqual({ userId: 'u1', cycleStartDate: null, limit: 1000 });
    await server.app.inject({ method: 'PUT', url: '/v1/users/u1/cycles/2024-01-01/limit', headers: admin, payload: { limit: 50 } });
    await server.repository.incrementTotalUsage('u1', 60);
    const current = await server.app.inject({ method: 'GET', url: '/v1/users/u1/limit', headers: read });
    expect(current.json()).toEqual({ userId: 'u1', cycleStartDate: '2024-01-01', currentUsage: 60, limit: 50, remaining: 0, unlimited: false, exceeded: true });
    await server.app.inject({ method: 'DELETE', url: '/v1/users/u1/cycles/2024-01-01/limit', headers: admin });
    expect((await server.app.inject({ method: 'GET', url: '/v1/users/u1/limit', headers: read })).json()).toMatchObject({ limit: 1000, remaining: 940 });
    await server.app.inject({ method: 'DELETE', url: '/v1/users/u1/limit', headers: admin });
    expect((await server.app.inject({ method: 'GET', url: '/v1/users/u1/limit', headers: read })).json()).toMatchObject({ limit: null, remaining: null, unlimited: true });
  });

  it('check counts reservations, and says unlimited instead of Infinity', async () => {
    server = await testServer();
    const unlimited = await server.app.inject({ method: 'GET', url: '/v1/users/u1/check?tokens=10', headers: read });
    expect(unlimited.body).not.toContain('Infinity');
    expect(unlimited.json()).toMatchObject({ allowed: true, reason: 'no-limit', limit: null, remaining: null, unlimited: true });
    await server.repository.setUsageLimit('u1', 100);
    await server.repository.reserve('u1', 70);
    const tight = await server.app.inject({ method: 'GET', url: '/v1/users/u1/check?tokens=40', headers: read });
    expect(tight.json()).toEqual({ allowed: false, reason: 'limit-exceeded', currentUsage: 0, reserved: 70, limit: 100, remaining: 30, unlimited: false });
  });
});
