import { Type } from 'typebox';
import type { App, ServiceContext } from '../context.js';
import { problemType, sendProblem } from '../problem.js';
import { ActualUsageSchema, CycleStartSchema, IdempotencyHeaders, RecordReplySchema, ReservationProps, TokensSchema, UserIdSchema } from '../schemas.js';
import { ERRORS } from './errors.js';

const ReserveBody = Type.Object(
  {
    userId: UserIdSchema,
    tokens: TokensSchema,
    cycleStartDate: Type.Optional(CycleStartSchema),
    leaseMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000, description: 'Overrides the configured lease' })),
  },
  { additionalProperties: false },
);
const HandleParams = Type.Object({ handle: Type.String({ minLength: 1, maxLength: 2048 }) });

/**
 * Reserve / commit / release over HTTP, so services in any language share the same atomic
 * enforcement. The handle is signed: any replica can commit it, nobody can alter it.
 */
export function reservationRoutes(app: App, ctx: ServiceContext): void {
  const { repository, handles } = ctx;

  app.post(
    '/v1/reservations',
    {
      config: { access: 'record' },
      schema: {
        summary: 'Hold tokens under the effective limit (atomic)',
        description:
          'Granted: 201 with a handle. Denied: 429 problem naming limit, currentUsage, reserved, remaining and requested. ' +
          'With an Idempotency-Key, a re-sent request (same user, cycle and tokens) returns the same reservation and holds its tokens once.',
        tags: ['enforcement'],
        headers: IdempotencyHeaders,
        body: ReserveBody,
        response: { 201: Type.Object({ granted: Type.Literal(true), reason: Type.String(), ...ReservationProps }), ...ERRORS },
      },
    },
    async (request, reply) => {
      const { userId, tokens, cycleStartDate, leaseMs } = request.body;
      const idempotencyKey = request.headers['idempotency-key'];
      const result = await repository.reserve(userId, tokens, {
        ...(cycleStartDate === undefined ? {} : { cycleStartDate }),
        ...(leaseMs === undefined ? {} : { leaseMs }),
        ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
      });
      if (!result.granted) {
        const limited = result.reason === 'limit-exceeded';
        return sendProblem(reply, {
          type: problemType('quota-exceeded'),
          title: limited ? 'Quota exceeded' : 'Quota not checked: the usage store is unavailable (fail-closed)',
          status: limited ? 429 : 503,
          code: 'USAGE.QUOTA_EXCEEDED',
          detail: limited
            ? `${tokens} tokens requested, ${result.remaining} of ${result.limit} remaining (${result.currentUsage} used, ${result.reserved} reserved)`
            : 'the failure policy is fail-closed',
          reason: result.reason,
          limit: result.limit,
          currentUsage: result.currentUsage,
          reserved: result.reserved,
          remaining: result.remaining,
          requested: tokens,
        });
      }
      const { reservation } = result;
      return reply.code(201).send({ granted: true, reason: result.reason, handle: handles.encode(reservation), ...reservation });
    },
  );

  app.post(
    '/v1/reservations/:handle/commit',
    {
      config: { access: 'record' },
      schema: {
        summary: 'Record the actual usage of a reservation and free it (atomic, at most once)',
        tags: ['enforcement'],
        params: HandleParams,
        headers: IdempotencyHeaders,
        body: ActualUsageSchema,
        response: { 200: RecordReplySchema, ...ERRORS },
      },
    },
    async (request) => {
      const reservation = handles.decode(request.params.handle);
      const idempotencyKey = request.headers['idempotency-key'];
      const result = await repository.commit(reservation, request.body, idempotencyKey === undefined ? {} : { idempotencyKey });
      return { recorded: true, duplicate: result.duplicate, counters: result.counters, alerts: [...result.alerts] };
    },
  );

  app.delete(
    '/v1/reservations/:handle',
    {
      config: { access: 'record' },
      schema: {
        summary: 'Free a reservation without usage',
        tags: ['enforcement'],
        params: HandleParams,
        response: { 200: Type.Object({ released: Type.Boolean({ description: 'false when it was already gone' }) }), ...ERRORS },
      },
    },
    async (request) => ({ released: await repository.release(handles.decode(request.params.handle)) }),
  );
}
