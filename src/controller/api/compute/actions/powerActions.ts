/**
 * Power and suspend actions: `{"os-stop": null}`, `{"os-start": null}`,
 * `{"suspend": null}`, `{"resume": null}` (the SDK sends the last two with
 * no microversion header). All answer 202 and finish through the agent.
 */
import type { FastifyRequest } from 'fastify';
import { startStart, startStop, type Requester } from '../../../lifecycle/power.js';
import { startResume, startSuspend } from '../../../lifecycle/suspend.js';
import { registerServerAction } from './registry.js';
import { NO_ARGS } from '../schemaTypes.js';

export function requesterOf(req: FastifyRequest): Requester {
  return { requestId: String(req.id), projectId: req.auth.projectId, userId: req.auth.userId };
}

registerServerAction('os-stop', NO_ARGS, async (ctx, req, instance) => {
  await startStop(ctx, requesterOf(req), instance);
  return { status: 202 };
});

registerServerAction('os-start', NO_ARGS, async (ctx, req, instance) => {
  await startStart(ctx, requesterOf(req), instance);
  return { status: 202 };
});

registerServerAction('suspend', NO_ARGS, async (ctx, req, instance) => {
  await startSuspend(ctx, requesterOf(req), instance);
  return { status: 202 };
});

registerServerAction('resume', NO_ARGS, async (ctx, req, instance) => {
  await startResume(ctx, requesterOf(req), instance);
  return { status: 202 };
});
