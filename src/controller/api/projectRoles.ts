import type { FastifyRequest } from 'fastify';
import { Forbidden } from '../../domain/errors.js';

/**
 * OpenStack's project rules (Nova's PROJECT_READER_OR_ADMIN and
 * PROJECT_MEMBER_OR_ADMIN, Neutron's and Glance's ADMIN_OR_PROJECT_READER /
 * MEMBER): reading needs the reader or member role on the token's project,
 * changing anything needs member; admin has both. A token that holds neither
 * (an agent credential, which has only `service`) is refused with 403 before
 * anything is looked up (docs/policy.md). `anyRole` lists the routes whose
 * default policy asks no role at all (Nova's '@' rules, key pairs, which
 * belong to the user, and Glance's grants for the agents' image cache), as
 * "METHOD /route/:template".
 */
export function requireProjectRole(req: FastifyRequest, anyRole: ReadonlySet<string>, refusal: (action: string) => string): void {
  const { roles, isAdmin } = req.auth;
  if (isAdmin || roles.includes('member')) return;
  const reading = req.method === 'GET' || req.method === 'HEAD';
  if (reading && roles.includes('reader')) return;
  const action = `${req.method === 'HEAD' ? 'GET' : req.method} ${req.routeOptions.url ?? req.url.split('?')[0]}`;
  if (anyRole.has(action)) return;
  throw new Forbidden(refusal(action));
}

/** The compute agents' image cache reads images and their data with the service role (docs/policy.md). */
export const IMAGE_SERVICE_READS: ReadonlySet<string> = new Set(['GET /image/v2/images/:id', 'GET /image/v2/images/:id/file']);
