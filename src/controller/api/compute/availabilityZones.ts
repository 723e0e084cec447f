import type { FastifyInstance } from 'fastify';
import { INTERNAL_ZONE } from '../../../domain/scheduling/zones.js';
import { listServices, serviceIsUp, type ServiceRow } from '../../../storage/repositories/hosts.js';
import type { ControllerContext } from '../../context.js';
import { aggregateDirectoryOf } from '../../services/aggregateDirectory.js';
import { requireAdmin } from '../auth.js';
import { computeRoute, queryOf } from './schemaTypes.js';

interface Zone { name: string; services: ServiceRow[] }

/**
 * Nova's zones: a compute service's zone is its host's (aggregates, else
 * `nova`); other services are in `internal`. A zone with an enabled service
 * is available, one with only disabled services is not.
 */
async function zones(ctx: ControllerContext): Promise<Zone[]> {
  const directory = aggregateDirectoryOf(ctx);
  await directory.ready();
  const byName = new Map<string, ServiceRow[]>();
  for (const s of await listServices(ctx.store.reader, {})) {
    const names = s.binary === 'nova-compute' ? directory.zonesOf(s.host) : [INTERNAL_ZONE];
    for (const n of names) byName.set(n, [...(byName.get(n) ?? []), s]);
  }
  return [...byName.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, services]) => ({ name, services }));
}

const available = (z: Zone) => z.services.some((s) => !s.disabled);

export function registerAvailabilityZoneRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  app.get('/v2.1/os-availability-zone', computeRoute('List availability zones', { querystring: queryOf({}) }), async () => ({
    availabilityZoneInfo: (await zones(ctx)).filter((z) => z.name !== INTERNAL_ZONE)
      .map((z) => ({ zoneName: z.name, zoneState: { available: available(z) }, hosts: null })),
  }));

  app.get('/v2.1/os-availability-zone/detail', computeRoute('List availability zones with their hosts (admin)', { querystring: queryOf({}) }), async (req) => {
    requireAdmin(req, 'os_compute_api:os-availability-zone:detail');
    return {
      availabilityZoneInfo: (await zones(ctx)).map((z) => {
        const hosts: Record<string, Record<string, unknown>> = {};
        for (const s of z.services) {
          (hosts[s.host] ??= {})[s.binary] = {
            available: serviceIsUp(s, ctx.config.service_down_time), active: !s.disabled, updated_at: s.updated_at,
          };
        }
        return { zoneName: z.name, zoneState: { available: available(z) }, hosts: available(z) ? hosts : null };
      }),
    };
  });
}
