/**
 * Shelve, offloaded at once (Nova with shelved_offload_time = 0).
 *
 *   from vm_state                       | task_state | guest desired | on the report (guest absent)
 *   active, stopped, paused, suspended  | shelving   | absent        | vm_state shelved_offloaded, power 4,
 *                                       |            |               | host/node none, claims freed, ports
 *                                       |            |               | unbound keeping device_id, guest row gone
 *
 * If the host fails to remove the guest, the task state goes back to none and
 * the guest is asked for the state matching the unchanged vm_state.
 */
import { PowerState } from '../../domain/guest/spec.js';
import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import { releaseConsumer } from '../../storage/repositories/claims.js';
import { deleteGuest } from '../../storage/repositories/guests.js';
import type { InstanceRecord } from '../../storage/repositories/instances.js';
import type { ControllerContext } from '../context.js';
import { unbindInstancePorts } from './portBindings.js';
import { guestTransitionOperation, startGuestTransition, type Requester } from './power.js';

export const SHELVABLE_VM_STATES = [VmState.ACTIVE, VmState.STOPPED, VmState.PAUSED, VmState.SUSPENDED] as const;

export async function startShelve(ctx: ControllerContext, who: Requester, instance: InstanceRecord): Promise<void> {
  await startGuestTransition(ctx, who, instance, {
    action: 'shelve', fromVmStates: SHELVABLE_VM_STATES, taskState: TaskState.SHELVING, desired: 'absent',
  });
}

export const SHELVE_OPERATION = guestTransitionOperation({
  action: 'shelve', taskState: TaskState.SHELVING, reached: 'absent',
  vmState: VmState.SHELVED_OFFLOADED, powerState: PowerState.SHUTDOWN, changes: { host: null, node: null },
  async alsoOnSuccess(ctx, trx, instance, guest) {
    await releaseConsumer(trx, instance.uuid);
    await unbindInstancePorts(trx, instance, { keepDeviceId: true });
    await deleteGuest(trx, instance.uuid, guest.host);
  },
});
