import { afterEach, describe, expect, it } from 'vitest';
import { bearer, SECRETS, testServer } from '../support/service.js';

type Server = Awaited<ReturnType<typeof testServer>>;
let server: Server;
afterEach(async () => server?.app.close());

const record = bearer(SECRETS.record);

// POST /v1/usage answers through a response schema (fast-json-stringify), which drops any field it
// does not name: these compare the reply with what the library itself returns for the same call.
describe('HTTP API: the record reply is the library result, field for field', () => {
  it('with alerts crossed: every field of every alert, and the counters, as the library returns them', async () => {
    server = await testServer({ config: { alerts: { enabled: true } } });
    for (const user of ['http', 'lib']) await server.repository.setUsageLimit(user, 100);
    const reply = await server.app.inject({ method: 'POST', url: '/v1/usage', headers: record, payload: { userId: 'http', promptTokens: 60, completionTokens: 35 } });
    const library = await server.repository.incrementDetailedUsage('lib', 60, 35);
    expect(library?.alerts.length).toBeGreaterThan(0);
    // The same call for another user: alert ids and userIds name it, everything else must match exactly.
    const alerts = library?.alerts.map((a) => ({ ...a, userId: 'http', id: a.id.replace(/^lib\|/, 'http|') }));
    expect(reply.json()).toEqual({ recorded: true, duplicate: library?.duplicate, counters: library?.counters, alerts });
    expect(Object.keys(reply.json().alerts[0]).sort()).toEqual(Object.keys(library?.alerts[0] ?? {}).sort());
  });

  it('without a cycleStartDate it lands in the current cycle, as the in-process call does; with one, in that cycle', async () => {
    server = await testServer();
    await server.app.inject({ method: 'POST', url: '/v1/usage', headers: record, payload: { userId: 'u1', totalTokens: 7 } });
    await server.app.inject({ method: 'POST', url: '/v1/usage', headers: record, payload: { userId: 'u1', promptTokens: 2, cycleStartDate: '2023-12-01' } });
    expect(await server.repository.getUsageStats('u1')).toMatchObject({ totalTokens: 7 });
    expect(await server.repository.getUsageStats('u1', '2024-01-01')).toMatchObject({ totalTokens: 7 });
    expect(await server.repository.getUsageStats('u1', '2023-12-01')).toMatchObject({ promptTokens: 2, totalTokens: 2 });
  });

  it('an impossible date is still a 400 naming body.cycleStartDate, and writes nothing', async () => {
    server = await testServer();
    const reply = await server.app.inject({ method: 'POST', url: '/v1/usage', headers: record, payload: { userId: 'u1', promptTokens: 2, cycleStartDate: '2024-02-30' } });
    expect(reply.statusCode).toBe(400);
    expect(reply.json()).toMatchObject({ code: 'USAGE.INVALID_CYCLE_DATE' });
    expect((await server.repository.getUsageStats('u1')).totalTokens).toBe(0);
  });
});
