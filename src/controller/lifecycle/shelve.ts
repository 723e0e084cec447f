/**
 * Shelve, and shelveOffload (Nova's shelved_offload_time: 0, the default,
 * offloads at once; -1 never; N > 0 after N seconds, by the periodic job
 * offloadExpiredShelved in shelveOffload.ts).
 *
 *   from vm_state                       | task_state          | guest desired | on the report
 *   active, stopped, paused, suspended  | shelving            | absent (0)    | vm_state shelved_offloaded, power 4,
 *                                       |                     |               | host/node none, claims freed, ports
 *                                       |                     |               | unbound keeping device_id, guest row gone
 *   active, stopped, paused, suspended  | shelving            | shutoff (≠ 0) | vm_state shelved, power 4; host, claims
 *                                       |                     |               | and bindings kept
 *   shelved                             | shelving_offloading | absent        | as the first row: shelved_offloaded
 *
 * If the host fails, the task state goes back to none and the guest is asked
 * for the state matching the unchanged vm_state.
 */
import { PowerState } from '../../domain/guest/spec.js';
import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import { releaseConsumer } from '../../storage/repositories/claims.js';
import { deleteGuest } from '../../storage/repositories/guests.js';
import type { InstanceRecord } from '../../storage/repositories/instances.js';
import type { ControllerContext } from '../context.js';
import { unbindInstancePorts } from './portBindings.js';
import type { Operation } from '../operations/transitions.js';
import { guestTransitionOperation, startGuestTransition, type Requester, type TransitionOutcome } from './power.js';

export const SHELVABLE_VM_STATES = [VmState.ACTIVE, VmState.STOPPED, VmState.PAUSED, VmState.SUSPENDED] as const;

export async function startShelve(ctx: ControllerContext, who: Requester, instance: InstanceRecord): Promise<void> {
  await startGuestTransition(ctx, who, instance, {
    action: 'shelve', fromVmStates: SHELVABLE_VM_STATES, taskState: TaskState.SHELVING,
    desired: ctx.config.shelved_offload_time === 0 ? 'absent' : 'shutoff',
  });
}

/** What offloading does on success: the host's devices and resources freed, ports unbound (device_id kept). */
const OFFLOADED: Omit<TransitionOutcome, 'action' | 'taskState'> = {
  reached: 'absent', vmState: VmState.SHELVED_OFFLOADED, powerState: PowerState.SHUTDOWN, changes: { host: null, node: null },
  async alsoOnSuccess(ctx, trx, instance, guest) {
    await releaseConsumer(trx, instance.uuid);
    await unbindInstancePorts(trx, instance, { keepDeviceId: true });
    await deleteGuest(trx, instance.uuid, guest.host);
  },
};

const SHELVED_OFFLOADED_AT_ONCE = guestTransitionOperation({ action: 'shelve', taskState: TaskState.SHELVING, ...OFFLOADED });
const SHELVED_ON_HOST = guestTransitionOperation({
  action: 'shelve', taskState: TaskState.SHELVING, reached: 'shutoff', vmState: VmState.SHELVED, powerState: PowerState.SHUTDOWN,
});

/** Both outcomes of shelving: the guest gone (offloaded at once) or shut off on its host (shelved). */
export const SHELVE_OPERATION: Operation = {
  action: 'shelve',
  transitions: [
    SHELVED_OFFLOADED_AT_ONCE.transitions[0]!,
    SHELVED_ON_HOST.transitions[0]!,
    SHELVED_OFFLOADED_AT_ONCE.transitions[1]!,
  ],
  onDeadline: SHELVED_OFFLOADED_AT_ONCE.onDeadline,
};

export const SHELVE_OFFLOAD_OPERATION = guestTransitionOperation({
  action: 'shelveOffload', taskState: TaskState.SHELVING_OFFLOADING, ...OFFLOADED,
});
