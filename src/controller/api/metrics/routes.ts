import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ControllerContext } from '../../context.js';
import { metricsOf } from '../../services/metrics/registry.js';
import { renderMetrics } from '../../services/metrics/fleetGauges.js';

/**
 * Times every answered request into vdpa_api_request_seconds. Called on the
 * root instance (before the API plugins) so its hook covers every route. The
 * route label is the template fastify matched (`/compute/v2.1/servers/:id`),
 * never the raw path, so the number of series stays bounded.
 */
export function instrumentRequests(app: FastifyInstance, ctx: ControllerContext): void {
  const histogram = metricsOf(ctx).apiRequestSeconds;
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url;
    histogram.observe({
      api: route ? (route.split('/')[1] || 'root') : 'unmatched',
      method: req.method,
      route: route ?? 'unmatched',
      status: String(reply.statusCode),
    }, reply.elapsedTime / 1000);
  });
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.startsWith('Bearer ') ? header.slice(7) : '');
  const wanted = Buffer.from(token);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

/** Takes nothing: no body, no path parameters, no query (any given is dropped unread). */
const METRICS_SCHEMA = {
  tags: ['metrics'],
  summary: 'Prometheus metrics (text format; a bearer token when metrics_token is set)',
  querystring: { type: 'object', properties: {}, additionalProperties: false },
} as const;

/** GET /metrics: the Prometheus text format; with the setting `metrics_token`, only for `Authorization: Bearer <token>`. */
export async function metricsApi(app: FastifyInstance, ctx: ControllerContext): Promise<void> {
  app.get('/metrics', { schema: METRICS_SCHEMA }, async (req, reply) => {
    const token = ctx.config.metrics_token;
    if (token && !tokenMatches(req.headers.authorization, token)) {
      return reply.code(401).header('www-authenticate', 'Bearer').type('text/plain').send('metrics need a bearer token\n');
    }
    const { contentType, body } = await renderMetrics(ctx);
    return reply.type(contentType).send(body);
  });
}
