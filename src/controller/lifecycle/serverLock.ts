/**
 * `server lock` / `server unlock`: a record on the server, no task state and
 * no host involved (Nova's `lock` and `unlock` in nova/compute/api.py). The
 * rules (who the lock is recorded as, when a lock changes nothing, who may
 * lift it) are in domain/lifecycle/lock.ts; the guard every action route
 * uses is api/compute/lockGuard.ts.
 */
import { lockChanges, lockerKind } from '../../domain/lifecycle/lock.js';
import { finishAction, startAction } from '../../storage/repositories/actions.js';
import { updateInstance, type InstanceRecord } from '../../storage/repositories/instances.js';
import type { ControllerContext } from '../context.js';
import type { Requester } from './power.js';

export async function lockServer(ctx: ControllerContext, who: Requester, instance: InstanceRecord, reason: string | null): Promise<void> {
  if (!lockChanges(instance, who.projectId)) return;
  await ctx.store.transact(async (trx) => {
    await startAction(trx, { instanceUuid: instance.uuid, action: 'lock', ...who });
    await updateInstance(trx, instance.uuid, { lock: { lockedBy: lockerKind(instance, who.projectId), reason } });
    await finishAction(trx, instance.uuid, 'lock', 'Success');
  });
}

export async function unlockServer(ctx: ControllerContext, who: Requester, instance: InstanceRecord): Promise<void> {
  await ctx.store.transact(async (trx) => {
    await startAction(trx, { instanceUuid: instance.uuid, action: 'unlock', ...who });
    await updateInstance(trx, instance.uuid, { lock: null });
    await finishAction(trx, instance.uuid, 'unlock', 'Success');
  });
}
