import { afterEach, describe, expect, it } from 'vitest';
import { bearer, SECRETS, testServer } from '../support/service.js';

type Server = Awaited<ReturnType<typeof testServer>>;
let server: Server;
afterEach(async () => server?.app.close());

const read = bearer(SECRETS.read);
const DAY = 86_400_000;

/** Records on three days of January 2024 (the fake clock starts on the 15th). */
async function seed(s: Server): Promise<void> {
  s.clock.set(Date.parse('2024-01-02T10:00:00Z'));
  await s.repository.incrementDetailedUsage('u1', 100, 50);
  s.clock.advance(DAY);
  await s.repository.incrementTotalUsage('u1', 30);
  s.clock.set(Date.parse('2024-01-10T10:00:00Z'));
  await s.repository.incrementDetailedUsage('u1', 10, 10);
  await s.repository.incrementTotalUsage('u2', 500);
  await s.repository.incrementTotalUsage('u3', 90);
  await s.repository.setUsageLimit('u1', 400);
  await s.repository.setUsageLimit('u3', 100);
}

describe('HTTP API: history, projection, top', () => {
  it('daily history sums to the cycle counters', async () => {
    server = await testServer();
    await seed(server);
    const reply = await server.app.inject({ method: 'GET', url: '/v1/users/u1/history?from=2024-01-01&to=2024-01-10', headers: read });
    expect(reply.statusCode).toBe(200);
    const rows = reply.json() as { windowStart: string; totalTokens: number; promptTokens: number }[];
    expect(rows).toHaveLength(10);
    expect(rows[1]).toEqual({ windowStart: '2024-01-02T00:00:00.000Z', windowEnd: '2024-01-03T00:00:00.000Z', promptTokens: 100, completionTokens: 50, totalTokens: 150 });
    const sum = rows.reduce((total, row) => total + row.totalTokens, 0);
    expect(sum).toBe((await server.repository.getUsageStats('u1')).totalTokens);
    const cycles = await server.app.inject({ method: 'GET', url: '/v1/users/u1/history?from=2024-01-01&to=2024-01-10&granularity=cycle', headers: read });
    expect(cycles.json()).toHaveLength(1);
    expect(cycles.json()[0].totalTokens).toBe(200);
  });

  it('validates history queries and names the field', async () => {
    server = await testServer();
    const bad = async (query: string) => (await server.app.inject({ method: 'GET', url: `/v1/users/u1/history?${query}`, headers: read })).json().field;
    expect(await bad('granularity=week')).toBe('querystring.granularity');
    expect(await bad('from=2024-01-10&to=2024-01-01')).toBe('to');
    expect(await bad('from=yesterday')).toBe('querystring.from');
  });

  it('projection says when the limit is reached at the current rate', async () => {
    server = await testServer();
    await seed(server);
    const reply = await server.app.inject({ method: 'GET', url: '/v1/users/u1/projection', headers: read });
    expect(reply.json()).toMatchObject({ cycleStartDate: '2024-01-01', cycleEndDate: '2024-02-01', totalTokens: 200, limit: 400 });
    expect(reply.json().limitReachedOn).toMatch(/^2024-01-\d\d$/);
  });

  it('top ranks the cycle by total tokens, or with by=limit by the share of the limit used', async () => {
    server = await testServer();
    await seed(server);
    const top = await server.app.inject({ method: 'GET', url: '/v1/top?n=2', headers: read });
    expect(top.json()).toMatchObject({ cycleStartDate: '2024-01-01', scanned: 3, users: [{ userId: 'u2', totalTokens: 500 }, { userId: 'u1', totalTokens: 200 }] });
    expect(top.json().users[0]).toMatchObject({ limit: null, remaining: null, unlimited: true, usedFraction: null });
    const nearest = await server.app.inject({ method: 'GET', url: '/v1/top?by=limit', headers: read });
    expect(nearest.json().users).toEqual([
      expect.objectContaining({ userId: 'u3', totalTokens: 90, limit: 100, remaining: 10, unlimited: false, usedFraction: 0.9 }),
      expect.objectContaining({ userId: 'u1', totalTokens: 200, limit: 400, remaining: 200, unlimited: false, usedFraction: 0.5 }),
    ]);
    expect((await server.app.inject({ method: 'GET', url: '/v1/top?by=ratio', headers: read })).json().field).toBe('querystring.by');
    expect((await server.app.inject({ method: 'GET', url: '/v1/top?n=0', headers: read })).json().field).toBe('n');
  });

  it('a user token reads its own history only', async () => {
    server = await testServer();
    server.clock.set(Date.parse('2024-01-03T10:00:00Z'));
    await server.repository.incrementTotalUsage('alice', 42);
    const mine = await server.app.inject({ method: 'GET', url: '/v1/me/history?from=2024-01-03&to=2024-01-03', headers: bearer(SECRETS.alice) });
    expect(mine.json()).toEqual([expect.objectContaining({ totalTokens: 42 })]);
    expect((await server.app.inject({ method: 'GET', url: '/v1/users/bob/history', headers: bearer(SECRETS.alice) })).statusCode).toBe(403);
  });
});
