import { sql, type Kysely } from 'kysely';
import { requestColumns, type RequestColumns } from '../../domain/pci/match.js';
import type { Pool } from '../../domain/pci/pools.js';
import type { PciRequest } from '../../domain/pci/request.js';
import type { HostState, ResourceRequest } from '../../domain/scheduling/types.js';
import type { ComputeNodeTable, Database, ServiceTable } from '../schema.js';
import { COMPUTE_BINARY, serviceIsUp } from './hosts.js';
import type { Session } from '../unit.js';
import { dbOf } from '../internal/handles.js';
import { numaStates } from './numa.js';

/** One page of candidates; `exhausted` when no page follows it. */
export interface CandidatePage {
  hosts: HostState[];
  exhausted: boolean;
}

/**
 * Candidate hosts for a request, read through indexes: for a PCI request the
 * pool index gives hosts with free devices of the first request's kind, most
 * free first; the cost of a page does not grow with the number of hosts.
 */
export async function candidateHosts(
  session: Session,
  request: ResourceRequest,
  page: { limit: number; offset: number },
  serviceDownTime: number,
  /** Only these hosts / never these (a zone's, an aggregate's: the controller's aggregate directory). */
  scope?: { hostsIn?: string[]; hostsNotIn?: string[] },
): Promise<CandidatePage> {
  const found = await candidatePage(session, request, page, serviceDownTime, scope);
  // A guest with a NUMA topology also needs each candidate's cells and free devices per node (only then read).
  if (request.numa && found.hosts.length > 0) {
    const states = await numaStates(session, found.hosts.map((h) => h.host));
    for (const h of found.hosts) h.numa = states.get(h.host);
  }
  return found;
}

async function candidatePage(
  session: Session,
  request: ResourceRequest,
  page: { limit: number; offset: number },
  serviceDownTime: number,
  scope?: { hostsIn?: string[]; hostsNotIn?: string[] },
): Promise<CandidatePage> {
  const db = dbOf(session);
  let hostNames: string[];
  if (request.onlyHosts) {
    hostNames = request.onlyHosts.slice(page.offset, page.offset + page.limit);
  } else if (request.pciRequests.length > 0) {
    return pciCandidates(db, request.pciRequests, page, serviceDownTime, scope);
  } else {
    let q = db.selectFrom('compute_nodes').select('host');
    if (scope?.hostsIn) q = scope.hostsIn.length ? q.where('host', 'in', scope.hostsIn) : q.where(sql<boolean>`1 = 0`);
    if (scope?.hostsNotIn?.length) q = q.where('host', 'not in', scope.hostsNotIn);
    const rows = await q
      .orderBy((eb) => eb('memory_mb', '-', eb.ref('memory_mb_used')), 'desc').orderBy('host')
      .limit(page.limit).offset(page.offset).execute();
    hostNames = rows.map((r) => r.host);
  }
  return { hosts: await hostStates(session, hostNames, serviceDownTime), exhausted: hostNames.length < page.limit };
}

/** The rule's column conditions (match.ts requestColumns) on a pci_pools alias. */
function whereServes<Q extends { where: (...args: any[]) => Q }>(q: Q, t: 'p' | 'q', c: RequestColumns): Q {
  q = q.where(`${t}.dev_type`, '=', c.devType);
  // pci_pools writes '' for an untagged pool.
  if (c.physicalNetwork !== undefined) q = q.where(`${t}.physical_network`, '=', c.physicalNetwork ?? '');
  if (c.vendorId !== undefined) q = q.where(`${t}.vendor_id`, '=', c.vendorId);
  if (c.productId !== undefined) q = q.where(`${t}.product_id`, '=', c.productId);
  return q;
}

/**
 * The PCI branch in two queries: the pool index walked in order (pools that
 * can serve the first request, most free first, then by host) with each
 * host's node and service row joined, only the columns a HostState needs;
 * then every pool of those hosts. A pre-filter, never stricter than the rule
 * (match.ts): for every PCI request the free devices of the host's pools that
 * may serve it must add up to its count (a request may be spread over
 * several pools). Requests competing for the same pools are left to the
 * filter (poolsSatisfy), which decides.
 */
