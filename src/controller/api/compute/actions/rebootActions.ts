/**
 * `{"reboot": {"type": "SOFT"|"HARD"}}`, `{"pause": null}`, `{"unpause": null}`
 * (the SDK sends pause/unpause with no microversion header). All answer 202
 * and finish through the agent (lifecycle/reboot.ts, lifecycle/pause.ts).
 */
import { BadRequest } from '../../../../domain/errors.js';
import { rebootTypeOf } from '../../../../domain/lifecycle/reboot.js';
import { startPause, startUnpause } from '../../../lifecycle/pause.js';
import { startReboot } from '../../../lifecycle/reboot.js';
import { requesterOf } from './powerActions.js';
import { registerServerAction } from './registry.js';
import { NO_ARGS, bodyOf } from '../schemaTypes.js';

/** Nova's reboot schema. */
const REBOOT_ARGS = bodyOf({ type: { type: 'string', enum: ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft'] } }, ['type']);

registerServerAction('reboot', REBOOT_ARGS, async (ctx, req, instance, args) => {
  const value = JSON.stringify(args);
  if (!args || typeof args !== 'object' || Array.isArray(args)) {
    throw new BadRequest(`Invalid input for field/attribute reboot. Value: ${value}. ${value} is not of type 'object'`);
  }
  const body = args as Record<string, unknown>;
  const extra = Object.keys(body).filter((k) => k !== 'type');
  if (extra.length > 0) {
    throw new BadRequest(`Invalid input for field/attribute reboot. Value: ${value}. Additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} ${extra.length > 1 ? 'were' : 'was'} unexpected)`);
  }
  if (!('type' in body)) throw new BadRequest(`Invalid input for field/attribute reboot. Value: ${value}. 'type' is a required property`);
  const type = rebootTypeOf(body.type);
  if (!type) {
    throw new BadRequest(`Invalid input for field/attribute type. Value: ${JSON.stringify(body.type)}. ${JSON.stringify(body.type)} is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']`);
  }
  await startReboot(ctx, requesterOf(req), instance, type);
  return { status: 202 };
});

registerServerAction('pause', NO_ARGS, async (ctx, req, instance) => {
  await startPause(ctx, requesterOf(req), instance);
  return { status: 202 };
});

registerServerAction('unpause', NO_ARGS, async (ctx, req, instance) => {
  await startUnpause(ctx, requesterOf(req), instance);
  return { status: 202 };
});
