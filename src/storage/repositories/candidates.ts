import type { Kysely } from 'kysely';
import type { Pool } from '../../domain/pci/pools.js';
import type { HostState, ResourceRequest } from '../../domain/scheduling/types.js';
import type { ComputeNodeTable, Database, ServiceTable } from '../schema.js';
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
    return pciCandidates(db, first, page, serviceDownTime);
  } else {
    const rows = await db.selectFrom('compute_nodes').select('host')
      .orderBy((eb) => eb('memory_mb', '-', eb.ref('memory_mb_used')), 'desc').orderBy('host')
      .limit(page.limit).offset(page.offset).execute();
    hostNames = rows.map((r) => r.host);
  }
  return hostStates(db, hostNames, serviceDownTime);
}

/**
 * The PCI branch in two queries: the pool index walked in order (most free
 * first, then by host) with each host's node and service row joined, only the
 * columns a HostState needs; then every pool of those hosts.
 */
async function pciCandidates(
  db: Kysely<Database>, first: ResourceRequest['pciRequests'][number], page: { limit: number; offset: number }, serviceDownTime: number,
): Promise<HostState[]> {
  let q = db.selectFrom('pci_pools as p')
    .leftJoin('compute_nodes as n', 'n.host', 'p.host')
    .leftJoin('services as s', (j) => j.onRef('s.host', '=', 'p.host').on('s.binary', '=', COMPUTE_BINARY))
    .select(['p.host as host', ...NODE_COLUMNS.map((c) => `n.${c} as ${c}` as const), 's.disabled', 's.forced_down', 's.last_seen_up', 's.host as service_host'])
    .where('p.dev_type', '=', first.spec.devType)
    .where('p.free', '>=', first.count);
  if (first.spec.physicalNetwork) q = q.where('p.physical_network', '=', first.spec.physicalNetwork);
  if (first.spec.vendorId) q = q.where('p.vendor_id', '=', first.spec.vendorId);
  if (first.spec.productId) q = q.where('p.product_id', '=', first.spec.productId);
  const rows = await q.orderBy('p.free', 'desc').orderBy('p.host').limit(page.limit).offset(page.offset).execute();
  const seen = new Set<string>();
  const hosts = rows.filter((r) => r.memory_mb !== null && !seen.has(r.host) && seen.add(r.host));
  if (hosts.length === 0) return [];
  const pools = await poolsOf(db, hosts.map((h) => h.host));
  const now = Date.now();
  return hosts.map((r) => toHostState(r as NodeColumns, r.service_host !== null ? (r as ServiceColumns) : undefined, pools, serviceDownTime, now));
}

const NODE_COLUMNS = [
  'vcpus', 'cpu_allocation_ratio', 'vcpus_used', 'memory_mb', 'ram_allocation_ratio', 'memory_mb_used',
  'local_gb', 'disk_allocation_ratio', 'local_gb_used',
] as const;
type NodeColumns = Pick<ComputeNodeTable, 'host' | (typeof NODE_COLUMNS)[number]>;
type ServiceColumns = Pick<ServiceTable, 'disabled' | 'forced_down' | 'last_seen_up'>;

async function poolsOf(db: Kysely<Database>, hosts: string[]): Promise<Map<string, Pool[]>> {
  const rows = await db.selectFrom('pci_pools').selectAll().where('host', 'in', hosts).execute();
  const out = new Map<string, Pool[]>();
  for (const p of rows) {
    const list = out.get(p.host) ?? [];
    list.push({ devType: p.dev_type, physicalNetwork: p.physical_network, vendorId: p.vendor_id, productId: p.product_id, free: p.free, total: p.total });
    out.set(p.host, list);
  }
  return out;
}

