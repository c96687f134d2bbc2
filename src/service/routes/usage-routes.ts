import { Type } from 'typebox';
import { ValidationError } from '../../domain/errors.js';
import type { RecordResult } from '../../application/token-usage-repository.js';
import { limitView } from '../context.js';
import type { App, ServiceContext } from '../context.js';
import {
  CountersProps,
  CycleQuery,
  CycleStartSchema,
  IdempotencyHeaders,
  LimitViewProps,
  QueryIntegerSchema,
  RecordReplySchema,
  TokensSchema,
  UserIdSchema,
  UserParams,
} from '../schemas.js';
import { ERRORS } from './errors.js';

const RecordBody = Type.Object(
  {
    userId: UserIdSchema,
    promptTokens: Type.Optional(TokensSchema),
    completionTokens: Type.Optional(TokensSchema),
    totalTokens: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: Number.MAX_SAFE_INTEGER,
        description: 'Alone: usage not broken down. With prompt/completion: must equal their sum (or be larger, with buffered)',
      }),
    ),
    cycleStartDate: Type.Optional(CycleStartSchema),
    buffered: Type.Optional(Type.Boolean({ description: 'Acknowledge once buffered (batched write, flushed on shutdown); 202' })),
  },
  { additionalProperties: false },
);

const UsageProps = { userId: Type.String(), cycleStartDate: Type.String(), ...CountersProps, ...LimitViewProps };
const UsageReply = Type.Object(UsageProps);

