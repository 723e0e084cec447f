import type { Kysely, Selectable } from 'kysely';
import type { Database, SecurityGroupRuleTable, SecurityGroupTable } from '../schema.js';
import type { Unit, Session } from '../unit.js';
import { dbOf } from '../internal/handles.js';

/** Security groups, their rules, and which ports carry them (networking's records; nothing enforces them here). */

export type SecurityGroupRow = Selectable<SecurityGroupTable>;
export type SecurityGroupRuleRow = Selectable<SecurityGroupRuleTable>;

export interface SecurityGroupFilter { ids?: string[]; names?: string[]; projectIds?: string[] }
export interface RuleFilter {
  ids?: string[]; securityGroupIds?: string[]; projectIds?: string[]; directions?: string[]; ethertypes?: string[];
  protocols?: string[];
}

const any = (v: string[]) => v;
/**
 * An empty filter list matches no row: answered without a query (a NUL-byte
 * sentinel value did that before, which PostgreSQL refuses in text: a 500).
 */
const matchesNothing = (...lists: (string[] | undefined)[]) => lists.some((l) => l !== undefined && l.length === 0);

export async function listSecurityGroupRows(session: Session, f: SecurityGroupFilter): Promise<SecurityGroupRow[]> {
  if (matchesNothing(f.ids, f.names, f.projectIds)) return [];
  const db = dbOf(session);
  let q = db.selectFrom('security_groups').selectAll();
  if (f.ids) q = q.where('id', 'in', any(f.ids));
  if (f.names) q = q.where('name', 'in', any(f.names));
  if (f.projectIds) q = q.where('project_id', 'in', any(f.projectIds));
  return q.orderBy('created_at').orderBy('id').execute();
}

