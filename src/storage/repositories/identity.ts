import type { Kysely } from 'kysely';
import type { Database, ProjectTable, UserTable } from '../schema.js';

/** Projects, users and role assignments (the identity API's tables). */

export async function findProject(db: Kysely<Database>, ref: { id?: string; name?: string }): Promise<ProjectTable | undefined> {
  let q = db.selectFrom('projects').selectAll();
  if (ref.id !== undefined) q = q.where('id', '=', ref.id);
  else if (ref.name !== undefined) q = q.where('name', '=', ref.name);
  else return undefined;
  return q.executeTakeFirst();
}

export async function findUser(db: Kysely<Database>, ref: { id?: string; name?: string }): Promise<UserTable | undefined> {
  let q = db.selectFrom('users').selectAll();
  if (ref.id !== undefined) q = q.where('id', '=', ref.id);
  else if (ref.name !== undefined) q = q.where('name', '=', ref.name);
  else return undefined;
  return q.executeTakeFirst();
}

export async function listProjects(db: Kysely<Database>, filter: { name?: string } = {}): Promise<ProjectTable[]> {
  let sel = db.selectFrom('projects').selectAll().orderBy('name');
  if (filter.name !== undefined) sel = sel.where('name', '=', filter.name);
  return sel.execute();
}

export async function listUsers(db: Kysely<Database>, filter: { name?: string } = {}): Promise<UserTable[]> {
  let sel = db.selectFrom('users').selectAll().orderBy('name');
  if (filter.name !== undefined) sel = sel.where('name', '=', filter.name);
  return sel.execute();
}

export async function insertProject(db: Kysely<Database>, row: ProjectTable): Promise<void> {
  await db.insertInto('projects').values(row).execute();
}

export async function insertUser(db: Kysely<Database>, row: UserTable): Promise<void> {
  await db.insertInto('users').values(row).execute();
}

export async function setPasswordHash(db: Kysely<Database>, userId: string, hash: string): Promise<void> {
  await db.updateTable('users').set({ password_hash: hash }).where('id', '=', userId).execute();
}

/** Idempotent: granting a role the user already has changes nothing. */
export async function assignRole(db: Kysely<Database>, userId: string, projectId: string, role: string): Promise<void> {
  if (!(await hasRole(db, userId, projectId, role))) await db.insertInto('role_assignments').values({ user_id: userId, project_id: projectId, role }).execute();
}

export async function hasRole(db: Kysely<Database>, userId: string, projectId: string, role: string): Promise<boolean> {
  const row = await db.selectFrom('role_assignments').select('role')
    .where('user_id', '=', userId).where('project_id', '=', projectId).where('role', '=', role).executeTakeFirst();
  return row !== undefined;
}

export async function revokeRole(db: Kysely<Database>, userId: string, projectId: string, role: string): Promise<void> {
  await db.deleteFrom('role_assignments')
    .where('user_id', '=', userId).where('project_id', '=', projectId).where('role', '=', role).execute();
}

/** The roles a user holds on a project, by name. */
export async function rolesOn(db: Kysely<Database>, userId: string, projectId: string): Promise<string[]> {
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
  db: Kysely<Database>, filter: { userId?: string; projectId?: string; role?: string },
): Promise<RoleAssignmentRow[]> {
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
export async function projectsOfUser(db: Kysely<Database>, userId: string): Promise<ProjectTable[]> {
  return db.selectFrom('projects').selectAll()
    .where('id', 'in', db.selectFrom('role_assignments').select('project_id').where('user_id', '=', userId))
    .orderBy('name').execute();
}

/** Changes a user's columns (name, enabled, default project, password hash, lockout counters). */
export async function updateUserColumns(
  db: Kysely<Database>, userId: string,
  changes: Partial<Pick<UserTable, 'name' | 'enabled' | 'default_project_id' | 'password_hash' | 'failed_auth_count' | 'failed_auth_at'>>,
): Promise<void> {
  if (Object.keys(changes).length === 0) return;
  await db.updateTable('users').set(changes).where('id', '=', userId).execute();
}

export async function updateProjectColumns(
  db: Kysely<Database>, projectId: string, changes: Partial<Pick<ProjectTable, 'name' | 'enabled' | 'description'>>,
): Promise<void> {
  if (Object.keys(changes).length === 0) return;
  await db.updateTable('projects').set(changes).where('id', '=', projectId).execute();
}

/** A user gone with its role assignments and tokens: nothing it held can be used again. */
export async function deleteUserRows(db: Kysely<Database>, userId: string): Promise<void> {
  await db.deleteFrom('tokens').where('user_id', '=', userId).execute();
  await db.deleteFrom('role_assignments').where('user_id', '=', userId).execute();
  await db.deleteFrom('users').where('id', '=', userId).execute();
}

/** Counts one failed password attempt, at `at`. */
export async function recordFailedAuth(db: Kysely<Database>, userId: string, at: string): Promise<void> {
  await db.updateTable('users')
    .set((eb) => ({ failed_auth_count: eb('failed_auth_count', '+', 1), failed_auth_at: at }))
    .where('id', '=', userId).execute();
}

/** Ends tokens at once: those of a user (on one project, or all), or of every user on a project. */
export async function deleteTokens(db: Kysely<Database>, f: { userId?: string; projectId?: string }): Promise<void> {
  let q = db.deleteFrom('tokens');
  if (f.userId !== undefined) q = q.where('user_id', '=', f.userId);
  if (f.projectId !== undefined) q = q.where('project_id', '=', f.projectId);
  if (f.userId === undefined && f.projectId === undefined) return;
  await q.execute();
}
