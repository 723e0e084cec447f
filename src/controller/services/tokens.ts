import { createHash, randomBytes } from 'node:crypto';
import type { Storage } from '../../storage/db.js';
import { deleteToken, deleteTokensExpiredBy, insertToken, tokenById, tokenSubject } from '../../storage/repositories/tokens.js';
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
  store: Storage,
  ttlSeconds: number,
  limits: { cacheLimit?: number; purgeIntervalMs?: number } = {},
): IssuingTokenService {
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
    await store.transact((u) => deleteTokensExpiredBy(u, new Date(now).toISOString()));
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
    const row = await tokenById(store.reader, id);
    if (!row || Date.parse(row.expiresAt) <= now) return null;
    if (!row.userEnabled || !row.projectEnabled) return null;
    const record: TokenRecord = {
      auth: authContext({ id: row.userId, name: row.userName }, { id: row.projectId, name: row.projectName }, row.roles),
      issuedAt: row.issuedAt,
      expiresAt: row.expiresAt,
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
      const { user, project, roles } = await tokenSubject(store.reader, userId, projectId);
      const token = randomBytes(32).toString('base64url');
      const issued = new Date();
      const record: TokenRecord = {
        auth: authContext(user, project, roles),
        issuedAt: issued.toISOString(),
        expiresAt: new Date(issued.getTime() + ttlSeconds * 1000).toISOString(),
      };
      const id = hashToken(token);
      await store.transact((u) => insertToken(u, { id, userId, projectId, roles, issuedAt: record.issuedAt, expiresAt: record.expiresAt }));
      remember(id, record);
      await purgeExpired();
      return { token, ...record };
    },
    async revoke(token) {
      const id = hashToken(token);
      cache.delete(id);
      return store.transact((u) => deleteToken(u, id));
    },
  };
}
