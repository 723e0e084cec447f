import type { FastifyRequest } from 'fastify';
import { Forbidden, Unauthorized } from '../../domain/errors.js';
import type { AuthContext, ControllerContext } from '../context.js';

export type { AuthContext };

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthContext;
  }
}

export function tokenHash(token: string, hasher: (s: string) => string): string {
  return hasher(token);
}

/** Every API request but version discovery and token issue carries a valid, unexpired token. */
export async function authenticate(ctx: ControllerContext, req: FastifyRequest): Promise<void> {
  const header = req.headers['x-auth-token'];
  const token = Array.isArray(header) ? header[0] : header;
  if (!token) throw new Unauthorized();
  const auth = await ctx.tokens.verify(token);
  if (!auth) throw new Unauthorized('The request you have made requires authentication.');
  req.auth = auth;
}

export function requireAdmin(req: FastifyRequest, action = 'this action'): void {
  if (!req.auth?.isAdmin) throw new Forbidden(`Policy doesn't allow ${action} to be performed.`);
}
