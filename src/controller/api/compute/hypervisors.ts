import type { FastifyInstance, FastifyRequest } from 'fastify';
import { NotFound } from '../../../domain/errors.js';
import { computeNodes, COMPUTE_BINARY, listServices, serviceIsUp, type ComputeNodeRow, type ServiceRow } from '../../../storage/repositories/hosts.js';
import { fromJson } from '../../../storage/repositories/json.js';
import type { ControllerContext } from '../../context.js';
import { requireAdmin } from '../auth.js';
import { atLeast } from './microversion.js';

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
  });
  if (!atLeast(req, '2.88')) {
    Object.assign(body, {
      vcpus: n.vcpus, memory_mb: n.memory_mb, local_gb: n.local_gb, vcpus_used: n.vcpus_used,
      memory_mb_used: n.memory_mb_used, local_gb_used: n.local_gb_used, running_vms: n.running_vms,
      free_ram_mb: n.memory_mb - n.memory_mb_used, free_disk_gb: n.local_gb - n.local_gb_used,
      current_workload: 0, disk_available_least: n.local_gb - n.local_gb_used, cpu_info: '{}',
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
  app.get('/v2.1/os-hypervisors', async (req) => ({ hypervisors: await all(req, false) }));
  app.get('/v2.1/os-hypervisors/detail', async (req) => ({ hypervisors: await all(req, true) }));
  app.get<{ Params: { id: string } }>('/v2.1/os-hypervisors/:id', async (req) => {
    const list = await all(req, true);
    const found = list.find((h) => String(h.id) === req.params.id || h.hypervisor_hostname === req.params.id);
    if (!found) throw new NotFound(`Hypervisor with ID ${req.params.id} could not be found.`);
    return { hypervisor: found };
  });
}
