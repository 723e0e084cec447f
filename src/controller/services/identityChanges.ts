/**
 * Changes to users, projects and role assignments that end tokens, as
 * Keystone's revocation events do: a user disabled or deleted, a project
 * disabled, a role assignment removed. Token checks read the database on
 * every request (services/tokens.ts), so this holds in every controller
 * process at once.
 */
import { Conflict, NotFound } from '../../domain/errors.js';
import {
  deleteUserRows, findProject, findUser, revokeRole, updateProjectColumns, updateUserColumns,
} from '../../storage/repositories/identity.js';
import { deleteTokensOf } from '../../storage/repositories/tokens.js';
import type { ProjectTable, UserTable } from '../../storage/schema.js';
import type { Unit } from '../../storage/unit.js';

/** `password` is only whether one was given; `passwordHash` is its hash, made before the transaction. */
export interface UserChanges { name?: string; enabled?: boolean; password?: string; passwordHash?: string; defaultProjectId?: string | null }

export async function updateUser(db: Unit, userId: string, changes: UserChanges): Promise<UserTable> {
  const user = await findUser(db, { id: userId });
  if (!user) throw new NotFound(`Could not find user: ${userId}.`);
  if (changes.name !== undefined && changes.name !== user.name && await findUser(db, { name: changes.name })) {
    throw new Conflict(`Conflict occurred attempting to store user - Duplicate entry found with name ${changes.name} at domain ID default.`);
  }
  if (changes.defaultProjectId && !(await findProject(db, { id: changes.defaultProjectId }))) {
    throw new NotFound(`Could not find project: ${changes.defaultProjectId}.`);
  }
  await updateUserColumns(db, userId, {
    ...(changes.name !== undefined ? { name: changes.name } : {}),
    ...(changes.enabled !== undefined ? { enabled: changes.enabled ? 1 : 0 } : {}),
    ...(changes.defaultProjectId !== undefined ? { default_project_id: changes.defaultProjectId } : {}),
    // A new password also lifts a lockout.
    ...(changes.passwordHash !== undefined ? { password_hash: changes.passwordHash, failed_auth_count: 0, failed_auth_at: null } : {}),
  });
  // Disabling (or a new password, as Keystone) revokes the user's tokens; enabling again does not bring them back.
  if (changes.enabled === false || changes.passwordHash !== undefined) await deleteTokensOf(db, { userId });
  return (await findUser(db, { id: userId }))!;
}

export async function deleteUser(db: Unit, userId: string): Promise<void> {
  if (!(await findUser(db, { id: userId }))) throw new NotFound(`Could not find user: ${userId}.`);
  await deleteUserRows(db, userId);
}

export interface ProjectChanges { name?: string; enabled?: boolean; description?: string }

export async function updateProject(db: Unit, projectId: string, changes: ProjectChanges): Promise<ProjectTable> {
  const project = await findProject(db, { id: projectId });
  if (!project) throw new NotFound(`Could not find project: ${projectId}.`);
  if (changes.name !== undefined && changes.name !== project.name && await findProject(db, { name: changes.name })) {
    throw new Conflict(`Conflict occurred attempting to store project - it is not permitted to have two projects with the same name in the same domain : ${changes.name}.`);
  }
  await updateProjectColumns(db, projectId, {
    ...(changes.name !== undefined ? { name: changes.name } : {}),
    ...(changes.enabled !== undefined ? { enabled: changes.enabled ? 1 : 0 } : {}),
    ...(changes.description !== undefined ? { description: changes.description } : {}),
  });
  if (changes.enabled === false) await deleteTokensOf(db, { projectId });
  return (await findProject(db, { id: projectId }))!;
}

/** A role taken away: the user's tokens on that project end (given back, the role does not revive them). */
export async function revokeGrant(db: Unit, userId: string, projectId: string, role: string): Promise<void> {
  await revokeRole(db, userId, projectId, role);
  await deleteTokensOf(db, { userId, projectId });
}
