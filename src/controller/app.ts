import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { registerOpenApi } from './api/openApi.js';
import { newRequestId, withRequestId } from '../protocol/requestIds.js';
import { BadRequest } from '../domain/errors.js';
import type { ControllerContext } from './context.js';
import { operationEngineOf } from './operations/engine.js';
import { identityApi } from './api/identity/routes.js';
import { computeApi } from './api/compute/routes.js';
import { networkApi } from './api/network/routes.js';
import { imageApi } from './api/image/routes.js';
import { agentApi } from './api/agent/routes.js';
import { instrumentRequests, metricsApi } from './api/metrics/routes.js';
import { dashboardRoutes } from './dashboard/routes.js';

/** One listener, one plugin per API area under its path prefix. */
export async function buildApp(ctx: ControllerContext, opts: { https?: { cert: string; key: string } } = {}): Promise<FastifyInstance> {
  // Every controller advances its servers through the operation engine (operations/engine.ts).
  operationEngineOf(ctx);
  const app = Fastify({
    ...(opts.https ? { https: opts.https } : {}),
    loggerInstance: ctx.log as unknown as FastifyBaseLogger,
    // Refused with 413 (in each API's error format) before the body is read.
    bodyLimit: ctx.config.max_body_bytes,
    genReqId: () => newRequestId(),
    // A path parameter longer than the router's default 100 characters would be its own 414 in no API's
    // format; an over-long id is a 404 of the resource, as in Nova and Neutron.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 4096 },
    // No coercion: a JSON 1 where Nova wants a string is a 400, not "1". An
    // unknown property where a schema says additionalProperties: false is a
    // 400 as in Nova, not silently dropped (fastify's default removes it).
    ajv: { customOptions: { allowUnionTypes: true, coerceTypes: false, removeAdditional: false } },
  }) as unknown as FastifyInstance;

  // OpenStack clients send JSON content types on bodiless DELETEs and `null`
  // action values; an empty body is "no body", a broken one a 400.
  app.removeContentTypeParser(['application/json']);
  app.addContentTypeParser(['application/json', 'application/openstack-images-v2.1-json-patch'], { parseAs: 'string' },
    (_req, body, done) => {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      if (text.trim() === '') return done(null, undefined);
      try {
        done(null, JSON.parse(text));
      } catch (e) {
        // statusCode: outside the APIs (no error handler of theirs maps BadRequest) Fastify answers with it, not 500.
        done(Object.assign(new BadRequest(`Malformed request body: ${(e as Error).message}`), { statusCode: 400 }), undefined);
      }
    });

  // Everything the request does (and the operation steps it queues) runs with its id (protocol/requestIds.ts).
  app.addHook('onRequest', (req, _reply, done) => withRequestId(req.id, done));
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-openstack-request-id', req.id);
    // Nova's own header, on the Compute API only (as Nova sends it).
    if (req.url.startsWith('/compute')) reply.header('x-compute-request-id', req.id);
  });

  // Before every API: the document is built from the schemas of the routes registered after it.
  await registerOpenApi(app);
  if (ctx.config.metrics) {
    instrumentRequests(app, ctx);
    await app.register(async (scope) => metricsApi(scope, ctx));
  }
  await app.register(async (scope) => identityApi(scope, ctx), { prefix: '/identity' });
  await app.register(async (scope) => computeApi(scope, ctx), { prefix: '/compute' });
  await app.register(async (scope) => networkApi(scope, ctx), { prefix: '/network' });
  await app.register(async (scope) => imageApi(scope, ctx), { prefix: '/image' });
  await app.register(async (scope) => agentApi(scope, ctx), { prefix: '/agent' });
  // The operator dashboard: static files only; it signs in and reads the APIs above like any client.
  await app.register(async (scope) => dashboardRoutes(scope));
  return app;
}
