import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ConfigError, CorruptUsageDataError, QuotaExceededError, StoreUnavailableError, ValidationError } from '../domain/errors.js';

/** An RFC 9457 problem document; extension members carry the numbers (e.g. of a denial). */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail?: string;
  /** The offending request field, e.g. `body.promptTokens`. */
  readonly field?: string;
  /** This package's stable error code, e.g. `USAGE.INVALID_TOKEN_COUNT`. */
  readonly code?: string;
  readonly [extension: string]: unknown;
}

/** The media type of every error reply. */
export const PROBLEM_JSON = 'application/problem+json; charset=utf-8';

/** A problem `type` URI for a slug. */
export function problemType(slug: string): string {
  return `urn:token-usage:problem:${slug}`;
}

/** Sends a problem document with its status and media type. */
export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  return reply.code(problem.status).type(PROBLEM_JSON).send(problem);
}

/** Maps any error thrown by a route (or by fastify's own validation) to a problem document. */
export function problemOf(error: unknown): Problem {
  const fastifyError = error as FastifyError & { validationContext?: string };
  if (Array.isArray(fastifyError.validation)) {
    const first = fastifyError.validation[0];
    const params = (first?.params ?? {}) as { missingProperty?: string; additionalProperty?: string };
    const path = (first?.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.');
    const leaf = params.missingProperty ?? params.additionalProperty;
    const field = [fastifyError.validationContext ?? 'body', path, leaf].filter((p) => p !== undefined && p !== '').join('.');
    const reason = params.additionalProperty === undefined ? (first?.message ?? 'is invalid') : 'is not a known field';
    return { type: problemType('validation'), title: 'Invalid request', status: 400, field, code: 'USAGE.INVALID_REQUEST', detail: `${field} ${reason}` };
  }
  if (error instanceof ValidationError) {
    return { type: problemType('validation'), title: 'Invalid request', status: 400, field: error.field, code: error.code, detail: error.message };
  }
  if (error instanceof QuotaExceededError) {
    return {
      type: problemType('quota-exceeded'),
      title: 'Quota exceeded',
      status: error.reason === 'limit-exceeded' ? 429 : 503,
      code: error.code,
      detail: error.message,
      reason: error.reason,
      limit: error.limit,
      currentUsage: error.currentUsage,
      reserved: error.reserved,
      remaining: error.remaining,
      requested: error.requested,
    };
  }
  if (error instanceof StoreUnavailableError) {
    return { type: problemType('store-unavailable'), title: 'Usage store unavailable', status: 503, code: error.code, detail: error.message };
  }
  if (error instanceof ConfigError) {
    return { type: problemType('not-configured'), title: 'Not available in this configuration', status: 409, code: error.code, detail: error.message };
  }
  if (error instanceof CorruptUsageDataError) {
    return { type: problemType('corrupt-data'), title: 'Stored usage is corrupt', status: 500, code: error.code, detail: error.message };
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // fastify's own client errors: malformed JSON, wrong media type, body too large, ...
    // Like every other problem they carry a USAGE.* code (README); the title is the status's own text.
    return { type: problemType('bad-request'), title: STATUS_CODES[status] ?? 'Bad Request', status, code: 'USAGE.INVALID_REQUEST', detail: fastifyError.message };
  }
  if (status === 503) return { type: problemType('unavailable'), title: 'Service unavailable', status, detail: fastifyError.message };
  return { type: problemType('internal'), title: 'Internal server error', status: 500 };
}

/** fastify's error handler: a problem document for every error; server errors are logged, client errors are not. */
export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const problem = problemOf(error);
  if (problem.status >= 500) {
    const { code, name, message } = error as { code?: string; name?: string; message?: string };
    // The principal's label (never its secret); a child logger per request would cost every request.
    const principal = request.principal;
    const who = principal === undefined ? undefined : principal.kind === 'api-key' ? principal.name : `user:${principal.userId}`;
    request.log.error({ err: { code, name, message }, principal: who }, 'request failed');
  }
  return sendProblem(reply, problem);
}
