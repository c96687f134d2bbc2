import { Type } from 'typebox';
import { limitView } from '../context.js';
import type { App, ServiceContext } from '../context.js';
import { CycleQuery, CycleStartSchema, LimitViewProps, UserIdSchema, UserParams } from '../schemas.js';
import { ERRORS } from './errors.js';

const LimitBody = Type.Object(
  { limit: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Tokens per cycle; 0 removes the limit' }) },
  { additionalProperties: false },
);
const CycleParams = Type.Object({ userId: UserIdSchema, cycleStartDate: CycleStartSchema });
const LimitReply = Type.Object({ userId: Type.String(), cycleStartDate: Type.String(), currentUsage: Type.Integer(), ...LimitViewProps });
const SetReply = Type.Object({ userId: Type.String(), cycleStartDate: Type.Union([Type.String(), Type.Null()]), limit: Type.Union([Type.Integer(), Type.Null()]) });

/** Standing limits (every cycle), dated overrides (one cycle), and the effective limit of a cycle. */
export function limitRoutes(app: App, ctx: ServiceContext): void {
  const { repository } = ctx;

  app.get(
    '/v1/users/:userId/limit',
    {
      config: { access: 'read' },
      schema: {
        summary: "The effective limit of a user's cycle (override, else standing, else none)",
        tags: ['limits'],
        params: UserParams,
        querystring: CycleQuery,
        response: { 200: LimitReply, ...ERRORS },
      },
    },
    async (request) => {
      const cycle = ctx.calendar.resolve(request.query.cycleStartDate).start;
      const check = await repository.checkUsageLimit(request.params.userId, cycle);
      return { userId: request.params.userId, cycleStartDate: cycle, currentUsage: check.currentUsage, ...limitView(check) };
    },
  );

  const set = async (userId: string, limit: number, cycleStartDate: string | undefined) => {
    await repository.setUsageLimit(userId, limit, cycleStartDate);
    return { userId, cycleStartDate: cycleStartDate ?? null, limit: limit === 0 ? null : limit };
  };
  app.put(
    '/v1/users/:userId/limit',
    { config: { access: 'admin' }, schema: { summary: 'Set the standing limit (every cycle)', tags: ['limits'], params: UserParams, body: LimitBody, response: { 200: SetReply, ...ERRORS } } },
    async (request) => set(request.params.userId, request.body.limit, undefined),
  );
  app.delete('/v1/users/:userId/limit', { config: { access: 'admin' }, schema: { summary: 'Remove the standing limit', tags: ['limits'], params: UserParams, response: { 200: SetReply, ...ERRORS } } }, async (request) =>
    set(request.params.userId, 0, undefined),
  );
  app.put(
    '/v1/users/:userId/cycles/:cycleStartDate/limit',
    { config: { access: 'admin' }, schema: { summary: 'Override the limit for one cycle', tags: ['limits'], params: CycleParams, body: LimitBody, response: { 200: SetReply, ...ERRORS } } },
    async (request) => set(request.params.userId, request.body.limit, request.params.cycleStartDate),
  );
  app.delete(
    '/v1/users/:userId/cycles/:cycleStartDate/limit',
    { config: { access: 'admin' }, schema: { summary: "Remove one cycle's override", tags: ['limits'], params: CycleParams, response: { 200: SetReply, ...ERRORS } } },
    async (request) => set(request.params.userId, 0, request.params.cycleStartDate),
  );
}
