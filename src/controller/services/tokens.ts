import { createHash, randomBytes } from 'node:crypto';
import type { Store } from '../../storage/db.js';
import type { AuthContext, TokenService } from '../context.js';

/** What a token stands for, with its lifetime (for token validation responses). */
export interface TokenRecord {
  auth: AuthContext;
  issuedAt: string;
  expiresAt: string;
}

export interface IssuedToken extends TokenRecord {
  /** The secret handed to the client; only its SHA-256 hash is stored. */
  token: string;
}

export interface IssuingTokenService extends TokenService {
  /** Issues a token for a user scoped to a project, with the roles the user holds there. */
  issue(input: { userId: string; projectId: string }): Promise<IssuedToken>;
  /** Same as verify, with issue and expiry times. */
  lookup(token: string): Promise<TokenRecord | null>;
  /** Makes the token invalid at once; true when it existed. */
  revoke(token: string): Promise<boolean>;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Expired rows are deleted at most this often, piggybacked on issuing. */
const PURGE_INTERVAL_MS = 10 * 60_000;
/** What issue() hands out: 32 random bytes, base64url. Anything else (a trailing space included) is no token. */
const TOKEN_FORMAT = /^[A-Za-z0-9_-]{43}$/;

export function authContext(
  user: { id: string; name: string; agentHost?: string | null },
  project: { id: string; name: string },
  roles: string[],
): AuthContext {
  return {
    userId: user.id,
    userName: user.name,
    projectId: project.id,
    projectName: project.name,
    roles,
    isAdmin: roles.includes('admin'),
    isService: roles.includes('service'),
    agentHost: user.agentHost ?? null,
  };
}

/**
 * Tokens live in the database and every request is checked against it, so a
 * user disabled or deleted, a project disabled or a role assignment removed
 * ends the tokens concerned at once in every controller process (Keystone
 * revokes them). A token keeps the roles it was issued with only while the
 * user still holds every one of them on its project.
 */
export function createTokenService(
  store: Store,
  ttlSeconds: number,
  limits: { purgeIntervalMs?: number } = {},
): IssuingTokenService {
  const db = store.db;
  const purgeIntervalMs = limits.purgeIntervalMs ?? PURGE_INTERVAL_MS;
  let lastPurgeMs = 0;

  async function purgeExpired(): Promise<void> {
    const now = Date.now();
    if (now - lastPurgeMs < purgeIntervalMs) return;
    lastPurgeMs = now;
    await db.deleteFrom('tokens').where('expires_at', '<', new Date(now).toISOString()).execute();
  }

  async function lookup(token: string): Promise<TokenRecord | null> {
    if (!TOKEN_FORMAT.test(token)) return null;
    const id = hashToken(token);
    const row = await db.selectFrom('tokens')
      .innerJoin('users', 'users.id', 'tokens.user_id')
      .innerJoin('projects', 'projects.id', 'tokens.project_id')
      .select([
        'tokens.user_id', 'tokens.project_id', 'tokens.roles', 'tokens.issued_at', 'tokens.expires_at',
        'users.name as user_name', 'users.enabled as user_enabled', 'users.agent_host as agent_host',
        'projects.name as project_name', 'projects.enabled as project_enabled',
      ])
      .where('tokens.id', '=', id)
      .executeTakeFirst();
    if (!row || Date.parse(row.expires_at) <= Date.now()) return null;
    if (!row.user_enabled || !row.project_enabled) return null;
    const roles = JSON.parse(row.roles) as string[];
    const held = new Set((await db.selectFrom('role_assignments').select('role')
      .where('user_id', '=', row.user_id).where('project_id', '=', row.project_id).execute()).map((r) => r.role));
    if (roles.length === 0 || !roles.every((r) => held.has(r))) return null;
    return {
      auth: authContext({ id: row.user_id, name: row.user_name, agentHost: row.agent_host }, { id: row.project_id, name: row.project_name }, roles),
      issuedAt: row.issued_at,
      expiresAt: row.expires_at,
    };
  }

  return {
    async verify(token) {
      return (await lookup(token))?.auth ?? null;
    },
    lookup,
    async issue({ userId, projectId }) {
      const user = await db.selectFrom('users').select(['id', 'name', 'agent_host']).where('id', '=', userId).executeTakeFirstOrThrow();
      const project = await db.selectFrom('projects').select(['id', 'name']).where('id', '=', projectId)
        .executeTakeFirstOrThrow();
      const roles = (await db.selectFrom('role_assignments').select('role')
        .where('user_id', '=', userId).where('project_id', '=', projectId).orderBy('role').execute())
        .map((r) => r.role);
      const token = randomBytes(32).toString('base64url');
      const issued = new Date();
      const record: TokenRecord = {
        auth: authContext({ id: user.id, name: user.name, agentHost: user.agent_host }, project, roles),
        issuedAt: issued.toISOString(),
        expiresAt: new Date(issued.getTime() + ttlSeconds * 1000).toISOString(),
      };
      await db.insertInto('tokens').values({
        id: hashToken(token), user_id: userId, project_id: projectId, roles: JSON.stringify(roles),
        issued_at: record.issuedAt, expires_at: record.expiresAt,
      }).execute();
      await purgeExpired();
      return { token, ...record };
    },
    async revoke(token) {
      if (!TOKEN_FORMAT.test(token)) return false;
      const res = await db.deleteFrom('tokens').where('id', '=', hashToken(token)).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },
  };
}
