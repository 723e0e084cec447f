import type { CompiledQuery, Kysely, Selectable } from 'kysely';
import { deferWrite, readLater, runTogether } from '../pipelining.js';
import type { Database, IpAllocationTable, PortTable } from '../schema.js';
import { precompiled } from '../precompiled.js';
import { nowTimestamp } from './networks.js';
import type { Unit, Session } from '../unit.js';
import { dbOf } from '../internal/handles.js';

export interface PortRecord {
  id: string; name: string; networkId: string; projectId: string; macAddress: string; adminStateUp: boolean;
  status: string; deviceId: string; deviceOwner: string; vnicType: string; hostId: string;
  profile: Record<string, unknown>; vifType: string; vifDetails: Record<string, unknown>;
  fixedIps: { subnetId: string; ipAddress: string }[];
  /** The network's provider:physical_network: what a vdpa or direct port's device must be wired to. */
  physicalNetwork: string | null;
  networkName: string; mtu: number; description: string; createdAt: string; updatedAt: string;
  revisionNumber: number;
  /** Neutron's numa_affinity_policy (null: none; Nova then uses the flavor's or image's policy). */
  numaAffinityPolicy: string | null;
}

/** Filters for port lists; each given field matches any of its values. */
export interface PortFilter {
  ids?: string[]; names?: string[]; networkIds?: string[]; deviceIds?: string[]; deviceOwners?: string[];
  macAddresses?: string[]; hostIds?: string[]; projectIds?: string[]; statuses?: string[]; vnicTypes?: string[];
}

type PortRow = Selectable<PortTable> & { physical_network: string | null; network_name: string; mtu: number };

