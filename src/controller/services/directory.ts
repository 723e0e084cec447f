/** The identity directory: projects and users with their rules (unique names, hashed passwords); the SQL is in storage/repositories/identity.ts. */
import { randomUUID } from 'node:crypto';
import { BadRequest, Conflict } from '../../domain/errors.js';
import { findProject, findUser, insertProject, insertUser, setPasswordHash } from '../../storage/repositories/identity.js';
import type { ProjectTable, UserTable } from '../../storage/schema.js';
import { hashPassword } from './passwords.js';
import type { Unit } from '../../storage/unit.js';

export { assignRole, findProject, findUser, projectsOfUser } from '../../storage/repositories/identity.js';

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

export async function createProject(
  db: Unit,
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
  await insertProject(db, row);
  return row;
}

export async function createUser(
  db: Unit,
  input: { name: string; password: string; defaultProjectId?: string | null; enabled?: boolean; agentHost?: string | null },
): Promise<UserTable> {
  if (!input.name) throw new BadRequest('User name is required.');
  if (await findUser(db, { name: input.name })) {
    throw new Conflict(`Conflict occurred attempting to store user - Duplicate entry found with name ${input.name} at domain ID default.`);
  }
  const row: UserTable = {
    id: newId(), name: input.name, domain_id: DEFAULT_DOMAIN.id, password_hash: await hashPassword(input.password),
    default_project_id: input.defaultProjectId ?? null, enabled: input.enabled === false ? 0 : 1,
    failed_auth_count: 0, failed_auth_at: null, agent_host: input.agentHost ?? null,
  };
  await insertUser(db, row);
  return row;
}

export async function setPassword(db: Unit, userId: string, password: string): Promise<void> {
  await setPasswordHash(db, userId, await hashPassword(password));
}

/** A user that cannot log in until a password is set: a hash that never verifies. */
export async function lockPassword(db: Unit, userId: string): Promise<void> {
  await setPasswordHash(db, userId, '!');
}
