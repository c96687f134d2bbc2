import { Type } from 'typebox';
import { MAX_BATCH_SIZE } from '../../domain/consistency-verifier.js';
import type { App, ServiceContext } from '../context.js';
import { CycleStartSchema, ReportSchema, UserIdSchema } from '../schemas.js';
import { ERRORS } from './errors.js';

const VerifyBody = Type.Object(
  {
    userId: Type.Optional(UserIdSchema),
    cycleStartDate: Type.Optional(CycleStartSchema),
    allCycles: Type.Optional(Type.Boolean({ description: 'Every retained cycle (ignored with userId)' })),
    repair: Type.Optional(Type.Boolean({ description: 'Fix what can be fixed; default a dry run' })),
    maxFindings: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
    batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_BATCH_SIZE })),
  },
  { additionalProperties: false },
);
const SweepBody = Type.Object(
  { cycleStartDate: Type.Optional(CycleStartSchema), batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_BATCH_SIZE })) },
  { additionalProperties: false },
);

/** Consistency verification (dry run or repair) and the alert sweep, for operators. */
export function adminRoutes(app: App, ctx: ServiceContext): void {
  const { repository } = ctx;

  app.post(
    '/v1/admin/verify',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Check stored usage for broken invariants (docs/consistency.md); repair: true fixes them',
        tags: ['admin'],
        body: VerifyBody,
        response: { 200: ReportSchema, 409: ERRORS[400], ...ERRORS },
      },
    },
    async (request) => repository.verifyConsistency(request.body),
  );

  app.post(
    '/v1/admin/sweep-alerts',
    {
      config: { access: 'admin' },
      schema: {
        summary: "Check every user's alert thresholds for a cycle (409 when alerts are off)",
        tags: ['admin'],
        body: SweepBody,
        response: { 200: ReportSchema, 409: ERRORS[400], ...ERRORS },
      },
    },
    async (request) => {
      const { cycleStartDate, batchSize } = request.body;
      return repository.sweepAlerts(cycleStartDate, batchSize === undefined ? {} : { batchSize });
    },
  );
}
