import { Type } from 'typebox';
import type { App, ServiceContext } from '../context.js';
import { CountersProps, CycleQuery, CycleStartSchema, UserParams } from '../schemas.js';
import { ERRORS } from './errors.js';

const HistoryQuery = Type.Object(
  {
    from: Type.Optional(CycleStartSchema),
    to: Type.Optional(CycleStartSchema),
    granularity: Type.Optional(Type.Union([Type.Literal('day'), Type.Literal('cycle')])),
    timeZone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Must be the configured cycle time zone' })),
  },
  { additionalProperties: false },
);
const HistoryReply = Type.Array(Type.Object({ windowStart: Type.String(), windowEnd: Type.String(), ...CountersProps }));
const ProjectionReply = Type.Object({
  cycleStartDate: Type.String(),
  cycleEndDate: Type.String(),
  totalTokens: Type.Integer(),
  ratePerDay: Type.Number(),
  projectedTotal: Type.Number(),
  limit: Type.Union([Type.Integer(), Type.Null()]),
  limitReachedOn: Type.Union([Type.String(), Type.Null()]),
});
const TopUserSchema = Type.Object({
  userId: Type.String(),
  cycleStartDate: Type.String(),
  ...CountersProps,
  limit: Type.Union([Type.Integer(), Type.Null()]),
  remaining: Type.Union([Type.Integer(), Type.Null()], { description: '`null` with `unlimited: true` when no limit applies' }),
  unlimited: Type.Boolean(),
  usedFraction: Type.Union([Type.Number(), Type.Null()]),
});
const TopQuery = Type.Object(
  {
    cycleStartDate: Type.Optional(CycleStartSchema),
    n: Type.Optional(Type.String({ pattern: '^\\d{1,4}$', description: '1 to 1000, default 10' })),
    by: Type.Optional(Type.Union([Type.Literal('total'), Type.Literal('limit')], { description: 'total (default), or limit: nearest their limit first, users without one left out' })),
  },
  { additionalProperties: false },
);
const ReportCounts = { scanned: Type.Integer(), skipped: Type.Integer() };

/** History, burn-rate projection, and the cycle's top users (by total, or nearest their limits). */
export function historyRoutes(app: App, ctx: ServiceContext): void {
  const { repository } = ctx;
  const history = (userId: string, query: { from?: string; to?: string; granularity?: 'day' | 'cycle'; timeZone?: string }) =>
    // A copy: fastify's parsed querystring is not a plain object, and the facade takes only plain ones.
    repository.usageHistory(userId, { ...query });

  app.get(
    '/v1/users/:userId/history',
    {
      config: { access: 'read' },
      schema: { summary: "A user's usage per local day or per cycle (from/to included)", tags: ['history'], params: UserParams, querystring: HistoryQuery, response: { 200: HistoryReply, ...ERRORS } },
    },
    async (request) => history(request.params.userId, request.query),
  );
  app.get(
    '/v1/me/history',
    { config: { access: 'user' }, schema: { summary: "The caller's own history (per-user token)", tags: ['self-service'], querystring: HistoryQuery, response: { 200: HistoryReply, ...ERRORS } } },
    async (request) => history(selfId(request.principal), request.query),
  );
  app.get(
    '/v1/users/:userId/projection',
    {
      config: { access: 'read' },
      schema: { summary: 'Burn rate and the date the limit is reached at that rate', tags: ['history'], params: UserParams, querystring: CycleQuery, response: { 200: ProjectionReply, ...ERRORS } },
    },
    async (request) => repository.projectUsage(request.params.userId, request.query.cycleStartDate),
  );
  app.get(
    '/v1/top',
    {
      config: { access: 'read' },
      schema: {
        summary: "The cycle's top users by total tokens, or nearest their limits (one SCAN, never KEYS)",
        tags: ['history'],
        querystring: TopQuery,
        response: { 200: Type.Object({ cycleStartDate: Type.String(), by: Type.String(), users: Type.Array(TopUserSchema), ...ReportCounts }), ...ERRORS },
      },
    },
    async (request) => {
      const { cycleStartDate, n, by } = request.query;
      const top = await repository.top(cycleStartDate, n === undefined ? undefined : Number(n), by === undefined ? {} : { by });
      return {
        ...top,
        users: top.users.map((user) => ({
          ...user,
          remaining: user.limit === null ? null : Math.max(0, user.limit - user.totalTokens),
          unlimited: user.limit === null,
        })),
      };
    },
  );
}

function selfId(principal: { kind: string; userId?: string } | undefined): string {
  if (principal?.kind !== 'user' || principal.userId === undefined) throw new Error('unreachable: the auth hook lets only user tokens in');
  return principal.userId;
}
