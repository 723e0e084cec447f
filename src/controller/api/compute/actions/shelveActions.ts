/**
 * `{"shelve": null}` and `{"unshelve": null}` (2.77+: `{"unshelve":
 * {"availability_zone": …}}`, 2.91+ admin: `{"unshelve": {"host": …}}`).
 * Both answer 202; shelve offloads at once (SHELVED_OFFLOADED).
 */
import { BadRequest } from '../../../../domain/errors.js';
import { COMPUTE_BINARY, listServices } from '../../../../storage/repositories/hosts.js';
import { startShelve } from '../../../lifecycle/shelve.js';
import { startUnshelve } from '../../../lifecycle/unshelve.js';
import { requireAdmin } from '../../auth.js';
import { atLeast } from '../microversion.js';
import { requesterOf } from './powerActions.js';
import { registerServerAction } from './registry.js';
import { NO_ARGS, NULLABLE_HOST, NULLABLE_NAME, bodyOf } from '../schemaTypes.js';

/** Nova's unshelve schemas: null, availability_zone from 2.77, host (admin) from 2.91. */
const UNSHELVE_ARGS = { ...bodyOf({ availability_zone: NULLABLE_NAME, host: NULLABLE_HOST }), type: ['object', 'null'] } as const;

registerServerAction('shelve', NO_ARGS, async (ctx, req, instance) => {
  await startShelve(ctx, requesterOf(req), instance);
  return { status: 202 };
});

registerServerAction('unshelve', UNSHELVE_ARGS, async (ctx, req, instance, args) => {
  let host: string | null = null;
  if (args !== null && args !== undefined) {
    if (!atLeast(req, '2.77') || typeof args !== 'object' || Array.isArray(args)) {
      throw new BadRequest(`Invalid input for field/attribute unshelve. Value: ${JSON.stringify(args)}. ${JSON.stringify(args)} is not of type 'null'`);
    }
    const body = args as Record<string, unknown>;
    const allowed = atLeast(req, '2.91') ? ['availability_zone', 'host'] : ['availability_zone'];
    for (const k of Object.keys(body)) {
      if (!allowed.includes(k)) throw new BadRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
    }
    const zone = body.availability_zone;
    if (zone !== undefined && zone !== null) {
      if (typeof zone !== 'string') throw new BadRequest('Invalid input for field/attribute availability_zone.');
      const zones = new Set((await listServices(ctx.store.reader, { binary: COMPUTE_BINARY })).map((s) => s.zone));
      if (!zones.has(zone)) throw new BadRequest(`The requested availability zone is not available`);
    }
    if (body.host !== undefined && body.host !== null) {
      requireAdmin(req, 'os_compute_api:os-shelve:unshelve_to_host');
      if (typeof body.host !== 'string') throw new BadRequest('Invalid input for field/attribute host.');
      const [svc] = await listServices(ctx.store.reader, { host: body.host, binary: COMPUTE_BINARY });
      if (!svc) throw new BadRequest(`Compute host ${body.host} could not be found.`);
      host = body.host;
    }
  }
  await startUnshelve(ctx, requesterOf(req), instance, { host });
  return { status: 202 };
});
