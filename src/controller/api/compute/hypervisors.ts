import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DomainError, NotFound } from '../../../domain/errors.js';
import { computeNodes, COMPUTE_BINARY, listServices, serviceIsUp, type ComputeNodeRow, type ServiceRow } from '../../../storage/repositories/hosts.js';
import { fromJson } from '../../../storage/repositories/json.js';
import type { ControllerContext } from '../../context.js';
import { requireAdmin } from '../auth.js';
import { atLeast } from './microversion.js';
import { numaTopologyView, singleCellTopology, type HostNumaTopology, type HostNumaUsage } from '../../../domain/numa/hostTopology.js';
import { computeRoute, paramsOf, queryOf } from './schemaTypes.js';

const noQuery = queryOf({});
const hypervisorParams = paramsOf('id');

function view(req: FastifyRequest, ctx: ControllerContext, n: ComputeNodeRow, s: ServiceRow | undefined, detail: boolean) {
  const up = s ? serviceIsUp(s, ctx.config.service_down_time) : false;
  const body: Record<string, unknown> = {
    id: atLeast(req, '2.53') ? n.uuid : n.id,
    hypervisor_hostname: n.host,
    state: up ? 'up' : 'down',
    status: s?.disabled ? 'disabled' : 'enabled',
  };
  if (!detail) return body;
  Object.assign(body, {
    hypervisor_type: n.hypervisor_type,
    hypervisor_version: n.hypervisor_version,
    host_ip: n.host_ip,
    service: { host: n.host, id: atLeast(req, '2.53') ? s?.id : s?.id, disabled_reason: s?.disabled_reason ?? null },
    // vdpa-compute: why this host offers no vDPA devices (kernel/libvirt/QEMU below the minimum), else null.
    vdpa_unsupported_reason: n.vdpa_unsupported_reason,
    host_versions: fromJson(n.versions, {}),
    // vdpa-compute (admin only, as is all of os-hypervisors): the host's NUMA cells and what claims hold of them.
    numa_topology: numaTopologyView(
      fromJson<HostNumaTopology | null>(n.numa_topology, null) ?? singleCellTopology(n.vcpus, n.memory_mb),
      fromJson<HostNumaUsage>(n.numa_usage, {}),
    ),
  });
  if (!atLeast(req, '2.88')) {
    Object.assign(body, {
      vcpus: n.vcpus, memory_mb: n.memory_mb, local_gb: n.local_gb, vcpus_used: n.vcpus_used,
      memory_mb_used: n.memory_mb_used, local_gb_used: n.local_gb_used, running_vms: n.running_vms,
      free_ram_mb: n.memory_mb - n.memory_mb_used, free_disk_gb: n.local_gb - n.local_gb_used,
      current_workload: 0, disk_available_least: n.local_gb - n.local_gb_used,
      // A JSON string until 2.28, an object from it.
      cpu_info: atLeast(req, '2.28') ? {} : '{}',
    });
  }
  return body;
}

export function registerHypervisorRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  async function all(req: FastifyRequest, detail: boolean) {
    requireAdmin(req, 'os_compute_api:os-hypervisors:list');
    const [nodes, services] = await Promise.all([computeNodes(ctx.store.reader), listServices(ctx.store.reader, { binary: COMPUTE_BINARY })]);
    const byHost = new Map(services.map((s) => [s.host, s]));
    return nodes.map((n) => view(req, ctx, n, byHost.get(n.host), detail));
  }
  app.get('/v2.1/os-hypervisors', computeRoute('List hypervisors (admin)', { querystring: noQuery }), async (req) => ({ hypervisors: await all(req, false) }));
  app.get('/v2.1/os-hypervisors/detail', computeRoute('List hypervisors with details (admin)', { querystring: noQuery }), async (req) => ({ hypervisors: await all(req, true) }));
  async function one(req: FastifyRequest<{ Params: { id: string } }>) {
    const list = await all(req, true);
    const found = list.find((h) => String(h.id) === req.params.id || h.hypervisor_hostname === req.params.id);
    if (!found) throw new NotFound(`Hypervisor with ID '${req.params.id}' could not be found.`);
    return found;
  }
  app.get<{ Params: { id: string } }>('/v2.1/os-hypervisors/:id', computeRoute('Show a hypervisor (admin)', { params: hypervisorParams, querystring: noQuery }), async (req) => ({ hypervisor: await one(req) }));
  // The agents report no host uptime: Nova's answer for a driver without one (the client shows the rest).
  app.get<{ Params: { id: string } }>('/v2.1/os-hypervisors/:id/uptime', computeRoute('Show a hypervisor\'s uptime (admin, until 2.87)', { params: hypervisorParams, querystring: noQuery }), async (req) => {
    if (atLeast(req, '2.88')) throw new NotFound('The resource could not be found.');
    await one(req);
    throw new DomainError('not-implemented', 'Virt driver does not implement uptime function.');
  });
  // Sums over the hosts of enabled compute services (Nova: until 2.87).
  app.get('/v2.1/os-hypervisors/statistics', computeRoute('Show hypervisor statistics (admin, until 2.87)', { querystring: noQuery }), async (req) => {
    requireAdmin(req, 'os_compute_api:os-hypervisors:statistics');
    if (atLeast(req, '2.88')) throw new NotFound('The resource could not be found.');
    const [nodes, services] = await Promise.all([computeNodes(ctx.store.reader), listServices(ctx.store.reader, { binary: COMPUTE_BINARY })]);
    const enabled = new Set(services.filter((s) => !s.disabled).map((s) => s.host));
    const stats = {
      count: 0, vcpus: 0, memory_mb: 0, local_gb: 0, vcpus_used: 0, memory_mb_used: 0, local_gb_used: 0,
      free_ram_mb: 0, free_disk_gb: 0, current_workload: 0, running_vms: 0, disk_available_least: 0,
    };
    for (const n of nodes.filter((n) => enabled.has(n.host))) {
      stats.count += 1;
      stats.vcpus += n.vcpus;
      stats.memory_mb += n.memory_mb;
      stats.local_gb += n.local_gb;
      stats.vcpus_used += n.vcpus_used;
      stats.memory_mb_used += n.memory_mb_used;
      stats.local_gb_used += n.local_gb_used;
      stats.free_ram_mb += n.memory_mb - n.memory_mb_used;
      stats.free_disk_gb += n.local_gb - n.local_gb_used;
      stats.running_vms += n.running_vms;
      stats.disk_available_least += n.local_gb - n.local_gb_used;
    }
    return { hypervisor_statistics: stats };
  });
}
