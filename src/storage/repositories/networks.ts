import type { Kysely, Selectable } from 'kysely';
import type { Database, NetworkTable, SubnetTable } from '../schema.js';
import type { Unit, Session } from '../unit.js';
import { dbOf } from '../internal/handles.js';

export interface NetworkRecord {
  id: string; name: string; projectId: string; shared: boolean; adminStateUp: boolean; status: string;
  physicalNetwork: string | null; networkType: string; segmentationId: number | null; mtu: number;
  routerExternal: boolean; description: string; createdAt: string; updatedAt: string; revisionNumber: number;
  /** Ids of the network's subnets, oldest first. */
  subnetIds: string[];
}

export interface SubnetRecord {
  id: string; name: string; networkId: string; projectId: string; cidr: string; ipVersion: 4 | 6;
  gatewayIp: string | null; enableDhcp: boolean;
  /** One pool (the schema keeps a single range); empty for subnets the allocator does not serve. */
  allocationPools: { start: string; end: string }[];
  description: string; createdAt: string; updatedAt: string; revisionNumber: number;
}

/** Filters for lists; each given field matches any of its values. */
export interface NetworkFilter {
  ids?: string[]; names?: string[]; shared?: boolean; projectIds?: string[];
  /** Non-admins: their own project's networks plus shared ones. */
  visibleTo?: string;
}
export interface SubnetFilter {
  ids?: string[]; names?: string[]; networkIds?: string[]; projectIds?: string[]; cidrs?: string[];
  ipVersion?: number;
  /** Non-admins: their own project's subnets plus those on shared networks. */
  visibleTo?: string;
}

/** Neutron's timestamp form: seconds precision, UTC, trailing Z. */
export function nowTimestamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function toNetwork(row: Selectable<NetworkTable>, subnetIds: string[]): NetworkRecord {
  return {
    id: row.id, name: row.name, projectId: row.project_id, shared: row.shared === 1,
    adminStateUp: row.admin_state_up === 1, status: row.status, physicalNetwork: row.physical_network,
    networkType: row.network_type, segmentationId: row.segmentation_id, mtu: row.mtu,
    routerExternal: row.router_external === 1, description: row.description, createdAt: row.created_at,
    updatedAt: row.updated_at, revisionNumber: row.revision_number, subnetIds,
  };
}

export function toSubnet(row: Selectable<SubnetTable>): SubnetRecord {
  return {
    id: row.id, name: row.name, networkId: row.network_id, projectId: row.project_id, cidr: row.cidr,
    ipVersion: row.ip_version === 6 ? 6 : 4, gatewayIp: row.gateway_ip, enableDhcp: row.enable_dhcp === 1,
    allocationPools: row.allocation_start ? [{ start: row.allocation_start, end: row.allocation_end }] : [],
    description: row.description, createdAt: row.created_at, updatedAt: row.updated_at,
    revisionNumber: row.revision_number,
  };
}

async function subnetIdsByNetwork(db: Kysely<Database>, networkIds: string[]): Promise<Map<string, string[]>> {
  const byNetwork = new Map<string, string[]>();
  if (networkIds.length === 0) return byNetwork;
  const rows = await db.selectFrom('subnets').select(['id', 'network_id'])
    .where('network_id', 'in', networkIds).orderBy('created_at').orderBy('id').execute();
  for (const r of rows) {
    const list = byNetwork.get(r.network_id) ?? [];
    list.push(r.id);
    byNetwork.set(r.network_id, list);
  }
  return byNetwork;
}

export async function insertNetwork(unit: Unit, row: NetworkTable): Promise<void> {
  const db = dbOf(unit);
  await db.insertInto('networks').values(row).execute();
}

export async function getNetwork(session: Session, id: string): Promise<NetworkRecord | null> {
  const db = dbOf(session);
  const row = await db.selectFrom('networks').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) return null;
  const subnets = await subnetIdsByNetwork(db, [id]);
  return toNetwork(row, subnets.get(id) ?? []);
}