/** Recording, reading and resetting one user's usage, and the read-only quota check. */
export function usageRoutes(app: App, ctx: ServiceContext): void {
  const { repository } = ctx;

  app.post(
    '/v1/usage',
    {
      config: { access: 'record' },
      schema: {
        summary: 'Record token usage',
        description: 'Atomic; repeating an Idempotency-Key within the dedupe window adds nothing and answers duplicate: true.',
        tags: ['usage'],
        body: RecordBody,
        headers: IdempotencyHeaders,
        response: { 200: RecordReplySchema, 202: Type.Object({ buffered: Type.Boolean() }), ...ERRORS },
      },
    },
    async (request, reply) => {
      const { userId, promptTokens, completionTokens, totalTokens, cycleStartDate, buffered } = request.body;
      const idempotencyKey = request.headers['idempotency-key'];
      if (promptTokens === undefined && completionTokens === undefined && totalTokens === undefined) {
        throw new ValidationError('USAGE.INVALID_TOKEN_COUNT', 'body.promptTokens', undefined, 'send promptTokens, completionTokens or totalTokens');
      }
      if (buffered === true) {
        await repository.recordBuffered({
          userId,
          cycleStartDate: ctx.calendar.resolve(cycleStartDate).start,
          ...(promptTokens === undefined ? {} : { promptTokens }),
          ...(completionTokens === undefined ? {} : { completionTokens }),
          ...(totalTokens === undefined ? {} : { totalTokens }),
          ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
        });
        return reply.code(202).send({ buffered: true });
      }
      // Absent stays absent (no cycle, no options object): the facade resolves the current cycle itself
      // and skips reading an empty options object, the same call as in-process.
      const options = idempotencyKey === undefined ? undefined : { idempotencyKey };
      let result: RecordResult | null;
      if (promptTokens === undefined && completionTokens === undefined) {
        result = await repository.incrementTotalUsage(userId, totalTokens as number, cycleStartDate, options);
      } else {
        const prompt = promptTokens ?? 0;
        const completion = completionTokens ?? 0;
        if (totalTokens !== undefined && totalTokens !== prompt + completion) {
          // One atomic write per request: a total beyond the breakdown is only accepted buffered (or on commit).
          throw new ValidationError(
            'USAGE.INVALID_TOKEN_COUNT',
            'body.totalTokens',
            totalTokens,
            'totalTokens must equal promptTokens + completionTokens here; send the rest as its own totalTokens record, or use buffered: true',
          );
        }
        result = await repository.incrementDetailedUsage(userId, prompt, completion, cycleStartDate, options);
      }
      if (result === null) return { recorded: false, duplicate: false, counters: null, alerts: [] };
      return { recorded: true, duplicate: result.duplicate, counters: result.counters, alerts: [...result.alerts] };
    },
  );

  app.get(
    '/v1/users/:userId/usage',
    {
      config: { access: 'read' },
      schema: { summary: "A user's counters and limit for a cycle", tags: ['usage'], params: UserParams, querystring: CycleQuery, response: { 200: UsageReply, ...ERRORS } },
    },
    async (request) => usageView(ctx, request.params.userId, request.query.cycleStartDate),
  );

  app.get(
    '/v1/me/usage',
    {
      config: { access: 'user' },
      schema: {
        summary: "The caller's own usage (per-user read-only token)",
        tags: ['self-service'],
        querystring: CycleQuery,
        response: { 200: Type.Object({ ...UsageProps, reserved: Type.Integer() }), ...ERRORS },
      },
    },
    async (request) => {
      const principal = request.principal;
      if (principal?.kind !== 'user') throw new Error('unreachable: the auth hook lets only user tokens in');
      const view = await usageView(ctx, principal.userId, request.query.cycleStartDate);
      const inFlight = await repository.canConsume(principal.userId, 0, view.cycleStartDate);
      return { ...view, reserved: inFlight.reserved ?? 0 };
    },
  );

  app.delete(
    '/v1/users/:userId/usage',
    {
      config: { access: 'admin' },
      schema: {
        summary: "Reset a user's counters for a cycle",
        description: 'Limits and outstanding reservations stay; alerts re-arm.',
        tags: ['usage'],
        params: UserParams,
        querystring: CycleQuery,
        response: { 200: Type.Object({ reset: Type.Boolean(), cycleStartDate: Type.String() }), ...ERRORS },
      },
    },
    async (request) => {
      const cycle = ctx.calendar.resolve(request.query.cycleStartDate).start;
      await repository.resetUsage(request.params.userId, cycle);
      return { reset: true, cycleStartDate: cycle };
    },
  );

  app.get(
    '/v1/users/:userId/check',
    {
      config: { access: 'read' },
      schema: {
        summary: 'Would this many tokens fit now (counting reservations)? Read-only; reserve to hold them.',
        tags: ['enforcement'],
        params: UserParams,
        querystring: Type.Object({ tokens: QueryIntegerSchema, cycleStartDate: Type.Optional(CycleStartSchema) }, { additionalProperties: false }),
        response: {
          200: Type.Object({
            allowed: Type.Boolean(),
            reason: Type.String(),
            currentUsage: Type.Union([Type.Integer(), Type.Null()]),
            reserved: Type.Union([Type.Integer(), Type.Null()]),
            limit: Type.Union([Type.Integer(), Type.Null()]),
            remaining: Type.Union([Type.Integer(), Type.Null()]),
            unlimited: Type.Boolean(),
          }),
          ...ERRORS,
        },
      },
    },
    async (request) => {
      const cycle = ctx.calendar.resolve(request.query.cycleStartDate).start;
      const check = await repository.canConsume(request.params.userId, Number(request.query.tokens), cycle);
      const unlimited = check.reason === 'no-limit';
      return { ...check, limit: unlimited ? null : check.limit, remaining: unlimited ? null : check.remaining, unlimited };
    },
  );
}

async function usageView(ctx: ServiceContext, userId: string, cycleStartDate: string | undefined) {
  const cycle = ctx.calendar.resolve(cycleStartDate).start;
  const [stats, check] = await Promise.all([ctx.repository.getUsageStats(userId, cycle), ctx.repository.checkUsageLimit(userId, cycle)]);
  return { userId, cycleStartDate: cycle, ...stats, ...limitView(check) };
}
