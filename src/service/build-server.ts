import underPressure from '@fastify/under-pressure';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';
import type { TokenUsageRepository } from '../application/token-usage-repository.js';
import type { CycleCalendar } from '../domain/billing-cycle.js';
import type { Logger } from '../ports/logger.js';
import { installAuth } from './auth.js';
import type { App, ServiceContext } from './context.js';
import { Credentials } from './credentials.js';
import { acceptEmptyJsonBodies } from './empty-json-body.js';
import { errorHandler, problemType, PROBLEM_JSON } from './problem.js';
import { lazyChildLoggerFactory } from './request-logger.js';
import { ReservationHandles } from './reservation-handle.js';
import { adminRoutes } from './routes/admin-routes.js';
import { dashboardRoutes } from './routes/dashboard-routes.js';
import { historyRoutes } from './routes/history-routes.js';
import { limitRoutes } from './routes/limit-routes.js';
import { opsRoutes } from './routes/ops-routes.js';
import { reservationRoutes } from './routes/reservation-routes.js';
import { usageRoutes } from './routes/usage-routes.js';
import type { ServerConfig } from './server-config.js';

/** Options of {@link buildServer}. */
export interface BuildServerOptions {
  readonly config: ServerConfig;
  /** Builds the repository on the server's logger (so its logs share the redaction and the request ids). */
  readonly createRepository: (logger: Logger) => TokenUsageRepository;
  /** The repository's cycle policy (see `ServiceContext.calendar`). */
  readonly calendar: CycleCalendar;
  /** fastify's `logger` option; default pino at `config.logLevel` with secrets redacted. */
  readonly logger?: FastifyServerOptions['logger'];
}

/**
 * Fields never logged: bearer tokens, and any password or secret a log line might carry. (API keys
 * themselves are never put in a log line: errors name the principal, never its key.)
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  'password',
  '*.password',
  '*.*.password',
  'secret',
  '*.secret',
];

/** fastify's logger options: pino at `level`, with {@link REDACTED_PATHS} censored. */
export function serverLoggerOptions(level: string, stream?: { write(line: string): void }) {
  return { level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, ...(stream === undefined ? {} : { stream }) };
}

/**
 * The HTTP service: every route goes through the facade; nothing bypasses its guarantees. Returns
 * the app (not listening) and the repository, which `app.close()` flushes and closes.
 */
export async function buildServer(options: BuildServerOptions): Promise<{ app: App; repository: TokenUsageRepository }> {
  const { config } = options;
  const app: App = Fastify({
    logger: options.logger ?? serverLoggerOptions(config.logLevel),
    // Per-request lines only on request (TOKEN_USAGE_REQUEST_LOG); server errors are logged either way (errorHandler).
    logController: new LogController({ disableRequestLogging: !config.requestLogging }),
    childLoggerFactory: lazyChildLoggerFactory,
    bodyLimit: config.bodyLimitBytes,
    return503OnClosing: true,
    // Reservation handles (signed, ~250 characters) travel in the path.
    routerOptions: { maxParamLength: 2048 },
    forceCloseConnections: 'idle',
    // Strict bodies: no coercion ("5" is not 5, true is not 1) and unknown fields are errors, not dropped.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  const repository = options.createRepository(app.log.child({ component: 'repository' }) as FastifyBaseLogger & Logger);
  const ctx: ServiceContext = { repository, calendar: options.calendar, handles: new ReservationHandles(config.reservationSecret) };
  const credentials = new Credentials(config.apiKeys, config.userTokens);
  if (credentials.empty) app.log.warn('no API keys or user tokens configured: every /v1 route answers 401 (set TOKEN_USAGE_API_KEYS)');
  if (config.reservationSecret === undefined) {
    app.log.warn('TOKEN_USAGE_RESERVATION_SECRET is not set: reservation handles are signed with a random key and do not survive a restart or cross replicas');
  }

  app.setErrorHandler(errorHandler);
  acceptEmptyJsonBodies(app);
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).type(PROBLEM_JSON).send({ type: problemType('not-found'), title: 'Not found', status: 404, detail: `${request.method} ${request.url}` }),
  );

  await app.register(underPressure, {
    maxEventLoopDelay: config.maxEventLoopDelayMs,
    retryAfter: 10,
    pressureHandler: (_request, reply, type) => {
      reply.code(503).header('retry-after', '10').type(PROBLEM_JSON);
      // A non-null return is what under-pressure sends (its types say void; its code sends the value).
      return { type: problemType('overloaded'), title: 'Service overloaded', status: 503, detail: `under pressure: ${type}` } as unknown as void;
    },
  });
  await app.register(swagger, {
    openapi: {
      info: { title: 'token-usage-repository', version: '1', description: 'Per-user LLM token usage, limits and reservations' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  // The docs page's routes are public like the spec they render.
  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/docs')) route.config = { ...route.config, access: 'public' };
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { url: '/openapi.json' } });
  installAuth(app, credentials);

  app.get('/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () => app.swagger());
  opsRoutes(app, ctx);
  usageRoutes(app, ctx);
  limitRoutes(app, ctx);
  reservationRoutes(app, ctx);
  historyRoutes(app, ctx);
  adminRoutes(app, ctx);
  dashboardRoutes(app);

  // While closing, answers end their keep-alive connection: otherwise a client's connection that
  // turns idle after close() began would hold server.close() (and so the flush below) for the whole
  // keep-alive timeout.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  // After fastify stops accepting and drains in-flight requests: flush buffered records, close Redis.
  app.addHook('onClose', async () => {
    await repository.close({ timeoutMs: config.closeTimeoutMs });
  });
  return { app, repository };
}
