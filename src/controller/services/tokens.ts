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
  /** How many verified tokens are held in memory (bounded). */
  cachedCount(): number;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Verification runs on every API request; a bounded cache keeps it off the database. */
const CACHE_LIMIT = 10_000;
/** A cached entry is re-read after this long even if the token lives longer (bounds staleness of disabled users). */
const CACHE_MAX_AGE_MS = 5 * 60_000;
/** Expired rows are deleted at most this often, piggybacked on issuing. */
const PURGE_INTERVAL_MS = 10 * 60_000;

export function authContext(
  user: { id: string; name: string },
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
  };
}

export function createTokenService(
  store: Store,
  ttlSeconds: number,
  limits: { cacheLimit?: number; purgeIntervalMs?: number } = {},
): IssuingTokenService {
  const db = store.db;
  const cacheLimit = limits.cacheLimit ?? CACHE_LIMIT;
  const purgeIntervalMs = limits.purgeIntervalMs ?? PURGE_INTERVAL_MS;
  const cache = new Map<string, { record: TokenRecord; expiresMs: number; cachedUntilMs: number }>();
  let lastPurgeMs = 0;

  function remember(id: string, record: TokenRecord): void {
    if (cache.size >= cacheLimit) {
      // Map keeps insertion order: drop the oldest entry.
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    const now = Date.now();
    const expiresMs = Date.parse(record.expiresAt);
    cache.set(id, { record, expiresMs, cachedUntilMs: Math.min(expiresMs, now + CACHE_MAX_AGE_MS) });
  }

  async function purgeExpired(): Promise<void> {
    const now = Date.now();
    if (now - lastPurgeMs < purgeIntervalMs) return;
    lastPurgeMs = now;
    await db.deleteFrom('tokens').where('expires_at', '<', new Date(now).toISOString()).execute();
  }

  async function lookup(token: string): Promise<TokenRecord | null> {
    if (!token) return null;
    const id = hashToken(token);
    const now = Date.now();
    const hit = cache.get(id);
    if (hit) {
      if (hit.expiresMs <= now) {
        cache.delete(id);
        return null;
      }
      if (hit.cachedUntilMs > now) return hit.record;
      cache.delete(id);
    }
    const row = await db.selectFrom('tokens')
      .innerJoin('users', 'users.id', 'tokens.user_id')
      .innerJoin('projects', 'projects.id', 'tokens.project_id')
      .select([
        'tokens.user_id', 'tokens.project_id', 'tokens.roles', 'tokens.issued_at', 'tokens.expires_at',
        'users.name as user_name', 'users.enabled as user_enabled',
        'projects.name as project_name', 'projects.enabled as project_enabled',
      ])
      .where('tokens.id', '=', id)
      .executeTakeFirst();
    if (!row || Date.parse(row.expires_at) <= now) return null;
    if (!row.user_enabled || !row.project_enabled) return null;
    const record: TokenRecord = {
      auth: authContext({ id: row.user_id, name: row.user_name }, { id: row.project_id, name: row.project_name },
        JSON.parse(row.roles) as string[]),
      issuedAt: row.issued_at,
      expiresAt: row.expires_at,
    };
    remember(id, record);
    return record;
  }

  return {
    cachedCount: () => cache.size,
    async verify(token) {
      return (await lookup(token))?.auth ?? null;
    },
    lookup,
    async issue({ userId, projectId }) {
      const user = await db.selectFrom('users').select(['id', 'name']).where('id', '=', userId).executeTakeFirstOrThrow();
      const project = await db.selectFrom('projects').select(['id', 'name']).where('id', '=', projectId)
        .executeTakeFirstOrThrow();
      const roles = (await db.selectFrom('role_assignments').select('role')
        .where('user_id', '=', userId).where('project_id', '=', projectId).orderBy('role').execute())
        .map((r) => r.role);
      const token = randomBytes(32).toString('base64url');
      const issued = new Date();
      const record: TokenRecord = {
        auth: authContext(user, project, roles),
        issuedAt: issued.toISOString(),
        expiresAt: new Date(issued.getTime() + ttlSeconds * 1000).toISOString(),
      };
      const id = hashToken(token);
      await db.insertInto('tokens').values({
        id, user_id: userId, project_id: projectId, roles: JSON.stringify(roles),
        issued_at: record.issuedAt, expires_at: record.expiresAt,
      }).execute();
      remember(id, record);
      await purgeExpired();
      return { token, ...record };
    },
    async revoke(token) {
      const id = hashToken(token);
      cache.delete(id);
      const res = await db.deleteFrom('tokens').where('id', '=', id).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },
  };
}