function toHostState(n: NodeColumns, s: ServiceColumns | undefined, pools: Map<string, Pool[]>, serviceDownTime: number, now: number): HostState {
  return {
    host: n.host,
    enabled: s ? s.disabled === 0 : false,
    up: s ? serviceIsUp(s, serviceDownTime, now) : false,
    freeVcpus: Math.floor(n.vcpus * n.cpu_allocation_ratio) - n.vcpus_used,
    freeRamMb: Math.floor(n.memory_mb * n.ram_allocation_ratio) - n.memory_mb_used,
    freeDiskGb: Math.floor(n.local_gb * n.disk_allocation_ratio) - n.local_gb_used,
    totalRamMb: n.memory_mb,
    pools: pools.get(n.host) ?? [],
  };
}

export async function hostStates(db: Kysely<Database>, hosts: string[], serviceDownTime: number): Promise<HostState[]> {
  if (hosts.length === 0) return [];
  const [nodes, services, pools] = await Promise.all([
    db.selectFrom('compute_nodes').select(['host', ...NODE_COLUMNS]).where('host', 'in', hosts).execute(),
    db.selectFrom('services').select(['host', 'disabled', 'forced_down', 'last_seen_up'])
      .where('binary', '=', COMPUTE_BINARY).where('host', 'in', hosts).execute(),
    poolsOf(db, hosts),
  ]);
  const serviceOf = new Map(services.map((s) => [s.host, s]));
  const now = Date.now();
  const order = new Map(hosts.map((h, i) => [h, i]));
  return nodes
    .map((n) => toHostState(n, serviceOf.get(n.host), pools, serviceDownTime, now))
    .sort((a, b) => order.get(a.host)! - order.get(b.host)!);
}

/** What the controller's candidate index keeps of one host: a HostState minus liveness, which is judged at decision time. */
export interface IndexedHostRow {
  host: string;
  hasService: boolean;
  disabled: boolean;
  forcedDown: boolean;
  /** ms since the epoch, null when the service never reported. */
  lastSeenUp: number | null;
  freeVcpus: number;
  freeRamMb: number;
  freeDiskGb: number;
  totalRamMb: number;
  pools: Pool[];
}

/**
 * The rows of the candidate index: every host with a compute node (hosts
 * omitted) or the given ones, two queries (node ⋈ service, then pools).
 */
export async function indexedHostRows(db: Kysely<Database>, hosts?: string[]): Promise<IndexedHostRow[]> {
  if (hosts && hosts.length === 0) return [];
  let q = db.selectFrom('compute_nodes as n')
    .leftJoin('services as s', (j) => j.onRef('s.host', '=', 'n.host').on('s.binary', '=', COMPUTE_BINARY))
    .select(['n.host as host', ...NODE_COLUMNS.map((c) => `n.${c} as ${c}` as const), 's.disabled', 's.forced_down', 's.last_seen_up', 's.host as service_host']);
  if (hosts) q = q.where('n.host', 'in', hosts);
  let pq = db.selectFrom('pci_pools').select(['host', 'dev_type', 'physical_network', 'vendor_id', 'product_id', 'free', 'total']);
  if (hosts) pq = pq.where('host', 'in', hosts);
  const [nodes, poolRows] = await Promise.all([q.execute(), pq.execute()]);
  const pools = new Map<string, Pool[]>();
  for (const p of poolRows) {
    let list = pools.get(p.host);
    if (!list) pools.set(p.host, (list = []));
    list.push({ devType: p.dev_type, physicalNetwork: p.physical_network, vendorId: p.vendor_id, productId: p.product_id, free: p.free, total: p.total });
  }
  return nodes.map((n) => ({
    host: n.host,
    hasService: n.service_host !== null,
    disabled: n.disabled !== 0,
    forcedDown: n.forced_down === 1,
    lastSeenUp: n.last_seen_up ? Date.parse(n.last_seen_up) : null,
    freeVcpus: Math.floor(n.vcpus * n.cpu_allocation_ratio) - n.vcpus_used,
    freeRamMb: Math.floor(n.memory_mb * n.ram_allocation_ratio) - n.memory_mb_used,
    freeDiskGb: Math.floor(n.local_gb * n.disk_allocation_ratio) - n.local_gb_used,
    totalRamMb: n.memory_mb,
    pools: pools.get(n.host) ?? [],
  }));
}
