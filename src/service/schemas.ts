import { Type } from 'typebox';
import { MAX_IDEMPOTENCY_KEY_LENGTH } from '../domain/idempotency.js';
import { MAX_USER_ID_LENGTH } from '../domain/user-id.js';

// The schemas check shape and range; the domain's smart constructors still check the rest (control
// characters, real calendar dates) and answer with a ValidationError naming the field.

/** A user id as the library accepts it. */
export const UserIdSchema = Type.String({ minLength: 1, maxLength: MAX_USER_ID_LENGTH, description: 'The user whose usage this is' });
/** A token count. */
export const TokensSchema = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
/** A `YYYY-MM-DD` cycle start. */
export const CycleStartSchema = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'Billing cycle start, YYYY-MM-DD; default the current cycle' });
/** A whole number in a query string (query strings are not type-coerced, so `tokens=1e3` or `tokens=true` are errors). */
export const QueryIntegerSchema = Type.String({ pattern: '^\\d{1,15}$' });

/** `:userId` in a path. */
export const UserParams = Type.Object({ userId: UserIdSchema });
/** `?cycleStartDate=` */
export const CycleQuery = Type.Object({ cycleStartDate: Type.Optional(CycleStartSchema) }, { additionalProperties: false });

/** The optional `Idempotency-Key` header. */
export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: MAX_IDEMPOTENCY_KEY_LENGTH })),
});

/** Counters of one user's cycle. */
export const CountersProps = {
  promptTokens: Type.Integer(),
  completionTokens: Type.Integer(),
  totalTokens: Type.Integer(),
};
export const CountersSchema = Type.Object(CountersProps);

/** A limit view: never `Infinity` in JSON; `null` with `unlimited: true` when no limit applies. */
export const LimitViewProps = {
  limit: Type.Union([Type.Integer(), Type.Null()]),
  remaining: Type.Union([Type.Integer(), Type.Null()]),
  unlimited: Type.Boolean(),
  exceeded: Type.Boolean(),
};

/** A crossed alert threshold. */
export const AlertSchema = Type.Object({
  id: Type.String(),
  userId: Type.String(),
  cycleStartDate: Type.String(),
  level: Type.String(),
  threshold: Type.Number(),
  currentUsage: Type.Integer(),
  limit: Type.Integer(),
  usageRatio: Type.Number(),
  remaining: Type.Integer(),
  at: Type.Integer(),
});

/** What a direct record did. */
export const RecordReplySchema = Type.Object({
  recorded: Type.Boolean({ description: 'false when every count was 0 (nothing to do)' }),
  duplicate: Type.Boolean({ description: 'true when the idempotency key was already used: nothing was added' }),
  counters: Type.Union([CountersSchema, Type.Null()]),
  alerts: Type.Array(AlertSchema),
});

/** A reservation as the library returns it, plus its signed handle. */
export const ReservationProps = {
  handle: Type.String({ description: 'Pass to /v1/reservations/{handle}/commit or DELETE /v1/reservations/{handle}' }),
  id: Type.String(),
  userId: Type.String(),
  cycleStartDate: Type.String(),
  tokens: Type.Integer(),
  expiresAt: Type.Integer({ description: 'epoch ms' }),
  degraded: Type.Boolean({ description: 'granted without the store (fail-open): nothing is held' }),
};

/** A problem document (RFC 9457). */
export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.Optional(Type.String()),
    field: Type.Optional(Type.String()),
    code: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);

/** Usage actually consumed, for a commit. */
export const ActualUsageSchema = Type.Object(
  {
    promptTokens: Type.Optional(TokensSchema),
    completionTokens: Type.Optional(TokensSchema),
    totalTokens: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: '>= prompt + completion' })),
  },
  { additionalProperties: false },
);

/** Any JSON object (reports whose shape is documented in docs/consistency.md and docs/alerts.md). */
export const ReportSchema = Type.Object({}, { additionalProperties: true });