export async function listNetworks(session: Session, f: NetworkFilter = {}): Promise<NetworkRecord[]> {
  const db = dbOf(session);
  let q = db.selectFrom('networks').selectAll();
  if (f.ids) q = q.where('id', 'in', f.ids.length ? f.ids : ['']);
  if (f.names) q = q.where('name', 'in', f.names.length ? f.names : ['']);
  if (f.projectIds) q = q.where('project_id', 'in', f.projectIds.length ? f.projectIds : ['']);
  if (f.shared !== undefined) q = q.where('shared', '=', f.shared ? 1 : 0);
  const visibleTo = f.visibleTo;
  if (visibleTo !== undefined) q = q.where((eb) => eb.or([eb('project_id', '=', visibleTo), eb('shared', '=', 1)]));
  const rows = await q.orderBy('created_at').orderBy('id').execute();
  const subnets = await subnetIdsByNetwork(db, rows.map((r) => r.id));
  return rows.map((r) => toNetwork(r, subnets.get(r.id) ?? []));
}

export async function updateNetwork(
  unit: Unit, id: string,
  changes: Partial<Pick<NetworkTable, 'name' | 'admin_state_up' | 'description' | 'shared' | 'mtu'>>,
): Promise<void> {
  const db = dbOf(unit);
  await db.updateTable('networks')
    .set((eb) => ({ ...changes, updated_at: nowTimestamp(), revision_number: eb('revision_number', '+', 1) }))
    .where('id', '=', id).execute();
}

/** Removes the network and its subnets; the caller has checked that no port remains. */
export async function deleteNetwork(unit: Unit, id: string): Promise<void> {
  const db = dbOf(unit);
  await db.deleteFrom('subnets').where('network_id', '=', id).execute();
  await db.deleteFrom('networks').where('id', '=', id).execute();
}

export async function countPortsOnNetwork(session: Session, networkId: string): Promise<number> {
  const db = dbOf(session);
  const r = await db.selectFrom('ports').select((eb) => eb.fn.countAll<number>().as('n'))
    .where('network_id', '=', networkId).executeTakeFirstOrThrow();
  return Number(r.n);
}

export async function insertSubnet(unit: Unit, row: SubnetTable): Promise<void> {
  const db = dbOf(unit);
  await db.insertInto('subnets').values(row).execute();
}

export async function getSubnet(session: Session, id: string): Promise<SubnetRecord | null> {
  const db = dbOf(session);
  const row = await db.selectFrom('subnets').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toSubnet(row) : null;
}

export async function subnetsOfNetwork(session: Session, networkId: string): Promise<SubnetRecord[]> {
  const db = dbOf(session);
  const rows = await db.selectFrom('subnets').selectAll().where('network_id', '=', networkId)
    .orderBy('created_at').orderBy('id').execute();
  return rows.map(toSubnet);
}

export async function listSubnets(session: Session, f: SubnetFilter = {}): Promise<SubnetRecord[]> {
  const db = dbOf(session);
  let q = db.selectFrom('subnets').selectAll();
  if (f.ids) q = q.where('id', 'in', f.ids.length ? f.ids : ['']);
  if (f.names) q = q.where('name', 'in', f.names.length ? f.names : ['']);
  if (f.networkIds) q = q.where('network_id', 'in', f.networkIds.length ? f.networkIds : ['']);
  if (f.projectIds) q = q.where('project_id', 'in', f.projectIds.length ? f.projectIds : ['']);
  if (f.cidrs) q = q.where('cidr', 'in', f.cidrs.length ? f.cidrs : ['']);
  if (f.ipVersion !== undefined) q = q.where('ip_version', '=', f.ipVersion);
  const visibleTo = f.visibleTo;
  if (visibleTo !== undefined) {
    q = q.where((eb) => eb.or([
      eb('project_id', '=', visibleTo),
      eb('network_id', 'in', eb.selectFrom('networks').select('id').where('shared', '=', 1)),
    ]));
  }
  const rows = await q.orderBy('created_at').orderBy('id').execute();
  return rows.map(toSubnet);
}

export async function countAllocationsOnSubnet(session: Session, subnetId: string): Promise<number> {
  const db = dbOf(session);
  const r = await db.selectFrom('ip_allocations').select((eb) => eb.fn.countAll<number>().as('n'))
    .where('subnet_id', '=', subnetId).executeTakeFirstOrThrow();
  return Number(r.n);
}

export async function deleteSubnet(unit: Unit, id: string): Promise<void> {
  const db = dbOf(unit);
  await db.deleteFrom('subnets').where('id', '=', id).execute();
}