async function pciCandidates(
  db: Kysely<Database>, requests: PciRequest[], page: { limit: number; offset: number }, serviceDownTime: number,
  scope?: { hostsIn?: string[]; hostsNotIn?: string[] },
): Promise<CandidatePage> {
  const first = requests[0]!;
  let q = db.selectFrom('pci_pools as p')
    .leftJoin('compute_nodes as n', 'n.host', 'p.host')
    .leftJoin('services as s', (j) => j.onRef('s.host', '=', 'p.host').on('s.binary', '=', COMPUTE_BINARY))
    .select(['p.host as host', ...NODE_COLUMNS.map((c) => `n.${c} as ${c}` as const), 's.disabled', 's.forced_down', 's.last_seen_up', 's.host as service_host']);
  q = whereServes(q, 'p', requestColumns(first.spec));
  if (scope?.hostsIn) q = scope.hostsIn.length ? q.where('p.host', 'in', scope.hostsIn) : q.where(sql<boolean>`1 = 0`);
  if (scope?.hostsNotIn?.length) q = q.where('p.host', 'not in', scope.hostsNotIn);
  // The common request (one device) is this pool alone; more devices may come from several pools.
  q = q.where('p.free', '>=', first.count > 1 ? 1 : first.count);
  requests.forEach((r, i) => {
    if (r.count <= 0 || (i === 0 && r.count === 1)) return;
    q = q.where((eb) => eb(
      whereServes(eb.selectFrom('pci_pools as q').select((e) => e.fn.coalesce(e.fn.sum<number>('q.free'), e.lit(0)).as('free'))
        .whereRef('q.host', '=', 'p.host'), 'q', requestColumns(r.spec)),
      '>=', r.count));
  });
  const rows = await q.orderBy('p.free', 'desc').orderBy('p.host').limit(page.limit).offset(page.offset).execute();
  const exhausted = rows.length < page.limit;
  const seen = new Set<string>();
  // A host with several pools that may serve the first request appears once per pool.
  const hosts = rows.filter((r) => r.memory_mb !== null && !seen.has(r.host) && seen.add(r.host));
  if (hosts.length === 0) return { hosts: [], exhausted };
  const pools = await poolsOf(db, hosts.map((h) => h.host));
  const now = Date.now();
  return {
    hosts: hosts.map((r) => toHostState(r as NodeColumns, r.service_host !== null ? (r as ServiceColumns) : undefined, pools, serviceDownTime, now)),
    exhausted,
  };
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

export async function hostStates(session: Session, hosts: string[], serviceDownTime: number): Promise<HostState[]> {
  const db = dbOf(session);
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
  /** The compute node's NUMA columns as stored (parsed only for a NUMA request: numa.ts numaStateOf). */
  numaColumns: {
    vcpus: number; memory_mb: number; cpu_allocation_ratio: number; ram_allocation_ratio: number;
    numa_topology: string | null; numa_usage: string | null;
  };
}

/**
 * The rows of the candidate index: every host with a compute node (hosts
 * omitted) or the given ones, two queries (node ⋈ service, then pools).
 */
export async function indexedHostRows(session: Session, hosts?: string[]): Promise<IndexedHostRow[]> {
  const db = dbOf(session);
  if (hosts && hosts.length === 0) return [];
  let q = db.selectFrom('compute_nodes as n')
    .leftJoin('services as s', (j) => j.onRef('s.host', '=', 'n.host').on('s.binary', '=', COMPUTE_BINARY))
    .select(['n.host as host', ...NODE_COLUMNS.map((c) => `n.${c} as ${c}` as const), 'n.numa_topology', 'n.numa_usage', 's.disabled', 's.forced_down', 's.last_seen_up', 's.host as service_host']);
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
    numaColumns: {
      vcpus: n.vcpus, memory_mb: n.memory_mb, cpu_allocation_ratio: n.cpu_allocation_ratio, ram_allocation_ratio: n.ram_allocation_ratio,
      numa_topology: n.numa_topology, numa_usage: n.numa_usage,
    },
  }));
}
