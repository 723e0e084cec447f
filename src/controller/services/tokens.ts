import { createHash, randomBytes } from 'node:crypto';
import type { Storage } from '../../storage/db.js';
import { deleteToken, deleteTokensExpiredBy, insertToken, tokenById, tokenEpoch, tokenSubject } from '../../storage/repositories/tokens.js';
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

/** Tokens whose validation is remembered; the least recently filled go first. */
const CACHED_TOKENS = 10_000;
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
 *
 * What a token stands for is cached with the revocation counter read before
 * it (storage's token_epoch, moved by every revoking transaction): a request
 * costs one primary-key read instead of the token's joins, and the cache is
 * good exactly while the counter has not moved, in any process.
 */
export function createTokenService(
  store: Storage,
  ttlSeconds: number,
  limits: { purgeIntervalMs?: number } = {},
): IssuingTokenService {
  const purgeIntervalMs = limits.purgeIntervalMs ?? PURGE_INTERVAL_MS;
  let lastPurgeMs = 0;

  async function purgeExpired(): Promise<void> {
    const now = Date.now();
    if (now - lastPurgeMs < purgeIntervalMs) return;
    lastPurgeMs = now;
    await store.transact((u) => deleteTokensExpiredBy(u, new Date(now).toISOString()));
  }

  const cache = new Map<string, { epoch: number; record: TokenRecord }>();

  async function lookup(token: string): Promise<TokenRecord | null> {
    if (!TOKEN_FORMAT.test(token)) return null;
    // Read first: a revocation committing after this read moves the counter past it, so the entry filled below is dropped.
    const epoch = await tokenEpoch(store.reader);
    const cached = cache.get(token);
    if (cached && cached.epoch === epoch && Date.parse(cached.record.expiresAt) > Date.now()) return cached.record;
    if (cached) cache.delete(token);
    const record = await lookupStored(token);
    if (record) {
      if (cache.size >= CACHED_TOKENS) cache.delete(cache.keys().next().value!);
      cache.set(token, { epoch, record });
    }
    return record;
  }

  async function lookupStored(token: string): Promise<TokenRecord | null> {
    const id = hashToken(token);
    const row = await tokenById(store.reader, id);
    if (!row || Date.parse(row.expiresAt) <= Date.now()) return null;
    if (!row.userEnabled || !row.projectEnabled) return null;
    if (row.roles.length === 0 || !row.roles.every((r) => row.heldRoles.includes(r))) return null;
    return {
      auth: authContext({ id: row.userId, name: row.userName, agentHost: row.agentHost }, { id: row.projectId, name: row.projectName }, row.roles),
      issuedAt: row.issuedAt,
      expiresAt: row.expiresAt,
    };
  }

  return {
    async verify(token) {
      return (await lookup(token))?.auth ?? null;
    },
    lookup,
    async issue({ userId, projectId }) {
      const { user, project, roles } = await tokenSubject(store.reader, userId, projectId);
      const token = randomBytes(32).toString('base64url');
      const issued = new Date();
      const record: TokenRecord = {
        auth: authContext({ id: user.id, name: user.name, agentHost: user.agentHost }, project, roles),
        issuedAt: issued.toISOString(),
        expiresAt: new Date(issued.getTime() + ttlSeconds * 1000).toISOString(),
      };
      const id = hashToken(token);
      await store.transact((u) => insertToken(u, { id, userId, projectId, roles, issuedAt: record.issuedAt, expiresAt: record.expiresAt }));
      await purgeExpired();
      return { token, ...record };
    },
    async revoke(token) {
      if (!TOKEN_FORMAT.test(token)) return false;
      cache.delete(token);
      return store.transact((u) => deleteToken(u, hashToken(token)));
    },
  };
}
