/**
 * Cold migrate, resize, confirmResize and revertResize
 * (`POST /servers/{id}/action`); the work is in lifecycle/coldMove.ts.
 */
import type { FastifyRequest } from 'fastify';
import { BadRequest } from '../../../../domain/errors.js';
import { flavorSnapshot } from '../../../../storage/repositories/lookups.js';
import type { InstanceRecord } from '../../../../storage/repositories/instances.js';
import type { ControllerContext } from '../../../context.js';
import { confirmResize, revertResize, startColdMove, type ColdMoveKind } from '../../../lifecycle/coldMove.js';
import { requireAdmin } from '../../auth.js';
import { atLeast } from '../microversion.js';
import { registerServerAction } from './registry.js';
import { DISK_CONFIG, NO_ARGS, NULLABLE_HOST, bodyOf } from '../schemaTypes.js';

/** Nova's migrate_server.migrate (host from 2.56) and servers.resize schemas. */
const MIGRATE_ARGS = { ...bodyOf({ host: NULLABLE_HOST }), type: ['object', 'null'] } as const;
const RESIZE_ARGS = bodyOf({ flavorRef: { type: ['string', 'integer'], minLength: 1, maxLength: 255 }, 'OS-DCF:diskConfig': DISK_CONFIG }, ['flavorRef']);

async function begin(
  ctx: ControllerContext, req: FastifyRequest, instance: InstanceRecord,
  move: Parameters<typeof startColdMove>[4] & { kind: ColdMoveKind },
): Promise<void> {
  await startColdMove(ctx, req.auth, req.id, instance, move);
}

registerServerAction('migrate', MIGRATE_ARGS, async (ctx, req, instance, args) => {
  requireAdmin(req, 'os_compute_api:os-migrate-server:migrate');
  if (args !== null && args !== undefined && (typeof args !== 'object' || Array.isArray(args))) {
    throw new BadRequest("Invalid input for field/attribute migrate. Value: must be null or an object.");
  }
  const body = (args ?? {}) as Record<string, unknown>;
  const extra = Object.keys(body).filter((k) => k !== 'host');
  if (extra.length > 0 || (body.host !== undefined && !atLeast(req, '2.56'))) {
    throw new BadRequest(`Invalid input for field/attribute migrate. Additional properties are not allowed (${Object.keys(body).join(', ')} was unexpected)`);
  }
  if (body.host !== undefined && body.host !== null && (typeof body.host !== 'string' || body.host === '')) {
    throw new BadRequest('Invalid input for field/attribute host.');
  }
  const host = typeof body.host === 'string' ? body.host : undefined;
  if (host !== undefined && host === instance.host) {
    throw new BadRequest("The target host can't be the same one.");
  }
  await begin(ctx, req, instance, { kind: 'migrate', ...(host ? { host } : {}) });
  return { status: 202 };
});

registerServerAction('resize', RESIZE_ARGS, async (ctx, req, instance, args) => {
  if (!args || typeof args !== 'object' || Array.isArray(args)) {
    throw new BadRequest("Invalid input for field/attribute resize. Value: must be an object with 'flavorRef'.");
  }
  const ref = (args as Record<string, unknown>).flavorRef;
  if ((typeof ref !== 'string' && typeof ref !== 'number') || String(ref) === '') {
    throw new BadRequest("Invalid input for field/attribute resize. Value: 'flavorRef' is a required property");
  }
  const flavor = await flavorSnapshot(ctx.store.reader, String(ref));
  if (!flavor) throw new BadRequest('Unable to locate requested flavor.');
  await begin(ctx, req, instance, { kind: 'resize', flavor });
  return { status: 202 };
});

registerServerAction('confirmResize', NO_ARGS, async (ctx, req, instance) => {
  await confirmResize(ctx, req.auth, req.id, instance);
  return { status: 204 };
});

registerServerAction('revertResize', NO_ARGS, async (ctx, req, instance) => {
  await revertResize(ctx, req.auth, req.id, instance);
  return { status: 202 };
});
