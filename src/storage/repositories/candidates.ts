import type { Kysely } from 'kysely';
import type { Pool } from '../../domain/pci/pools.js';
import type { HostState, ResourceRequest } from '../../domain/scheduling/types.js';
import type { Database } from '../schema.js';
import { COMPUTE_BINARY, serviceIsUp } from './hosts.js';

/**
 * Candidate hosts for a request, read through indexes: for a PCI request the
 * pool index gives hosts with free devices of that kind, most free first; the
 * cost of a page does not grow with the number of hosts.
 */
export async function candidateHosts(
  db: Kysely<Database>,
  request: ResourceRequest,
  page: { limit: number; offset: number },
  serviceDownTime: number,
): Promise<HostState[]> {
  let hostNames: string[];
  const first = request.pciRequests[0];
  if (request.onlyHosts) {
    hostNames = request.onlyHosts.slice(page.offset, page.offset + page.limit);
  } else if (first) {
    let q = db.selectFrom('pci_pools').select('host')
      .where('dev_type', '=', first.spec.devType)
      .where('free', '>=', first.count);
    if (first.spec.physicalNetwork) q = q.where('physical_network', '=', first.spec.physicalNetwork);
    if (first.spec.vendorId) q = q.where('vendor_id', '=', first.spec.vendorId);
    if (first.spec.productId) q = q.where('product_id', '=', first.spec.productId);
    const rows = await q.orderBy('free', 'desc').orderBy('host').limit(page.limit).offset(page.offset).execute();
    hostNames = [...new Set(rows.map((r) => r.host))];
  } else {
    const rows = await db.selectFrom('compute_nodes').select('host')
      .orderBy((eb) => eb('memory_mb', '-', eb.ref('memory_mb_used')), 'desc').orderBy('host')
      .limit(page.limit).offset(page.offset).execute();
    hostNames = rows.map((r) => r.host);
  }
  return hostStates(db, hostNames, serviceDownTime);
}

export async function hostStates(db: Kysely<Database>, hosts: string[], serviceDownTime: number): Promise<HostState[]> {
  if (hosts.length === 0) return [];
  const [nodes, services, pools] = await Promise.all([
    db.selectFrom('compute_nodes').selectAll().where('host', 'in', hosts).execute(),
    db.selectFrom('services').select(['host', 'disabled', 'forced_down', 'last_seen_up'])
      .where('binary', '=', COMPUTE_BINARY).where('host', 'in', hosts).execute(),
    db.selectFrom('pci_pools').selectAll().where('host', 'in', hosts).execute(),
  ]);
  const serviceOf = new Map(services.map((s) => [s.host, s]));
  const poolsOf = new Map<string, Pool[]>();
  for (const p of pools) {
    const list = poolsOf.get(p.host) ?? [];
    list.push({ devType: p.dev_type, physicalNetwork: p.physical_network, vendorId: p.vendor_id, productId: p.product_id, free: p.free, total: p.total });
    poolsOf.set(p.host, list);
  }
  const now = Date.now();
  const order = new Map(hosts.map((h, i) => [h, i]));
  return nodes
    .map((n): HostState => {
      const s = serviceOf.get(n.host);
      return {
        host: n.host,
        enabled: s ? s.disabled === 0 : false,
        up: s ? serviceIsUp(s, serviceDownTime, now) : false,
        freeVcpus: Math.floor(n.vcpus * n.cpu_allocation_ratio) - n.vcpus_used,
        freeRamMb: Math.floor(n.memory_mb * n.ram_allocation_ratio) - n.memory_mb_used,
        freeDiskGb: Math.floor(n.local_gb * n.disk_allocation_ratio) - n.local_gb_used,
        totalRamMb: n.memory_mb,
        pools: poolsOf.get(n.host) ?? [],
      };
    })
    .sort((a, b) => order.get(a.host)! - order.get(b.host)!);
}
