import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pngDistinctBytes } from '../support/png.js';
import { bearer, SECRETS, testServer } from '../support/service.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
// Chromium is required in CI; a developer machine without it skips, saying so.
const describeBrowser = existsSync(CHROMIUM) || process.env['CI'] === 'true' ? describe : describe.skip;
const NOW = '2024-01-20T12:00:00Z';
const DAY = 86_400_000;

interface Canvas {
  readonly width: number;
  readonly height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } };
}

type Server = Awaited<ReturnType<typeof testServer>>;
let server: Server;
let context: BrowserContext;
let profile: string;
let base: string;

async function seed(s: Server): Promise<void> {
  const day = (n: number) => s.clock.set(Date.parse('2024-01-01T09:00:00Z') + n * DAY);
  for (let d = 0; d < 19; d += 1) {
    day(d);
    await s.repository.incrementDetailedUsage('alice', 400 + d * 20, 200);
    if (d % 3 === 0) await s.repository.incrementTotalUsage('bob', 1_500);
    await s.repository.incrementDetailedUsage('carol', 50, 25);
  }
  await s.repository.setUsageLimit('alice', 20_000);
  await s.repository.setUsageLimit('bob', 12_000);
  await s.repository.setUsageLimit('carol', 100_000);
  s.clock.set(NOW);
}

async function api(path: string): Promise<any> {
  return (await server.app.inject({ method: 'GET', url: path, headers: bearer(SECRETS.read) })).json();
}

describeBrowser('dashboard in headless Chromium', () => {
  beforeAll(async () => {
    server = await testServer();
    await seed(server);
    base = await server.app.listen({ host: '127.0.0.1', port: 0 });
    profile = await mkdtemp(join(tmpdir(), 'tur-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1200, height: 1100 },
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await server?.app.close();
    if (profile !== undefined) await rm(profile, { recursive: true, force: true });
  });

  it('loads against the seeded store, shows the same numbers as the API, and draws the chart', async () => {
    const page = await context.newPage();
    // The page's "now" is the server's, so the chart splits past days from future ones the same way.
    await page.clock.setFixedTime(new Date(NOW));
    const failures: string[] = [];
    page.on('pageerror', (error) => failures.push(error.message));
    page.on('requestfailed', (request) => failures.push(`${request.url()} ${request.failure()?.errorText}`));
    await page.goto(`${base}/#key=${SECRETS.read}&user=alice`);
    await page.waitForSelector('#status[data-state="ready"]', { timeout: 20_000 });
    expect(failures).toEqual([]);
    expect(new URL(page.url()).hash).toBe(''); // the key does not linger in the address bar

    const nearest = await api('/v1/top?by=limit&n=10');
    const nearestRows = await page.$$eval('#nearest tbody tr', (rows) =>
      rows.map((row) => [row.getAttribute('data-user'), ...[...row.querySelectorAll('td[data-value]')].map((td) => Number(td.getAttribute('data-value')))]),
    );
    expect(nearestRows).toEqual(nearest.users.map((u: any) => [u.userId, u.totalTokens, u.limit, u.remaining, u.usedFraction]));
    expect(nearestRows.map((row) => row[0])).toEqual(['bob', 'alice', 'carol']);

    const top = await api('/v1/top?n=10');
    const topRows = await page.$$eval('#top tbody tr', (rows) =>
      rows.map((row) => [row.getAttribute('data-user'), ...[...row.querySelectorAll('td[data-value]')].map((td) => Number(td.getAttribute('data-value')))]),
    );
    expect(topRows).toEqual(top.users.map((u: any) => [u.userId, u.promptTokens, u.completionTokens, u.totalTokens]));

    const usage = await api('/v1/users/alice/usage');
    const projection = await api('/v1/users/alice/projection');
    const shown = await page.$$eval('#user-summary dd', (cells) => Object.fromEntries(cells.map((dd) => [dd.getAttribute('data-field'), dd.getAttribute('data-value')])));
    expect(shown).toEqual({
      totalTokens: String(usage.totalTokens),
      limit: String(usage.limit),
      remaining: String(usage.remaining),
      ratePerDay: String(Math.round(projection.ratePerDay)),
      projectedTotal: String(Math.round(projection.projectedTotal)),
      limitReachedOn: projection.limitReachedOn,
    });
    expect(projection.limitReachedOn).toMatch(/^2024-01-\d\d$/);

    // The chart drew: the cumulative line's blue and the limit's red are on the canvas.
    const colours = await page.$eval('#chart canvas', (element) => {
      // The project's tsconfig has no DOM lib: the canvas, structurally.
      const canvas = element as unknown as Canvas;
      const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
      let blue = 0;
      let red = 0;
      for (let i = 0; i < data.length; i += 4) {
        const [r, g, b] = [data[i]!, data[i + 1]!, data[i + 2]!];
        if (Math.abs(r - 0x3b) < 30 && Math.abs(g - 0x6f) < 30 && Math.abs(b - 0xe0) < 30) blue += 1;
        if (Math.abs(r - 0xd9) < 30 && Math.abs(g - 0x48) < 30 && Math.abs(b - 0x2b) < 30) red += 1;
      }
      return { blue, red };
    });
    expect(colours.blue).toBeGreaterThan(200);
    expect(colours.red).toBeGreaterThan(100);
    const shot = await page.locator('#chart').screenshot();
    expect(pngDistinctBytes(shot)).toBeGreaterThan(32);
    const out = resolve(import.meta.dirname, '../../.artifacts');
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'dashboard-chart.png'), shot);
    await writeFile(join(out, 'dashboard.png'), await page.screenshot({ fullPage: true }));
  });

  it('a wrong key shows the API problem instead of data', async () => {
    const page = await context.newPage();
    await page.goto(`${base}/#key=not-a-real-key-0000000`);
    await page.waitForSelector('#status[data-state="error"]', { timeout: 20_000 });
    expect(await page.textContent('#status')).toContain('Unauthorized');
    expect(await page.$$('#top tbody tr')).toHaveLength(0);
  });
});
