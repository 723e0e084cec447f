import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, NotFound } from '../../../domain/errors.js';
import { COMPUTE_BINARY, getService, listServices, serviceIsUp, type ServiceRow } from '../../../storage/repositories/hosts.js';
import type { ControllerContext } from '../../context.js';
import { changeService } from '../../services/serviceChanges.js';
import { aggregateDirectoryOf } from '../../services/aggregateDirectory.js';
import { INTERNAL_ZONE } from '../../../domain/scheduling/zones.js';
import { requireAdmin } from '../auth.js';
import { atLeast } from './microversion.js';
import { HOST, NAME, QUERY_TEXT, bodyOf, computeRoute, paramsOf, queryOf } from './schemaTypes.js';

/**
 * Nova's service update schemas: 2.53+ (status, disabled_reason, forced_down)
 * and the legacy disable/enable/disable-log-reason/force-down (host, binary,
 * …); the handler checks which fields its path and microversion take.
 */
const updateSchema = bodyOf({
  status: { type: 'string', enum: ['enabled', 'disabled'] },
  disabled_reason: { type: ['string', 'null'], minLength: 1, maxLength: 255 },
  forced_down: { type: 'boolean' },
  host: HOST,
  binary: NAME,
});

function serviceView(req: FastifyRequest, ctx: ControllerContext, s: ServiceRow) {
  return {
    id: s.id,
    binary: s.binary,
    host: s.host,
    // A compute service is in its host's zone (aggregates), others in the internal one (Nova).
    zone: s.binary === COMPUTE_BINARY ? aggregateDirectoryOf(ctx).zoneNameOf(s.host) : INTERNAL_ZONE,
    status: s.disabled ? 'disabled' : 'enabled',
    state: serviceIsUp(s, ctx.config.service_down_time) ? 'up' : 'down',
    updated_at: s.updated_at,
    disabled_reason: s.disabled_reason,
    ...(atLeast(req, '2.11') ? { forced_down: s.forced_down === 1 } : {}),
  };
}

export function registerServiceRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  app.get<{ Querystring: { host?: string; binary?: string } }>('/v2.1/os-services', computeRoute('List compute services (admin)', { querystring: queryOf({ host: QUERY_TEXT, binary: QUERY_TEXT }) }), async (req) => {
    requireAdmin(req, 'os_compute_api:os-services:list');
    await aggregateDirectoryOf(ctx).ready();
    const rows = await listServices(ctx.store.reader, { host: req.query.host, binary: req.query.binary });
    return { services: rows.map((s) => serviceView(req, ctx, s)) };
  });

  app.put<{ Params: { id: string }; Body: { status?: string; disabled_reason?: string; forced_down?: boolean } }>(
    '/v2.1/os-services/:id', computeRoute('Update a compute service (admin)', { params: paramsOf('id'), querystring: queryOf({}), body: updateSchema }), async (req) => {
      requireAdmin(req, 'os_compute_api:os-services:update');
      const legacy = ['disable', 'enable', 'disable-log-reason', 'force-down'].includes(req.params.id);
      const body = (req.body ?? {}) as Record<string, unknown>;
      if (legacy) {
        const host = body.host;
        const binary = body.binary;
        if (typeof host !== 'string' || typeof binary !== 'string') throw new BadRequest('host and binary are required.');
        const [s] = await listServices(ctx.store.reader, { host, binary });
        if (!s) throw new NotFound(`Host '${host}' is not mapped to any cell`);
        const change = req.params.id === 'enable' ? { status: 'enabled' }
          : req.params.id === 'force-down' ? { forced_down: body.forced_down as boolean }
            : { status: 'disabled', disabled_reason: (body.disabled_reason as string | undefined) ?? null };
        const updated = await changeService(ctx, s, change);
        return {
          service: {
            host: updated.host, binary: updated.binary, status: updated.disabled ? 'disabled' : 'enabled',
            ...(updated.disabled_reason ? { disabled_reason: updated.disabled_reason } : {}),
            ...(req.params.id === 'force-down' ? { forced_down: updated.forced_down === 1 } : {}),
          },
        };
      }
      if (!atLeast(req, '2.53')) throw new NotFound(`Service ${req.params.id} could not be found.`);
      const s = await getService(ctx.store.reader, req.params.id);
      if (!s) throw new NotFound(`Service ${req.params.id} could not be found.`);
      const allowed = new Set(['status', 'disabled_reason', 'forced_down']);
      for (const k of Object.keys(body)) if (!allowed.has(k)) throw new BadRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
      if (Object.keys(body).length === 0) throw new BadRequest('At least one of status or forced_down is required.');
      const updated = await changeService(ctx, s, body as { status?: string; disabled_reason?: string; forced_down?: boolean });
      return { service: serviceView(req, ctx, updated) };
    });
}

export { COMPUTE_BINARY };
