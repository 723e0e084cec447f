/**
 * `{"lock": null}` (2.73+: `{"lock": {"locked_reason": "…"}}`) and
 * `{"unlock": null}`, both 202 (lifecycle/serverLock.ts). Any caller who may
 * see the server may lock it; lifting a lock of the other kind (an owner's
 * by an admin of another project, an admin's by the owner) needs
 * `os_compute_api:os-lock-server:unlock:unlock_override`, admin only.
 */
import { BadRequest } from '../../../../domain/errors.js';
import { isExpectedLocker } from '../../../../domain/lifecycle/lock.js';
import { lockServer, unlockServer } from '../../../lifecycle/serverLock.js';
import { requireAdmin } from '../../auth.js';
import { atLeast } from '../microversion.js';
import { requesterOf } from './powerActions.js';
import { registerServerAction } from './registry.js';
import { NO_ARGS, bodyOf } from '../schemaTypes.js';

/** Nova's lock_v2_73 (below 2.73 the value is not read). */
const LOCK_ARGS = { ...bodyOf({ locked_reason: { type: 'string', minLength: 1, maxLength: 255 } }), type: ['object', 'null'] } as const;

/** Nova's lock_v2_73 schema; below 2.73 the body is not looked at. */
function lockReasonOf(args: unknown): string | null {
  if (args === null || args === undefined) return null;
  const value = JSON.stringify(args);
  if (typeof args !== 'object' || Array.isArray(args)) {
    throw new BadRequest(`Invalid input for field/attribute lock. Value: ${value}. ${value} is not of type 'object', 'null'`);
  }
  const body = args as Record<string, unknown>;
  const extra = Object.keys(body).filter((k) => k !== 'locked_reason');
  if (extra.length > 0) {
    throw new BadRequest(`Invalid input for field/attribute lock. Value: ${value}. Additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} ${extra.length > 1 ? 'were' : 'was'} unexpected)`);
  }
  const reason = body.locked_reason;
  if (reason === undefined) return null;
  if (typeof reason !== 'string') {
    throw new BadRequest(`Invalid input for field/attribute locked_reason. Value: ${JSON.stringify(reason)}. ${JSON.stringify(reason)} is not of type 'string'`);
  }
  if (reason.length < 1 || [...reason].length > 255) {
    throw new BadRequest(`Invalid input for field/attribute locked_reason. Value: ${reason}. '${reason}' is too ${reason.length < 1 ? 'short' : 'long'}`);
  }
  return reason;
}

registerServerAction('lock', LOCK_ARGS, async (ctx, req, instance, args) => {
  const reason = atLeast(req, '2.73') ? lockReasonOf(args) : null;
  await lockServer(ctx, requesterOf(req), instance, reason);
  return { status: 202 };
});

registerServerAction('unlock', NO_ARGS, async (ctx, req, instance) => {
  if (!isExpectedLocker(instance, req.auth.projectId)) requireAdmin(req, 'os_compute_api:os-lock-server:unlock:unlock_override');
  await unlockServer(ctx, requesterOf(req), instance);
  return { status: 202 };
});
