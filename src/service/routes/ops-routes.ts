import { Type } from 'typebox';
import type { App, ServiceContext } from '../context.js';

const HealthReply = Type.Object({
  status: Type.String(),
  store: Type.Union([Type.String(), Type.Null()]),
  storeVersion: Type.Union([Type.String(), Type.Null()]),
  version: Type.String(),
  latencyMs: Type.Number(),
  checkedAt: Type.String(),
  error: Type.Optional(Type.String()),
});

// Probes answer even under pressure: shedding them would make an overloaded pod look dead.
const probe = { access: 'public' as const, pressureHandler: () => undefined };

/**
 * Probes and metrics, public like the seed's. Liveness never touches the store, so a Redis outage
 * makes pods unready (out of the load balancer) but never restarts them.
 */
export function opsRoutes(app: App, ctx: ServiceContext): void {
  app.get(
    '/livez',
    { config: probe, schema: { summary: 'The process is up', tags: ['ops'], response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
    async () => ({ status: 'ok' as const }),
  );
  app.get(
    '/readyz',
    {
      config: probe,
      schema: { summary: 'A round trip to the store; 503 when it fails or times out', tags: ['ops'], response: { 200: HealthReply, 503: HealthReply } },
    },
    async (_request, reply) => {
      const report = await ctx.repository.healthCheck();
      return reply.code(report.status === 'healthy' ? 200 : 503).send(report);
    },
  );
  app.get('/metrics', { config: probe, schema: { summary: 'Prometheus text exposition', tags: ['ops'] } }, async (_request, reply) =>
    reply.type('text/plain; version=0.0.4; charset=utf-8').send(await ctx.repository.metrics()),
  );
}
