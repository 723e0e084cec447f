/**
 * shelveOffload: a SHELVED server (shelved_offload_time ≠ 0 kept it on its
 * host) gives its host up: the guest is removed, the host's devices and
 * resources freed, its ports unbound keeping device_id, and it ends
 * SHELVED_OFFLOADED (shelve.ts SHELVE_OFFLOAD_OPERATION, task
 * shelving_offloading). Asked by an admin (`shelveOffload`), or by the
 * periodic job below once shelved_offload_time seconds have passed.
 */
import { VmState, TaskState } from '../../domain/lifecycle/serverStatus.js';
import { getInstance, type InstanceRecord } from '../../storage/repositories/instances.js';
import { isoAfter } from '../../storage/repositories/json.js';
import { shelvedSince } from '../../storage/repositories/shelved.js';
import type { ControllerContext } from '../context.js';
import { startGuestTransition, type Requester } from './power.js';

export async function startShelveOffload(ctx: ControllerContext, who: Requester, instance: InstanceRecord): Promise<void> {
  await startGuestTransition(ctx, who, instance, {
    action: 'shelveOffload', fromVmStates: [VmState.SHELVED], taskState: TaskState.SHELVING_OFFLOADING, desired: 'absent',
  });
}

/** The periodic offload (Nova's _poll_shelved_instances): servers shelved longer than shelved_offload_time. */
export async function offloadExpiredShelved(ctx: ControllerContext): Promise<void> {
  const seconds = ctx.config.shelved_offload_time;
  if (seconds <= 0) return;
  for (const uuid of await shelvedSince(ctx.store.reader, isoAfter(-seconds * 1000))) {
    const instance = await getInstance(ctx.store.reader, uuid);
    if (!instance) continue;
    const who: Requester = { requestId: `req-shelved-offload-${uuid}`, projectId: instance.projectId, userId: instance.userId };
    // Another operation may have started since the read: the conditional write refuses, nothing changes.
    await startShelveOffload(ctx, who, instance).catch((err) => ctx.log.info({ err, server: uuid }, 'periodic shelve offload skipped'));
  }
}
