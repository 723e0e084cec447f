import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { BadRequest, Conflict } from '../../../domain/errors.js';
import type { Database, ProjectTable, UserTable } from '../../../storage/schema.js';
import { hashPassword } from '../../services/passwords.js';

/** The one domain there is; clients name it "Default" and its id is "default". */
export const DEFAULT_DOMAIN = { id: 'default', name: 'Default' } as const;

/** Roles are fixed; a role's id is its name. `service` is the compute agents' credential. */
export const ROLES = ['admin', 'member', 'reader', 'service'] as const;
export type RoleName = (typeof ROLES)[number];

export function isRole(name: string): name is RoleName {
  return (ROLES as readonly string[]).includes(name);
}

/** Keystone ids are 32 hex characters. */
function newId(): string {
  return randomUUID().replaceAll('-', '');
}

/** A domain reference in an auth request or body: by id ("default") or name ("Default"). */
export function isDefaultDomain(ref: { id?: unknown; name?: unknown } | undefined): boolean {
  if (!ref) return true;
  if (ref.id !== undefined) return ref.id === DEFAULT_DOMAIN.id;
  if (ref.name !== undefined) return ref.name === DEFAULT_DOMAIN.name;
  return true;
}

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

export async function createProject(
  db: Kysely<Database>,
  input: { name: string; description?: string; enabled?: boolean },
): Promise<ProjectTable> {
  if (!input.name) throw new BadRequest('Project name is required.');
  if (await findProject(db, { name: input.name })) {
    throw new Conflict(`Conflict occurred attempting to store project - it is not permitted to have two projects with the same name in the same domain : ${input.name}.`);
  }
  const row: ProjectTable = {
    id: newId(), name: input.name, domain_id: DEFAULT_DOMAIN.id,
    description: input.description ?? '', enabled: input.enabled === false ? 0 : 1,
  };
  await db.insertInto('projects').values(row).execute();
  return row;
}

export async function createUser(
  db: Kysely<Database>,
  input: { name: string; password: string; defaultProjectId?: string | null; enabled?: boolean },
): Promise<UserTable> {
  if (!input.name) throw new BadRequest('User name is required.');
  if (await findUser(db, { name: input.name })) {
    throw new Conflict(`Conflict occurred attempting to store user - Duplicate entry found with name ${input.name} at domain ID default.`);
  }
  const row: UserTable = {
    id: newId(), name: input.name, domain_id: DEFAULT_DOMAIN.id, password_hash: await hashPassword(input.password),
    default_project_id: input.defaultProjectId ?? null, enabled: input.enabled === false ? 0 : 1,
  };
  await db.insertInto('users').values(row).execute();
  return row;
}

export async function setPassword(db: Kysely<Database>, userId: string, password: string): Promise<void> {
  await db.updateTable('users').set({ password_hash: await hashPassword(password) }).where('id', '=', userId).execute();
}

/** Idempotent: granting a role the user already has changes nothing. */
export async function assignRole(db: Kysely<Database>, userId: string, projectId: string, role: RoleName): Promise<void> {
  const existing = await db.selectFrom('role_assignments').select('role')
    .where('user_id', '=', userId).where('project_id', '=', projectId).where('role', '=', role).executeTakeFirst();
  if (!existing) await db.insertInto('role_assignments').values({ user_id: userId, project_id: projectId, role }).execute();
}

/** Projects on which the user holds any role. */
export async function projectsOfUser(db: Kysely<Database>, userId: string): Promise<ProjectTable[]> {
  return db.selectFrom('projects').selectAll()
    .where('id', 'in', db.selectFrom('role_assignments').select('project_id').where('user_id', '=', userId))
    .orderBy('name').execute();
}