function parseObject(text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function toPort(row: PortRow, fixedIps: { subnetId: string; ipAddress: string }[]): PortRecord {
  return {
    id: row.id, name: row.name, networkId: row.network_id, projectId: row.project_id,
    macAddress: row.mac_address, adminStateUp: row.admin_state_up === 1, status: row.status,
    deviceId: row.device_id, deviceOwner: row.device_owner, vnicType: row.vnic_type, hostId: row.host_id,
    profile: parseObject(row.profile), vifType: row.vif_type, vifDetails: parseObject(row.vif_details), fixedIps,
    physicalNetwork: row.physical_network, networkName: row.network_name, mtu: row.mtu,
    description: row.description, createdAt: row.created_at, updatedAt: row.updated_at,
    revisionNumber: row.revision_number,
    numaAffinityPolicy: row.numa_affinity_policy ?? null,
  };
}

function portQuery(db: Kysely<Database>) {
  return db.selectFrom('ports')
    .innerJoin('networks', 'networks.id', 'ports.network_id')
    .selectAll('ports')
    .select(['networks.physical_network as physical_network', 'networks.name as network_name', 'networks.mtu as mtu']);
}

function fixedIpsQuery(db: Kysely<Database>, portIds: string[]) {
  return db.selectFrom('ip_allocations').selectAll().where('port_id', 'in', portIds).orderBy('subnet_id').orderBy('ip_address');
}

function withFixedIpRows(rows: PortRow[], allocs: Array<Selectable<IpAllocationTable>>): PortRecord[] {
  const byPort = new Map<string, { subnetId: string; ipAddress: string }[]>();
  for (const a of allocs) {
    const list = byPort.get(a.port_id) ?? [];
    list.push({ subnetId: a.subnet_id, ipAddress: a.ip_address });
    byPort.set(a.port_id, list);
  }
  return rows.map((r) => toPort(r, byPort.get(r.id) ?? []));
}

/** Fixed IPs of many ports in one query, so lists cost two queries whatever their length. */
async function withFixedIps(db: Kysely<Database>, rows: PortRow[]): Promise<PortRecord[]> {
  if (rows.length === 0) return [];
  return withFixedIpRows(rows, await fixedIpsQuery(db, rows.map((r) => r.id)).execute());
}

export async function getPort(session: Session, id: string): Promise<PortRecord | null> {
  return (await getPorts(session, [id]))[0] ?? null;
}

const portById = precompiled<{ id: string }, PortRow>((db, p) => portQuery(db).where('ports.id', '=', p.id));
const fixedIpsOfPort = precompiled<{ id: string }, Selectable<IpAllocationTable>>((db, p) =>
  db.selectFrom('ip_allocations').selectAll().where('port_id', '=', p.id).orderBy('subnet_id').orderBy('ip_address'));

/** The ports with these ids that exist, in the order asked for. */
export async function getPorts(session: Session, ids: string[]): Promise<PortRecord[]> {
  const db = dbOf(session);
  if (ids.length === 0) return [];
  // The ports and their addresses depend only on the ids: one round trip (pipelining.ts).
  const [ports, ips] = await runTogether(db, portReads(db, ids));
  return portRecords(ids, ports!.rows, ips!.rows);
}

/**
 * getPorts, read with the transaction's next round trip (readLater): a step
 * that will need the ports asks for them ahead at no round trip of its own.
 */
export function readPortsLater(unit: Unit, ids: string[]): Promise<PortRecord[]> {
  const db = dbOf(unit);
  if (ids.length === 0) return Promise.resolve([]);
  const [portsQuery, ipsQuery] = portReads(db, ids);
  const records = Promise.all([readLater(db, portsQuery), readLater(db, ipsQuery)])
    .then(([ports, ips]) => portRecords(ids, ports.rows, ips.rows));
  records.catch(() => undefined); // as readLater: a caller that stopped waiting leaves no unhandled rejection
  return records;
}

/** The two statements of getPorts: a server's usual single port as two prebuilt statements. */
function portReads(db: Kysely<Database>, ids: string[]): [CompiledQuery, CompiledQuery] {
  if (ids.length === 1) return [portById.compile(db, { id: ids[0]! }), fixedIpsOfPort.compile(db, { id: ids[0]! })];
  return [portQuery(db).where('ports.id', 'in', ids).compile(), fixedIpsQuery(db, ids).compile()];
}

function portRecords(ids: string[], portRows: unknown[], ipRows: unknown[]): PortRecord[] {
  const records = withFixedIpRows(portRows as PortRow[], ipRows as Array<Selectable<IpAllocationTable>>);
  const byId = new Map(records.map((p) => [p.id, p]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}

export async function portsOfDevice(session: Session, deviceId: string): Promise<PortRecord[]> {
  const db = dbOf(session);
  if (deviceId === '') return [];
  const rows = await portQuery(db).where('ports.device_id', '=', deviceId)
    .orderBy('ports.created_at').orderBy('ports.id').execute();
  return withFixedIps(db, rows);
}

export async function listPorts(session: Session, f: PortFilter = {}): Promise<PortRecord[]> {
  // An empty filter list matches no port (a NUL-byte sentinel did that before: PostgreSQL refuses it in text, a 500).
  const lists = [f.ids, f.names, f.networkIds, f.deviceIds, f.deviceOwners, f.macAddresses, f.hostIds, f.projectIds, f.statuses, f.vnicTypes];
  if (lists.some((l) => l !== undefined && l.length === 0)) return [];
  const db = dbOf(session);
  let q = portQuery(db);
  const any = (v: string[]) => v;
  if (f.ids) q = q.where('ports.id', 'in', any(f.ids));
  if (f.names) q = q.where('ports.name', 'in', any(f.names));
  if (f.networkIds) q = q.where('ports.network_id', 'in', any(f.networkIds));
  if (f.deviceIds) q = q.where('ports.device_id', 'in', any(f.deviceIds));
  if (f.deviceOwners) q = q.where('ports.device_owner', 'in', any(f.deviceOwners));
  if (f.macAddresses) q = q.where('ports.mac_address', 'in', any(f.macAddresses.map((m) => m.toLowerCase())));
  if (f.hostIds) q = q.where('ports.host_id', 'in', any(f.hostIds));
  if (f.projectIds) q = q.where('ports.project_id', 'in', any(f.projectIds));
  if (f.statuses) q = q.where('ports.status', 'in', any(f.statuses));
  if (f.vnicTypes) q = q.where('ports.vnic_type', 'in', any(f.vnicTypes));
  const rows = await q.orderBy('ports.created_at').orderBy('ports.id').execute();
  return withFixedIps(db, rows);
}

export async function macInUse(session: Session, mac: string): Promise<boolean> {
  const db = dbOf(session);
  const r = await db.selectFrom('ports').select('id').where('mac_address', '=', mac).executeTakeFirst();
  return r !== undefined;
}

export async function insertPort(unit: Unit, row: PortTable): Promise<void> {
  const db = dbOf(unit);
  await db.insertInto('ports').values(row).execute();
}

/** Writes the given columns, bumping revision_number and updated_at as every port change does. */
export async function updatePortColumns(
  unit: Unit, portId: string,
  changes: Partial<Omit<PortTable, 'id' | 'created_at' | 'updated_at' | 'revision_number'>>,
): Promise<void> {
  const db = dbOf(unit);
  await deferWrite(db, db.updateTable('ports')
    .set((eb) => ({ ...changes, updated_at: nowTimestamp(), revision_number: eb('revision_number', '+', 1) }))
    .where('id', '=', portId).compile());
}

export async function bindPort(
  unit: Unit, portId: string,
  b: {
    hostId: string; deviceId: string; deviceOwner: string; profile: Record<string, unknown>; vifType: string;
    vifDetails: Record<string, unknown>; status: string;
  },
): Promise<void> {
  await updatePortColumns(unit, portId, {
    host_id: b.hostId, device_id: b.deviceId, device_owner: b.deviceOwner, profile: JSON.stringify(b.profile),
    vif_type: b.vifType, vif_details: JSON.stringify(b.vifDetails), status: b.status,
  });
}

/** Back to the unbound shape (behaviour.md "Ports"); a shelved server's port keeps its device_id. */
export async function unbindPort(unit: Unit, portId: string, opts: { keepDeviceId?: boolean } = {}): Promise<void> {
  await updatePortColumns(unit, portId, {
    host_id: '', profile: '{}', vif_type: 'unbound', vif_details: '{}', status: 'DOWN',
    ...(opts.keepDeviceId ? {} : { device_id: '', device_owner: '' }),
  });
}

export async function setPortStatus(unit: Unit, portIds: string[], status: string): Promise<void> {
  const db = dbOf(unit);
  if (portIds.length === 0) return;
  await deferWrite(db, db.updateTable('ports')
    .set((eb) => ({ status, updated_at: nowTimestamp(), revision_number: eb('revision_number', '+', 1) }))
    .where('id', 'in', portIds).where('status', '<>', status).compile());
}

/** Removes the port and releases its addresses. */
export async function deletePortRow(unit: Unit, portId: string): Promise<void> {
  const db = dbOf(unit);
  await db.deleteFrom('ip_allocations').where('port_id', '=', portId).execute();
  await db.deleteFrom('port_security_groups').where('port_id', '=', portId).execute();
  await db.deleteFrom('ports').where('id', '=', portId).execute();
}

/**
 * Takes the subnet's allocation lock (a row lock on PostgreSQL; SQLite
 * transactions are serial already) and returns the allocator state.
 */
export async function lockSubnetForAllocation(unit: Unit, subnetId: string):
  Promise<{ allocationStart: string; allocationEnd: string; nextIpHint: string; gatewayIp: string | null } | null> {
  const db = dbOf(unit);
  const row = await db.updateTable('subnets').set((eb) => ({ next_ip_hint: eb.ref('next_ip_hint') }))
    .where('id', '=', subnetId)
    .returning(['allocation_start', 'allocation_end', 'next_ip_hint', 'gateway_ip'])
    .executeTakeFirst();
  if (!row) return null;
  return {
    allocationStart: row.allocation_start, allocationEnd: row.allocation_end,
    nextIpHint: row.next_ip_hint, gatewayIp: row.gateway_ip,
  };
}

export async function ipAllocated(session: Session, subnetId: string, ip: string): Promise<boolean> {
  const db = dbOf(session);
  const r = await db.selectFrom('ip_allocations').select('port_id')
    .where('subnet_id', '=', subnetId).where('ip_address', '=', ip).executeTakeFirst();
  return r !== undefined;
}

export async function insertIpAllocation(unit: Unit, subnetId: string, ip: string, portId: string): Promise<void> {
  const db = dbOf(unit);
  await db.insertInto('ip_allocations').values({ subnet_id: subnetId, ip_address: ip, port_id: portId }).execute();
}

export async function setNextIpHint(unit: Unit, subnetId: string, hint: string): Promise<void> {
  const db = dbOf(unit);
  await db.updateTable('subnets').set({ next_ip_hint: hint }).where('id', '=', subnetId).execute();
}

/** A unique or primary-key violation on SQLite or PostgreSQL: the caller lost a race and may retry. */
export function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
