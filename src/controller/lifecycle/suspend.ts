/**
 * Suspend and resume. Claims stay on the host throughout; the driver unplugs
 * the vDPA interfaces before saving the guest's memory and plugs them back on
 * resume (behaviour.md "Lifecycle operations").
 *
 *   action  | from vm_state | task_state | guest desired | on the report        | power
 *   suspend | active        | suspending | suspended     | vm_state suspended   | 7 (suspended)
 *   resume  | suspended     | resuming   | running       | vm_state active      | 1 (running)
 *
 * On a server with vDPA ports both are refused with 400 (nothing changes)
 * while any compute service is older than 63 (vdpaGates.ts).
 */
import { BadRequest } from '../../domain/errors.js';
import { PowerState } from '../../domain/guest/spec.js';
import { vdpaOperationGate, type VdpaGatedOperation } from '../../domain/lifecycle/vdpaGates.js';
import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import { minimumComputeVersion } from '../../storage/repositories/hosts.js';
import type { InstanceRecord } from '../../storage/repositories/instances.js';
import { getPorts } from '../../storage/repositories/ports.js';
import type { ControllerContext } from '../context.js';
import { guestTransitionOperation, requireState, startGuestTransition, type Requester } from './power.js';
import type { Session } from '../../storage/unit.js';

export async function hasVdpaPorts(db: Session, instance: InstanceRecord): Promise<boolean> {
  if (instance.portIds.length === 0) return false;
  return (await getPorts(db, instance.portIds)).some((p) => p.vnicType === 'vdpa');
}

/** Throws the 400 of a rolling upgrade that is not far enough for `op` on this server. */
export async function checkVdpaGate(ctx: ControllerContext, op: VdpaGatedOperation, instance: InstanceRecord): Promise<void> {
  const db = ctx.store.reader;
  if (!(await hasVdpaPorts(db, instance))) return;
  const refusal = vdpaOperationGate(op, true, await minimumComputeVersion(db), instance.uuid);
  if (refusal) throw new BadRequest(refusal);
}

export async function startSuspend(ctx: ControllerContext, who: Requester, instance: InstanceRecord): Promise<void> {
  // Nova checks the vDPA gate before the state.
  await checkVdpaGate(ctx, 'suspend', instance);
  requireState('suspend', instance, [VmState.ACTIVE]);
  await startGuestTransition(ctx, who, instance, {
    action: 'suspend', fromVmStates: [VmState.ACTIVE], taskState: TaskState.SUSPENDING, desired: 'suspended',
  });
}

export async function startResume(ctx: ControllerContext, who: Requester, instance: InstanceRecord): Promise<void> {
  await checkVdpaGate(ctx, 'resume', instance);
  requireState('resume', instance, [VmState.SUSPENDED]);
  await startGuestTransition(ctx, who, instance, {
    action: 'resume', fromVmStates: [VmState.SUSPENDED], taskState: TaskState.RESUMING, desired: 'running',
  });
}

export const SUSPEND_OPERATION = guestTransitionOperation({
  action: 'suspend', taskState: TaskState.SUSPENDING, reached: 'suspended', vmState: VmState.SUSPENDED, powerState: PowerState.SUSPENDED,
});
export const RESUME_OPERATION = guestTransitionOperation({
  action: 'resume', taskState: TaskState.RESUMING, reached: 'running', vmState: VmState.ACTIVE, powerState: PowerState.RUNNING,
});
