import type { ProjectTable, UserTable } from '../schema.js';
import type { Unit, Session } from '../unit.js';
import { dbOf } from '../internal/handles.js';
import { moveTokenEpoch } from './tokens.js';

/** Projects, users and role assignments (the identity API's tables). */

export async function findProject(session: Session, ref: { id?: string; name?: string }): Promise<ProjectTable | undefined> {
  const db = dbOf(session);
  let q = db.selectFrom('projects').selectAll();
  if (ref.id !== undefined) q = q.where('id', '=', ref.id);
  else if (ref.name !== undefined) q = q.where('name', '=', ref.name);
  else return undefined;
  return q.executeTakeFirst();
}

export async function findUser(session: Session, ref: { id?: string; name?: string }): Promise<UserTable | undefined> {
  const db = dbOf(session);
  let q = db.selectFrom('users').selectAll();
  if (ref.id !== undefined) q = q.where('id', '=', ref.id);
  else if (ref.name !== undefined) q = q.where('name', '=', ref.name);
  else return undefined;
  return q.executeTakeFirst();
}

export async function listProjects(session: Session, filter: { name?: string } = {}): Promise<ProjectTable[]> {
  const db = dbOf(session);
  let sel = db.selectFrom('projects').selectAll().orderBy('name');
  if (filter.name !== undefined) sel = sel.where('name', '=', filter.name);
  return sel.execute();
}

export async function listUsers(session: Session, filter: { name?: string } = {}): Promise<UserTable[]> {
  const db = dbOf(session);
  let sel = db.selectFrom('users').selectAll().orderBy('name');
  if (filter.name !== undefined) sel = sel.where('name', '=', filter.name);
  return sel.execute();
}

export async function insertProject(unit: Unit, row: ProjectTable): Promise<void> {
  const db = dbOf(unit);
  await db.insertInto('projects').values(row).execute();
}

export async function insertUser(unit: Unit, row: UserTable): Promise<void> {
  const db = dbOf(unit);
  await db.insertInto('users').values(row).execute();
}

export async function setPasswordHash(unit: Unit, userId: string, hash: string): Promise<void> {
  const db = dbOf(unit);
  await db.updateTable('users').set({ password_hash: hash }).where('id', '=', userId).execute();
  await moveTokenEpoch(unit);
}

/** Idempotent: granting a role the user already has changes nothing. */
export async function assignRole(unit: Unit, userId: string, projectId: string, role: string): Promise<void> {
  const db = dbOf(unit);
  if (!(await hasRole(unit, userId, projectId, role))) await db.insertInto('role_assignments').values({ user_id: userId, project_id: projectId, role }).execute();
}

export async function hasRole(session: Session, userId: string, projectId: string, role: string): Promise<boolean> {
  const db = dbOf(session);
  const row = await db.selectFrom('role_assignments').select('role')
    .where('user_id', '=', userId).where('project_id', '=', projectId).where('role', '=', role).executeTakeFirst();
  return row !== undefined;
}

export async function revokeRole(unit: Unit, userId: string, projectId: string, role: string): Promise<void> {
  const db = dbOf(unit);
  await db.deleteFrom('role_assignments')
    .where('user_id', '=', userId).where('project_id', '=', projectId).where('role', '=', role).execute();
  await moveTokenEpoch(unit);
}

/** The roles a user holds on a project, by name. */
export async function rolesOn(session: Session, userId: string, projectId: string): Promise<string[]> {
  const db = dbOf(session);
  const rows = await db.selectFrom('role_assignments').select('role')
    .where('user_id', '=', userId).where('project_id', '=', projectId).orderBy('role').execute();
  return rows.map((r) => r.role);
}

export interface RoleAssignmentRow {
  user_id: string;
  project_id: string;
  role: string;
  user_name: string;
  project_name: string;
}

export async function listRoleAssignments(
  session: Session, filter: { userId?: string; projectId?: string; role?: string },
): Promise<RoleAssignmentRow[]> {
  const db = dbOf(session);
  let sel = db.selectFrom('role_assignments')
    .innerJoin('users', 'users.id', 'role_assignments.user_id')
    .innerJoin('projects', 'projects.id', 'role_assignments.project_id')
    .select(['role_assignments.user_id', 'role_assignments.project_id', 'role_assignments.role', 'users.name as user_name', 'projects.name as project_name'])
    .orderBy('users.name').orderBy('projects.name').orderBy('role_assignments.role');
  if (filter.userId) sel = sel.where('role_assignments.user_id', '=', filter.userId);
  if (filter.projectId !== undefined) sel = sel.where('role_assignments.project_id', '=', filter.projectId);
  if (filter.role !== undefined) sel = sel.where('role_assignments.role', '=', filter.role);
  return sel.execute();
}

/** Projects on which the user holds any role. */
export async function projectsOfUser(session: Session, userId: string): Promise<ProjectTable[]> {
  const db = dbOf(session);
  return db.selectFrom('projects').selectAll()
    .where('id', 'in', db.selectFrom('role_assignments').select('project_id').where('user_id', '=', userId))
    .orderBy('name').execute();
}

/** Changes a user's columns (name, enabled, default project, password hash, lockout counters). */
export async function updateUserColumns(
  unit: Unit, userId: string,
  changes: Partial<Pick<UserTable, 'name' | 'enabled' | 'default_project_id' | 'password_hash' | 'failed_auth_count' | 'failed_auth_at'>>,
): Promise<void> {
  if (Object.keys(changes).length === 0) return;
  await dbOf(unit).updateTable('users').set(changes).where('id', '=', userId).execute();
  // What a token speaks for (name, enabled, password) changed: cached tokens are read again.
  if (changes.name !== undefined || changes.enabled !== undefined || changes.password_hash !== undefined) await moveTokenEpoch(unit);
}

export async function updateProjectColumns(
  unit: Unit, projectId: string, changes: Partial<Pick<ProjectTable, 'name' | 'enabled' | 'description'>>,
): Promise<void> {
  if (Object.keys(changes).length === 0) return;
  await dbOf(unit).updateTable('projects').set(changes).where('id', '=', projectId).execute();
  if (changes.name !== undefined || changes.enabled !== undefined) await moveTokenEpoch(unit);
}

/** A user gone with its role assignments and tokens: nothing it held can be used again. */
export async function deleteUserRows(unit: Unit, userId: string): Promise<void> {
  const db = dbOf(unit);
  await db.deleteFrom('tokens').where('user_id', '=', userId).execute();
  await db.deleteFrom('role_assignments').where('user_id', '=', userId).execute();
  await db.deleteFrom('users').where('id', '=', userId).execute();
  await moveTokenEpoch(unit);
}

/** Counts one failed password attempt, at `at`. */
export async function recordFailedAuth(unit: Unit, userId: string, at: string): Promise<void> {
  await dbOf(unit).updateTable('users')
    .set((eb) => ({ failed_auth_count: eb('failed_auth_count', '+', 1), failed_auth_at: at }))
    .where('id', '=', userId).execute();
}
