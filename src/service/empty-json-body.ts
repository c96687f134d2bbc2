import type { App } from './context.js';

/**
 * Lets a request say `Content-Type: application/json` with no body (many HTTP clients set that header
 * on every call, DELETE and GET included): the body is then absent, so a route without a body answers
 * normally and a route that needs one gets its schema's 400 problem, instead of fastify's
 * FST_ERR_CTP_EMPTY_JSON_BODY. A non-empty body goes through fastify's own parser (same proto-poisoning
 * rules).
 */
export function acceptEmptyJsonBodies(app: App): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    // parseAs 'string' hands over a string; the type also admits a Buffer.
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text === '') done(null, undefined);
    else parse(request, text, done);
  });
}
