/**
 * The NUMA side of claims and candidates: each host's cells and their usage
 * (compute_nodes.numa_topology / numa_usage) and its free devices per NUMA
 * node. Read only for requests with a NUMA topology.
 */
import { singleCellTopology, type HostNumaTopology, type HostNumaUsage } from '../../domain/numa/hostTopology.js';
import type { HostNumaState, NumaDeviceCount } from '../../domain/scheduling/types.js';
import type { NumaPlacement } from '../../domain/numa/fit.js';
import type { Session, Unit } from '../unit.js';
import { dbOf, onPostgres } from '../internal/handles.js';
import { fromJson, toJson } from './json.js';
import { precompiled } from '../precompiled.js';

interface NodeNumaColumns {
  host: string; vcpus: number; memory_mb: number; cpu_allocation_ratio: number; ram_allocation_ratio: number;
  numa_topology: string | null; numa_usage: string | null;
}

/**
 * Parsed topologies by their stored text. A fleet is a few kinds of
 * hardware, so thousands of hosts share a handful of objects instead of each
 * parsing its own on every read (the candidate index, every NUMA claim).
 * Safe because a topology is never changed once parsed: a host that reports
 * another one stores another text.
 */
const topologies = new Map<string, HostNumaTopology>();
const TOPOLOGIES_KEPT = 1024;

function topologyOf(n: Pick<NodeNumaColumns, 'numa_topology' | 'vcpus' | 'memory_mb'>): HostNumaTopology {
  const key = n.numa_topology || `single-cell:${n.vcpus}:${n.memory_mb}`;
  let topology = topologies.get(key);
  if (topology === undefined) {
    topology = fromJson<HostNumaTopology | null>(n.numa_topology, null) ?? singleCellTopology(n.vcpus, n.memory_mb);
    // More kinds than this is not a fleet of a few kinds of hardware: start again rather than grow.
    if (topologies.size >= TOPOLOGIES_KEPT) topologies.clear();
    topologies.set(key, topology);
  }
  return topology;
}

export function numaStateOf(n: NodeNumaColumns, devices?: NumaDeviceCount[]): HostNumaState {
  return {
    topology: topologyOf(n),
    usage: fromJson<HostNumaUsage>(n.numa_usage, {}),
    cpuAllocationRatio: n.cpu_allocation_ratio,
    ramAllocationRatio: n.ram_allocation_ratio,
    ...(devices ? { devices } : {}),
  };
}

const NUMA_COLUMNS = ['host', 'vcpus', 'memory_mb', 'cpu_allocation_ratio', 'ram_allocation_ratio', 'numa_topology', 'numa_usage'] as const;

/** A device type on a physical network. */
export interface DeviceKind { devType: string; physicalNetwork: string }

interface DeviceCountRow {
  host: string; dev_type: string; physical_network: string | null; vendor_id: string; product_id: string; numa_node: number | null; free: number;
}

// A claim's reads and write of one host, built once (precompiled.ts): every NUMA claim runs them.
const hostDeviceCounts = precompiled<{ host: string }, DeviceCountRow>((db, p) => db.selectFrom('pci_devices')
  .select(['host', 'dev_type', 'physical_network', 'vendor_id', 'product_id', 'numa_node', (eb) => eb.fn.countAll<number>().as('free')])
  .where('host', '=', p.host).where('status', '=', 'available').where('missing', '=', 0)
  .groupBy(['host', 'dev_type', 'physical_network', 'vendor_id', 'product_id', 'numa_node']));
/**
 * The same for one kind of device (a port's: a type on a physical network, any vendor and product), per
 * NUMA node only: every column it reads is in pci_devices_pick (migration 016), so it reads no device row.
 */
const hostKindDeviceCounts = precompiled<{ host: string; devType: string; physicalNetwork: string }, { numa_node: number | null; free: number }>((db, p) => db.selectFrom('pci_devices')
  .select(['numa_node', (eb) => eb.fn.countAll<number>().as('free')])
  .where('host', '=', p.host).where('dev_type', '=', p.devType).where('physical_network', '=', p.physicalNetwork)
  .where('status', '=', 'available').where('missing', '=', 0)
  .groupBy('numa_node'));
const nodeNumaColumns = precompiled<{ host: string }, NodeNumaColumns>((db, p) =>
  db.selectFrom('compute_nodes').select([...NUMA_COLUMNS]).where('host', '=', p.host));
const nodeNumaColumnsLocking = precompiled<{ host: string }, NodeNumaColumns>((db, p) =>
  db.selectFrom('compute_nodes').select([...NUMA_COLUMNS]).where('host', '=', p.host).forUpdate());
