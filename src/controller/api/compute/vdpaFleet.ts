import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { NotFound } from '../../../domain/errors.js';
import type { ControllerContext } from '../../context.js';
import { fleetView } from '../../services/fleet.js';
import { requireAdmin } from '../auth.js';
import { QUERY_TEXT, computeRoute, queryOf } from './schemaTypes.js';

/**
 * vdpa-compute extension for the dashboard: every compute host with its
 * service state, NICs and devices in one answer (`?host=H` for one host).
 * The answer carries an ETag; a poll sending it back in If-None-Match gets a
 * bodiless 304 while nothing changed, so a dashboard polling a 1,000-host
 * fleet every second moves bytes only when a device or a service does.
 */
export function registerVdpaFleetRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  app.get<{ Querystring: { host?: string } }>('/v2.1/os-vdpa-fleet', computeRoute('Every compute host with its devices (vdpa-compute, admin)', { querystring: queryOf({ host: QUERY_TEXT }) }), async (req, reply) => {
    requireAdmin(req, 'vdpa-compute:os-vdpa-fleet');
    const host = req.query.host || undefined;
    const hosts = await fleetView(ctx, host);
    if (host !== undefined && hosts.length === 0) throw new NotFound(`Compute host ${host} could not be found.`);
    const body = JSON.stringify({ hosts });
    const etag = `"${createHash('sha1').update(body).digest('base64url')}"`;
    void reply.header('etag', etag).header('cache-control', 'no-cache');
    if (req.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type('application/json; charset=utf-8').send(body);
  });
}