export async function getSecurityGroupRow(session: Session, id: string): Promise<SecurityGroupRow | null> {
  const db = dbOf(session);
  return (await db.selectFrom('security_groups').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

export async function insertSecurityGroup(unit: Unit, row: SecurityGroupRow): Promise<void> {
  const db = dbOf(unit);
  await db.insertInto('security_groups').values(row).execute();
}

export async function updateSecurityGroupRow(
  unit: Unit, id: string, changes: { name?: string; description?: string; stateful?: number }, now: string,
): Promise<void> {
  const db = dbOf(unit);
  await db.updateTable('security_groups')
    .set((eb) => ({ ...changes, updated_at: now, revision_number: eb('revision_number', '+', 1) }))
    .where('id', '=', id).execute();
}

/** Removes the group and its rules (ports must carry it no more: the caller checked). */
export async function deleteSecurityGroupRow(unit: Unit, id: string): Promise<void> {
  const db = dbOf(unit);
  await db.deleteFrom('security_group_rules').where('security_group_id', '=', id).execute();
  await db.deleteFrom('default_security_groups').where('security_group_id', '=', id).execute();
  await db.deleteFrom('security_groups').where('id', '=', id).execute();
}

/** The project's `default` group, if it was made. */
export async function defaultGroupIdOf(session: Session, projectId: string): Promise<string | null> {
  const db = dbOf(session);
  const r = await db.selectFrom('default_security_groups').select('security_group_id').where('project_id', '=', projectId).executeTakeFirst();
  return r?.security_group_id ?? null;
}

/** Claims the project's default slot for `groupId`; false when another request made the project's default first. */
export async function claimDefaultGroup(unit: Unit, projectId: string, groupId: string): Promise<boolean> {
  const db = dbOf(unit);
  const r = await db.insertInto('default_security_groups').values({ project_id: projectId, security_group_id: groupId })
    .onConflict((oc) => oc.column('project_id').doNothing()).executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
}

export async function listRuleRows(session: Session, f: RuleFilter): Promise<SecurityGroupRuleRow[]> {
  if (matchesNothing(f.ids, f.securityGroupIds, f.projectIds, f.directions, f.ethertypes, f.protocols)) return [];
  const db = dbOf(session);
  let q = db.selectFrom('security_group_rules').selectAll();
  if (f.ids) q = q.where('id', 'in', any(f.ids));
  if (f.securityGroupIds) q = q.where('security_group_id', 'in', any(f.securityGroupIds));
  if (f.projectIds) q = q.where('project_id', 'in', any(f.projectIds));
  if (f.directions) q = q.where('direction', 'in', any(f.directions));
  if (f.ethertypes) q = q.where('ethertype', 'in', any(f.ethertypes));
  if (f.protocols) q = q.where('protocol', 'in', any(f.protocols));
  return q.orderBy('created_at').orderBy('id').execute();
}

export async function insertRule(unit: Unit, row: SecurityGroupRuleRow): Promise<void> {
  const db = dbOf(unit);
  await db.insertInto('security_group_rules').values(row).execute();
}

export async function deleteRuleRow(unit: Unit, id: string): Promise<void> {
  const db = dbOf(unit);
  await db.deleteFrom('security_group_rules').where('id', '=', id).execute();
}

/** Rules of other groups that name this one as their remote group. */
export async function rulesNamingRemoteGroup(session: Session, groupId: string): Promise<number> {
  const db = dbOf(session);
  const r = await db.selectFrom('security_group_rules').select((eb) => eb.fn.countAll<number>().as('n'))
    .where('remote_group_id', '=', groupId).where('security_group_id', '<>', groupId).executeTakeFirst();
  return Number(r?.n ?? 0);
}

// ---------- ports ----------

/** The groups each port carries, in one query: port id → group ids (ports without any are absent). */
export async function groupsOfPorts(session: Session, portIds: string[]): Promise<Map<string, string[]>> {
  const db = dbOf(session);
  const out = new Map<string, string[]>();
  if (portIds.length === 0) return out;
  const rows = await db.selectFrom('port_security_groups').selectAll().where('port_id', 'in', portIds)
    .orderBy('port_id').orderBy('security_group_id').execute();
  for (const r of rows) {
    const list = out.get(r.port_id) ?? [];
    list.push(r.security_group_id);
    out.set(r.port_id, list);
  }
  return out;
}

/** Replaces the groups a port carries. */
export async function setPortGroups(unit: Unit, portId: string, groupIds: string[]): Promise<void> {
  const db = dbOf(unit);
  await db.deleteFrom('port_security_groups').where('port_id', '=', portId).execute();
  if (groupIds.length === 0) return;
  await db.insertInto('port_security_groups')
    .values([...new Set(groupIds)].map((g) => ({ port_id: portId, security_group_id: g }))).execute();
}

export async function portsCarryingGroup(session: Session, groupId: string): Promise<number> {
  const db = dbOf(session);
  const r = await db.selectFrom('port_security_groups').select((eb) => eb.fn.countAll<number>().as('n'))
    .where('security_group_id', '=', groupId).executeTakeFirst();
  return Number(r?.n ?? 0);
}

export async function portSecurityEnabled(session: Session, portId: string): Promise<boolean> {
  const db = dbOf(session);
  const r = await db.selectFrom('ports').select('port_security_enabled').where('id', '=', portId).executeTakeFirst();
  return r?.port_security_enabled !== 0;
}

export async function setPortSecurityEnabled(unit: Unit, portId: string, enabled: boolean): Promise<void> {
  const db = dbOf(unit);
  await db.updateTable('ports').set({ port_security_enabled: enabled ? 1 : 0 }).where('id', '=', portId).execute();
}

/** port_security_enabled of many ports: port id → flag. */
export async function portSecurityOf(session: Session, portIds: string[]): Promise<Map<string, boolean>> {
  const db = dbOf(session);
  if (portIds.length === 0) return new Map();
  const rows = await db.selectFrom('ports').select(['id', 'port_security_enabled']).where('id', 'in', portIds).execute();
  return new Map(rows.map((r) => [r.id, r.port_security_enabled !== 0]));
}
