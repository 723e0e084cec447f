import { dbOf } from '../internal/handles.js';
import { precompiled } from '../precompiled.js';
import type { Session, Unit } from '../unit.js';

/** A stored token (by the SHA-256 of its secret) with who it speaks for. */
export interface TokenRow {
  userId: string;
  userName: string;
  userEnabled: boolean;
  projectId: string;
  projectName: string;
  projectEnabled: boolean;
  roles: string[];
  /** The roles the user holds on the project now (a token is good only while it holds every role it was issued with). */
  heldRoles: string[];
  /** The one host a per-host agent credential may act for; null for any other user. */
  agentHost: string | null;
  issuedAt: string;
  expiresAt: string;
}

export async function tokenById(session: Session, id: string): Promise<TokenRow | null> {
  const row = await dbOf(session).selectFrom('tokens')
    .innerJoin('users', 'users.id', 'tokens.user_id')
    .innerJoin('projects', 'projects.id', 'tokens.project_id')
    .select([
      'tokens.user_id', 'tokens.project_id', 'tokens.roles', 'tokens.issued_at', 'tokens.expires_at',
      'users.name as user_name', 'users.enabled as user_enabled', 'users.agent_host as agent_host',
      'projects.name as project_name', 'projects.enabled as project_enabled',
    ])
    .where('tokens.id', '=', id)
    .executeTakeFirst();
  if (!row) return null;
  const held = await dbOf(session).selectFrom('role_assignments').select('role')
    .where('user_id', '=', row.user_id).where('project_id', '=', row.project_id).execute();
  return {
    userId: row.user_id, userName: row.user_name, userEnabled: Boolean(row.user_enabled),
    projectId: row.project_id, projectName: row.project_name, projectEnabled: Boolean(row.project_enabled),
    roles: JSON.parse(row.roles) as string[], heldRoles: held.map((r) => r.role), agentHost: row.agent_host,
    issuedAt: row.issued_at, expiresAt: row.expires_at,
  };
}

/** Who a new token for this user and project speaks for: names and the roles held there (sorted). */
export async function tokenSubject(
  session: Session, userId: string, projectId: string,
): Promise<{ user: { id: string; name: string; agentHost: string | null }; project: { id: string; name: string }; roles: string[] }> {
  const db = dbOf(session);
  const row = await db.selectFrom('users').select(['id', 'name', 'agent_host']).where('id', '=', userId).executeTakeFirstOrThrow();
  const user = { id: row.id, name: row.name, agentHost: row.agent_host };
  const project = await db.selectFrom('projects').select(['id', 'name']).where('id', '=', projectId).executeTakeFirstOrThrow();
  const roles = (await db.selectFrom('role_assignments').select('role')
    .where('user_id', '=', userId).where('project_id', '=', projectId).orderBy('role').execute())
    .map((r) => r.role);
  return { user, project, roles };
}

export async function insertToken(
  unit: Unit, t: { id: string; userId: string; projectId: string; roles: string[]; issuedAt: string; expiresAt: string },
): Promise<void> {
  await dbOf(unit).insertInto('tokens').values({
    id: t.id, user_id: t.userId, project_id: t.projectId, roles: JSON.stringify(t.roles),
    issued_at: t.issuedAt, expires_at: t.expiresAt,
  }).execute();
}

const epochRead = precompiled<Record<string, never>, { epoch: number | string }>((db) =>
  db.selectFrom('token_epoch').select('epoch').where('id', '=', 1));

/**
 * The revocation counter (migration 015): it moves in the same transaction
 * as anything that can end a token or change whom it speaks for, so a cache
 * filled under one value is good exactly while the counter still reads it.
 */
export async function tokenEpoch(session: Session): Promise<number> {
  const { rows: [row] } = await epochRead.run(dbOf(session), {});
  return Number(row?.epoch ?? 0);
}

export async function moveTokenEpoch(unit: Unit): Promise<void> {
  await dbOf(unit).updateTable('token_epoch').set((eb) => ({ epoch: eb('epoch', '+', 1) })).where('id', '=', 1).execute();
}

export async function deleteToken(unit: Unit, id: string): Promise<boolean> {
  const res = await dbOf(unit).deleteFrom('tokens').where('id', '=', id).executeTakeFirst();
  const deleted = Number(res.numDeletedRows) > 0;
  if (deleted) await moveTokenEpoch(unit);
  return deleted;
}

export async function deleteTokensExpiredBy(unit: Unit, nowIso: string): Promise<void> {
  await dbOf(unit).deleteFrom('tokens').where('expires_at', '<', nowIso).execute();
}

/** Ends tokens at once: those of a user (on one project, or all), or of every user on a project. */
export async function deleteTokensOf(unit: Unit, f: { userId?: string; projectId?: string }): Promise<void> {
  if (f.userId === undefined && f.projectId === undefined) return;
  let q = dbOf(unit).deleteFrom('tokens');
  if (f.userId !== undefined) q = q.where('user_id', '=', f.userId);
  if (f.projectId !== undefined) q = q.where('project_id', '=', f.projectId);
  await q.execute();
  await moveTokenEpoch(unit);
}
