import { sql, type Selectable } from 'kysely';
import type { ServerGroupTable } from '../schema.js';
import type { Session, Unit } from '../unit.js';
import { dbOf } from '../internal/handles.js';
import { deferWrite } from '../pipelining.js';

/** Nova's instance groups (os-server-groups): the group rows and their members. */

export type ServerGroupRow = Selectable<ServerGroupTable>;

export async function insertServerGroup(unit: Unit, row: ServerGroupRow): Promise<void> {
  await dbOf(unit).insertInto('server_groups').values(row).execute();
}

export async function serverGroupById(session: Session, id: string): Promise<ServerGroupRow | null> {
  return (await dbOf(session).selectFrom('server_groups').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

/** Groups in creation order (Nova's order), of one project or (projectId undefined) of all. */
export async function listServerGroupRows(
  session: Session, opts: { projectId?: string; limit?: number; offset?: number },
): Promise<ServerGroupRow[]> {
  let q = dbOf(session).selectFrom('server_groups').selectAll();
  if (opts.projectId !== undefined) q = q.where('project_id', '=', opts.projectId);
  q = q.orderBy('created_at').orderBy('id');
  if (opts.limit !== undefined) q = q.limit(opts.limit);
  if (opts.offset) q = q.offset(opts.offset);
  if (opts.offset && opts.limit === undefined) q = q.limit(-1 >>> 1);
  return q.execute();
}

export async function countServerGroups(session: Session, projectId: string): Promise<number> {
  const row = await dbOf(session).selectFrom('server_groups').select((eb) => eb.fn.countAll<number>().as('n'))
    .where('project_id', '=', projectId).executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** Deletes the group and its member list (the servers stay); false when there was none. */
export async function deleteServerGroupRow(unit: Unit, id: string): Promise<boolean> {
  const db = dbOf(unit);
  const r = await db.deleteFrom('server_groups').where('id', '=', id).executeTakeFirst();
  await db.deleteFrom('server_group_members').where('group_id', '=', id).execute();
  return Number(r.numDeletedRows) > 0;
}

/** Each group's members (servers not deleted: a deleted server leaves its group). */
export async function membersOfGroups(session: Session, ids: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return out;
  const rows = await dbOf(session).selectFrom('server_group_members').select(['group_id', 'instance_uuid'])
    .where('group_id', 'in', ids).orderBy('instance_uuid').execute();
  for (const r of rows) out.get(r.group_id)?.push(r.instance_uuid);
  return out;
}

/** The groups a server is a member of (at most one: the create hint names one). */
export async function groupsOfServer(session: Session, instanceUuid: string): Promise<string[]> {
  const rows = await dbOf(session).selectFrom('server_group_members').select('group_id')
    .where('instance_uuid', '=', instanceUuid).execute();
  return rows.map((r) => r.group_id);
}

/**
 * Takes the group's row lock for the rest of the transaction and returns the
 * group (null: deleted). A write, not SELECT … FOR UPDATE, so that it also
 * orders SQLite's writers and, on PostgreSQL, a transaction that waited for
 * it reads what the holder committed (read committed: each later statement
 * sees it). Everything that must not race on a group's membership or on
 * where its members run (a member's create, a member's placement) takes it
 * first.
 */
export async function lockServerGroup(unit: Unit, id: string): Promise<ServerGroupRow | null> {
  return (await dbOf(unit).updateTable('server_groups').set({ policy: sql`policy` }).where('id', '=', id)
    .returningAll().executeTakeFirst()) ?? null;
}

/** How many members of the group the user owns (Nova's server_group_members quota counts per user). */
export async function countGroupMembersOfUser(session: Session, groupId: string, userId: string): Promise<number> {
  const row = await dbOf(session).selectFrom('server_group_members as m')
    .innerJoin('instances as i', 'i.uuid', 'm.instance_uuid')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('m.group_id', '=', groupId).where('i.user_id', '=', userId).executeTakeFirst();
  return Number(row?.n ?? 0);
}

export async function addGroupMember(unit: Unit, groupId: string, instanceUuid: string): Promise<void> {
  const db = dbOf(unit);
  await deferWrite(db, db.insertInto('server_group_members').values({ group_id: groupId, instance_uuid: instanceUuid }).compile());
}

/** A deleted server leaves its group (Nova's members list only servers that are not deleted). */
export async function leaveServerGroups(unit: Unit, instanceUuid: string): Promise<void> {
  const db = dbOf(unit);
  await deferWrite(db, db.deleteFrom('server_group_members').where('instance_uuid', '=', instanceUuid).compile());
}

/**
 * Where the group's members other than `except` hold resources, as the
 * number of distinct members per host: each member's own claims and those of
 * its migrations (a move's destination counts while the move runs, as Nova's
 * late check counts incoming migrations). Read after lockServerGroup.
 */
export async function memberHostCounts(unit: Unit, groupId: string, except: string): Promise<Record<string, number>> {
  const db = dbOf(unit);
  const rows = await sql<{ host: string; member: string }>`
    select a.host as host, m.instance_uuid as member from server_group_members m
      join allocations a on a.consumer = m.instance_uuid
      where m.group_id = ${groupId} and m.instance_uuid <> ${except}
    union
    select a.host as host, m.instance_uuid as member from server_group_members m
      join migrations g on g.instance_uuid = m.instance_uuid
      join allocations a on a.consumer = g.uuid
      where m.group_id = ${groupId} and m.instance_uuid <> ${except}`.execute(db);
  const counts: Record<string, number> = {};
  for (const r of rows.rows) counts[r.host] = (counts[r.host] ?? 0) + 1;
  return counts;
}
