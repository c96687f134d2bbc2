import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { bearerToken } from './credentials.js';
import type { Credentials, Principal } from './credentials.js';
import { problemType, sendProblem } from './problem.js';
import type { Problem } from './problem.js';
import type { Scope } from './server-config.js';

/** What a route needs: an API key with a scope, a per-user token, or nothing (probes, docs, dashboard). */
export type Access = Scope | 'user' | 'public';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route; routes without it are refused (closed by default). */
    access?: Access;
    /** @fastify/under-pressure's per-route override (probes answer even under load). */
    pressureHandler?: (request: FastifyRequest, reply: FastifyReply, type: string, value: number | undefined) => unknown;
  }
  interface FastifyRequest {
    principal: Principal | undefined;
  }
}

/** `admin` implies `read` (an operator who may reset a user may also look at them); nothing implies `record`. */
function grants(principal: Principal, access: Exclude<Access, 'public'>): boolean {
  if (access === 'user') return principal.kind === 'user';
  if (principal.kind !== 'api-key') return false;
  return principal.scopes.includes(access) || (access === 'read' && principal.scopes.includes('admin'));
}

/**
 * Checks the bearer secret of every request against its route's `config.access`: one global hook, so
 * every route, in any plugin and declared at any time, is checked, and one without `access` is
 * refused (closed by default). A callback hook, not an async one: it never waits, and an async hook
 * costs a promise and a microtask per request. A refusal sends its problem and does not call `done`
 * (fastify's way to answer from a hook).
 */
export function installAuth(app: FastifyInstance, credentials: Credentials): void {
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    // fastify builds request.routeOptions afresh on each read: read it once.
    const route = request.routeOptions;
    // A 404 has no route config; let fastify answer it.
    if (route.url === undefined) return done();
    const access = route.config.access;
    if (access === 'public') return done();
    const refusal = refuse(request, reply, credentials, access);
    if (refusal === undefined) done();
    else sendProblem(reply, refusal);
  });
}

/** The 401 or 403 problem of a request, or undefined when it may go on (its `principal` is then set). */
function refuse(request: FastifyRequest, reply: FastifyReply, credentials: Credentials, access: Exclude<Access, 'public'> | undefined): Problem | undefined {
  const token = bearerToken(request.headers.authorization);
  const principal = token === undefined ? undefined : credentials.lookup(token);
  if (principal === undefined) {
    reply.header('www-authenticate', 'Bearer realm="token-usage"');
    return {
      type: problemType('unauthorized'),
      title: 'Unauthorized',
      status: 401,
      detail: token === undefined ? 'send Authorization: Bearer <api key>' : 'unknown API key or token',
    };
  }
  if (access === undefined || !grants(principal, access)) {
    return {
      type: problemType('forbidden'),
      title: 'Forbidden',
      status: 403,
      detail: access === 'user' ? 'this route takes a per-user token' : `this route needs the ${access ?? 'unknown'} scope`,
    };
  }
  request.principal = principal;
  return undefined;
}
