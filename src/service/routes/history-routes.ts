import { Type } from 'typebox';
import { ValidationError } from '../../domain/errors.js';
import { limitView } from '../context.js';
import type { App, ServiceContext } from '../context.js';
import { CountersProps, CycleQuery, CycleStartSchema, LimitViewProps, UserParams } from '../schemas.js';
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
const TopUserSchema = Type.Object({ userId: Type.String(), cycleStartDate: Type.String(), ...CountersProps });
const TopQuery = Type.Object(
  { cycleStartDate: Type.Optional(CycleStartSchema), n: Type.Optional(Type.String({ pattern: '^\\d{1,4}$', description: '1 to 1000, default 10' })) },
  { additionalProperties: false },
);
const NearestQuery = Type.Object(
  {
    cycleStartDate: Type.Optional(CycleStartSchema),
    n: Type.Optional(Type.String({ pattern: '^\\d{1,3}$', description: '1 to 100, default 10' })),
    candidates: Type.Optional(Type.String({ pattern: '^\\d{1,4}$', description: 'How many of the top users by usage to rank by limit, 1 to 1000, default 200' })),
  },
  { additionalProperties: false },
);
const ReportCounts = { scanned: Type.Integer(), skipped: Type.Integer() };

/** History, burn-rate projection, the cycle's top users, and the users nearest their limits. */
export function historyRoutes(app: App, ctx: ServiceContext): void {
  const { repository } = ctx;
  const history = (userId: string, query: { from?: string; to?: string; granularity?: 'day' | 'cycle'; timeZone?: string }) =>
    repository.usageHistory(userId, query);

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
        summary: "The cycle's users with the most total tokens (SCAN pages, never KEYS)",
        tags: ['history'],
        querystring: TopQuery,
        response: { 200: Type.Object({ cycleStartDate: Type.String(), users: Type.Array(TopUserSchema), ...ReportCounts }), ...ERRORS },
      },
    },
    async (request) => {
      const { cycleStartDate, n } = request.query;
      const top = await repository.top(cycleStartDate, n === undefined ? undefined : Number(n));
      return { ...top, users: [...top.users] };
    },
  );
  app.get(
    '/v1/nearest-limits',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Users with a limit, by the share of it they have used',
        description: 'Ranks the top `candidates` users by usage (one SCAN), reading each one\'s limit; users below them by usage are not considered.',
        tags: ['history'],
        querystring: NearestQuery,
        response: {
          200: Type.Object({
            cycleStartDate: Type.String(),
            users: Type.Array(Type.Object({ ...TopUserSchema.properties, ...LimitViewProps, usageRatio: Type.Number() })),
            ...ReportCounts,
          }),
          ...ERRORS,
        },
      },
    },
    async (request) => {
      const n = request.query.n === undefined ? 10 : Number(request.query.n);
      if (n < 1 || n > 100) throw new ValidationError('USAGE.INVALID_OPTION', 'querystring.n', n, 'n must be from 1 to 100');
      const candidates = request.query.candidates === undefined ? 200 : Number(request.query.candidates);
      const top = await repository.top(request.query.cycleStartDate, candidates);
      const users = await Promise.all(
        top.users.map(async (user) => {
          const check = await repository.checkUsageLimit(user.userId, top.cycleStartDate);
          const view = limitView(check);
          return { ...user, ...view, usageRatio: view.limit === null || view.limit === 0 ? 0 : user.totalTokens / view.limit };
        }),
      );
      const limited = users.filter((u) => !u.unlimited).sort((a, b) => b.usageRatio - a.usageRatio || b.totalTokens - a.totalTokens);
      return { cycleStartDate: top.cycleStartDate, users: limited.slice(0, n), scanned: top.scanned, skipped: top.skipped };
    },
  );
}

function selfId(principal: { kind: string; userId?: string } | undefined): string {
  if (principal?.kind !== 'user' || principal.userId === undefined) throw new Error('unreachable: the auth hook lets only user tokens in');
  return principal.userId;
}
