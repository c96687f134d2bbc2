import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { TokenUsageRepository } from '../application/token-usage-repository.js';
import type { CycleCalendar } from '../domain/billing-cycle.js';
import type { LimitCheck } from '../domain/limit-policy.js';
import type { ReservationHandles } from './reservation-handle.js';

/** What the routes share: the facade (every route goes through it) and the service's own helpers. */
export interface ServiceContext {
  readonly repository: TokenUsageRepository;
  /** The same cycle policy as the repository's, to echo which cycle a request without a date hit. */
  readonly calendar: CycleCalendar;
  readonly handles: ReservationHandles;
}

/** A limit as JSON: `remaining` is never `Infinity`; no limit is `null` with `unlimited: true`. */
export function limitView(check: Pick<LimitCheck, 'limit' | 'remaining' | 'exceeded'>): {
  limit: number | null;
  remaining: number | null;
  unlimited: boolean;
  exceeded: boolean;
} {
  const unlimited = !Number.isFinite(check.remaining);
  return {
    limit: unlimited ? null : check.limit,
    remaining: unlimited ? null : check.remaining,
    unlimited,
    exceeded: check.exceeded,
  };
}

/** The fastify instance with the TypeBox type provider. */
export type App = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;
