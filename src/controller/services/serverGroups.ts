import { randomUUID } from 'node:crypto';
import { BadRequest, Forbidden, NotFound } from '../../domain/errors.js';
import { COMPUTE_DEFAULTS } from '../../domain/quotas/resources.js';
import type { GroupPolicy, GroupRules } from '../../domain/scheduling/serverGroups.js';
import { fromJson, nowIso, toJson } from '../../storage/repositories/json.js';
import { projectLimits } from '../../storage/repositories/quotas.js';
import {
  addGroupMember, countGroupMembersOfUser, countServerGroups, deleteServerGroupRow, insertServerGroup,
  listServerGroupRows, lockServerGroup, membersOfGroups, serverGroupById, type ServerGroupRow,
} from '../../storage/repositories/serverGroups.js';
import type { Session, Unit } from '../../storage/unit.js';
import type { Storage } from '../../storage/db.js';
import type { AuthContext } from '../context.js';

/** Nova's server groups (os-server-groups): a policy over where their members run. */

export interface ServerGroup {
  id: string; name: string; projectId: string; userId: string;
  policy: GroupPolicy; rules: GroupRules;
  /** Servers in the group that are not deleted. */
  members: string[];
}

function groupOf(row: ServerGroupRow, members: string[]): ServerGroup {
  return {
    id: row.id, name: row.name, projectId: row.project_id, userId: row.user_id,
    policy: row.policy as GroupPolicy, rules: fromJson<GroupRules>(row.rules, {}), members,
  };
}

export function groupNotFound(id: string): NotFound {
  return new NotFound(`Instance group ${id} could not be found.`);
}

function mayAct(auth: AuthContext, row: ServerGroupRow, action: string): void {
  if (!auth.isAdmin && row.project_id !== auth.projectId) {
    throw new Forbidden(`Policy doesn't allow os_compute_api:os-server-groups:${action} to be performed.`);
  }
}

/** Creates a group, counted against the project's server_groups limit in the insert's own unit (Nova's 403). */
export async function createServerGroup(
  store: Storage, auth: AuthContext, input: { name: string; policy: GroupPolicy; rules: GroupRules },
): Promise<ServerGroup> {
  if (input.policy !== 'anti-affinity' && Object.keys(input.rules).length > 0) {
    throw new BadRequest('Only anti-affinity policy supports rules.');
  }
  const row: ServerGroupRow = {
    id: randomUUID(), name: input.name, project_id: auth.projectId, user_id: auth.userId,
    policy: input.policy, rules: toJson(input.rules), created_at: nowIso(),
  };
  await store.transact(async (u) => {
    const limit = (await projectLimits(u, auth.projectId)).server_groups ?? COMPUTE_DEFAULTS.server_groups!;
    if (limit >= 0 && (await countServerGroups(u, auth.projectId)) >= limit) throw new Forbidden('Quota exceeded, too many server groups.');
    await insertServerGroup(u, row);
  });
  return groupOf(row, []);
}

export async function showServerGroup(db: Session, auth: AuthContext, id: string): Promise<ServerGroup> {
  const row = await serverGroupById(db, id);
  if (!row) throw groupNotFound(id);
  mayAct(auth, row, 'show');
  return groupOf(row, (await membersOfGroups(db, [row.id])).get(row.id) ?? []);
}

/** The caller's project's groups; every project's for an admin asking for all_projects (Nova ignores it for others). */
export async function listServerGroups(
  db: Session, auth: AuthContext, opts: { allProjects: boolean; limit?: number; offset?: number },
): Promise<ServerGroup[]> {
  const rows = await listServerGroupRows(db, {
    ...(opts.allProjects && auth.isAdmin ? {} : { projectId: auth.projectId }),
    ...(opts.limit !== undefined ? { limit: opts.limit } : {}), ...(opts.offset !== undefined ? { offset: opts.offset } : {}),
  });
  const members = await membersOfGroups(db, rows.map((r) => r.id));
  return rows.map((r) => groupOf(r, members.get(r.id) ?? []));
}

/** Deletes the group; its servers keep running, free of its policy. */
export async function deleteServerGroup(store: Storage, auth: AuthContext, id: string): Promise<void> {
  const row = await serverGroupById(store.reader, id);
  if (!row) throw groupNotFound(id);
  mayAct(auth, row, 'delete');
  if (!(await store.transact((u) => deleteServerGroupRow(u, id)))) throw groupNotFound(id);
}

/**
 * A new server joins the group of its `group` hint, in the create's own
 * transaction: under the group's lock, the user's members in the group are
 * counted against server_group_members (Nova's 403 text), so concurrent
 * creates cannot pass the limit together. The group must exist (Nova: 400).
 */
export async function joinServerGroup(trx: Unit, projectId: string, userId: string, groupId: string, instanceUuid: string): Promise<void> {
  const row = await lockServerGroup(trx, groupId);
  if (!row) throw new BadRequest(`Instance group ${groupId} could not be found.`);
  const limit = (await projectLimits(trx, projectId)).server_group_members ?? COMPUTE_DEFAULTS.server_group_members!;
  if (limit >= 0 && (await countGroupMembersOfUser(trx, groupId, userId)) >= limit) {
    throw new Forbidden('Quota exceeded, too many servers in group');
  }
  await addGroupMember(trx, groupId, instanceUuid);
}