const updateNumaUsage = precompiled<{ host: string; usage: string }>((db, p) =>
  db.updateTable('compute_nodes').set({ numa_usage: p.usage }).where('host', '=', p.host));

/** Free devices per host, kind and NUMA node. */
async function deviceCounts(session: Session, hosts: string[], kind?: DeviceKind): Promise<Map<string, NumaDeviceCount[]>> {
  if (hosts.length === 1 && kind) {
    // The kind's rows, whatever their vendor and product: a request of one kind does not ask for either (claims.ts oneKindOf).
    const { rows } = await hostKindDeviceCounts.run(dbOf(session), { host: hosts[0]!, ...kind });
    return new Map([[hosts[0]!, rows.map((r) => ({
      devType: kind.devType, physicalNetwork: kind.physicalNetwork, vendorId: '', productId: '', numaNode: r.numa_node, free: Number(r.free),
    }))]]);
  }
  const rows: DeviceCountRow[] = hosts.length === 1
    ? (await hostDeviceCounts.run(dbOf(session), { host: hosts[0]! })).rows
    : await dbOf(session).selectFrom('pci_devices')
      .select(['host', 'dev_type', 'physical_network', 'vendor_id', 'product_id', 'numa_node', (eb) => eb.fn.countAll<number>().as('free')])
      .where('host', 'in', hosts).where('status', '=', 'available').where('missing', '=', 0)
      .groupBy(['host', 'dev_type', 'physical_network', 'vendor_id', 'product_id', 'numa_node'])
      .execute();
  const out = new Map<string, NumaDeviceCount[]>();
  for (const r of rows) {
    let list = out.get(r.host);
    if (!list) out.set(r.host, (list = []));
    list.push({
      devType: r.dev_type, physicalNetwork: r.physical_network ?? '', vendorId: r.vendor_id, productId: r.product_id,
      numaNode: r.numa_node, free: Number(r.free),
    });
  }
  return out;
}

/** The NUMA state of candidate hosts, their free devices per node included. */
export async function numaStates(session: Session, hosts: string[]): Promise<Map<string, HostNumaState>> {
  if (hosts.length === 0) return new Map();
  const [nodes, devices] = await Promise.all([
    dbOf(session).selectFrom('compute_nodes').select([...NUMA_COLUMNS]).where('host', 'in', hosts).execute(),
    deviceCounts(session, hosts),
  ]);
  return new Map(nodes.map((n) => [n.host, numaStateOf(n, devices.get(n.host) ?? [])]));
}

/**
 * One host's NUMA state inside a claim, read after the claim's conditional
 * write of the host's compute node: on PostgreSQL that write holds the row
 * lock (taken again here, FOR UPDATE, should the write still be in flight),
 * on SQLite the transaction is the only writer, so what is read here stays
 * true until the claim commits.
 */
export async function lockedNumaState(
  unit: Unit, host: string,
  /** Only devices of this kind are counted (the claim's PCI requests all ask for it). */
  kind?: DeviceKind,
): Promise<HostNumaState | null> {
  const [node] = (await (onPostgres(unit) ? nodeNumaColumnsLocking : nodeNumaColumns).run(dbOf(unit), { host })).rows;
  if (!node) return null;
  return numaStateOf(node, (await deviceCounts(unit, [host], kind)).get(host) ?? []);
}

/** Writes the cells' usage; returns the column as written. */
export async function writeNumaUsage(unit: Unit, host: string, usage: HostNumaUsage): Promise<string> {
  const json = toJson(usage);
  await updateNumaUsage.run(dbOf(unit), { host, usage: json });
  return json;
}

/** The usage of a host's cells, read for update (a release gives back what a claim took). */
export async function lockedNumaUsage(unit: Unit, host: string): Promise<HostNumaUsage> {
  let q = dbOf(unit).selectFrom('compute_nodes').select('numa_usage').where('host', '=', host);
  if (onPostgres(unit)) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  return fromJson<HostNumaUsage>(row?.numa_usage, {});
}

/** Where a consumer's guest is pinned on a host (allocations.numa), or null. */
export async function numaPlacementJson(session: Session, consumer: string, host: string): Promise<string | null> {
  const row = await dbOf(session).selectFrom('allocations').select('numa')
    .where('consumer', '=', consumer).where('host', '=', host).executeTakeFirst();
  return row?.numa ?? null;
}


/** A consumer's NUMA placement on a host, or null (a guest without a topology, or no claim there). */
export async function numaPlacementOf(session: Session, consumer: string, host: string): Promise<NumaPlacement | null> {
  return fromJson<NumaPlacement | null>(await numaPlacementJson(session, consumer, host), null);
}
