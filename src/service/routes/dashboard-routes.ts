import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { App } from '../context.js';

// The page lives in dashboard/ at the package root (three levels up from src/service/routes and from
// dist/service/routes alike); uPlot is served straight from node_modules: no build step at run time.
const DASHBOARD_DIR = fileURLToPath(new URL('../../../dashboard/', import.meta.url));
const UPLOT = createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js');
const UPLOT_CSS = createRequire(import.meta.url).resolve('uplot/dist/uPlot.min.css');

const FILES: Record<string, { path: string; type: string }> = {
  '/': { path: `${DASHBOARD_DIR}index.html`, type: 'text/html; charset=utf-8' },
  '/dashboard/app.js': { path: `${DASHBOARD_DIR}app.js`, type: 'text/javascript; charset=utf-8' },
  '/dashboard/style.css': { path: `${DASHBOARD_DIR}style.css`, type: 'text/css; charset=utf-8' },
  '/dashboard/uPlot.iife.min.js': { path: UPLOT, type: 'text/javascript; charset=utf-8' },
  '/dashboard/uPlot.min.css': { path: UPLOT_CSS, type: 'text/css; charset=utf-8' },
};

/** The static dashboard. Public: it holds no data; the browser calls the API with a read key the user types in. */
export function dashboardRoutes(app: App): void {
  for (const [url, file] of Object.entries(FILES)) {
    app.get(url, { config: { access: 'public' }, schema: { hide: true } }, async (_request, reply) =>
      reply
        .type(file.type)
        .header('cache-control', 'no-cache')
        .header('content-security-policy', "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:")
        .send(await readFile(file.path)),
    );
  }
}
