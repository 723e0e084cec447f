/**
 * `{"evacuate": {...}}` (admin only). Body by microversion, as Nova:
 *   2.1–2.13  host?, onSharedStorage (required), adminPass?   → 200 {"adminPass"}
 *   2.14–2.28 host?, adminPass?                               → 200, empty body
 *   2.29–2.67 host?, force?, adminPass?                       → 200, empty body
 *   2.68+     host?, adminPass?                               → 200, empty body
 * Refused with 400 while the server's compute service is up.
 */
import { randomBytes } from 'node:crypto';
import { BadRequest, NotFound } from '../../../../domain/errors.js';
import { COMPUTE_BINARY, listServices } from '../../../../storage/repositories/hosts.js';
import { startEvacuate } from '../../../lifecycle/evacuate.js';
import { requireAdmin } from '../../auth.js';
import { atLeast } from '../microversion.js';
import { requesterOf } from './powerActions.js';
import { registerServerAction } from './registry.js';
import { ADMIN_PASS, NULLABLE_HOST, bodyOf } from '../schemaTypes.js';

/** Nova's evacuate schemas, all microversions: onSharedStorage until 2.13, force 2.29–2.67. */
const EVACUATE_ARGS = bodyOf({ host: NULLABLE_HOST, onSharedStorage: { type: 'boolean' }, adminPass: ADMIN_PASS, force: { type: 'boolean' } });

function generatedPassword(): string {
  return randomBytes(9).toString('base64').replace(/[+/=]/g, 'x');
}

registerServerAction('evacuate', EVACUATE_ARGS, async (ctx, req, instance, args) => {
  requireAdmin(req, 'os_compute_api:os-evacuate');
  if (args === null || typeof args !== 'object' || Array.isArray(args)) {
    throw new BadRequest(`Invalid input for field/attribute evacuate. Value: ${JSON.stringify(args)}. ${JSON.stringify(args)} is not of type 'object'`);
  }
  const body = args as Record<string, unknown>;
  const allowed = ['host', 'adminPass'];
  if (!atLeast(req, '2.14')) allowed.push('onSharedStorage');
  if (atLeast(req, '2.29') && !atLeast(req, '2.68')) allowed.push('force');
  for (const k of Object.keys(body)) {
    if (!allowed.includes(k)) throw new BadRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
  }
  if (!atLeast(req, '2.14') && typeof body.onSharedStorage !== 'boolean') {
    throw new BadRequest(`Invalid input for field/attribute evacuate. Value: ${JSON.stringify(body)}. 'onSharedStorage' is a required property`);
  }
  if (body.adminPass !== undefined && body.adminPass !== null && typeof body.adminPass !== 'string') {
    throw new BadRequest('Invalid input for field/attribute adminPass.');
  }
  if (body.force !== undefined && typeof body.force !== 'boolean') throw new BadRequest('Invalid input for field/attribute force.');
  let host: string | null = null;
  if (body.host !== undefined && body.host !== null) {
    if (typeof body.host !== 'string' || body.host === '') throw new BadRequest('Invalid input for field/attribute host.');
    const [svc] = await listServices(ctx.store.reader, { host: body.host, binary: COMPUTE_BINARY });
    if (!svc) throw new NotFound(`Compute host ${body.host} not found.`);
    if (body.host === instance.host) throw new BadRequest("The target host can't be the same one.");
    host = body.host;
  }
  await startEvacuate(ctx, requesterOf(req), instance, { host, force: host !== null && body.force === true });
  if (atLeast(req, '2.14')) return { status: 200 };
  return { status: 200, body: { adminPass: typeof body.adminPass === 'string' ? body.adminPass : generatedPassword() } };
});
