/**
 * Pause and unpause. The guest's vCPUs stop (virDomainSuspend) and start
 * again; QEMU keeps running, so the vDPA devices stay plugged and every
 * claim and port binding stays as it is.
 *
 *   action  | from vm_state | task_state | guest desired | on the report     | power
 *   pause   | active        | pausing    | paused        | vm_state paused   | 3 (paused)
 *   unpause | paused        | unpausing  | running       | vm_state active   | 1 (running)
 *
 * The transition table is power.ts's guestTransitionOperation: a failure or
 * a deadline puts the task state back and asks the guest for the unchanged
 * vm_state's state again.
 */
import { PowerState } from '../../domain/guest/spec.js';
import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import { requireStateRule } from '../../domain/lifecycle/stateGuard.js';
import type { InstanceRecord } from '../../storage/repositories/instances.js';
import type { ControllerContext } from '../context.js';
import { guestTransitionOperation, startGuestTransition, type GuestTransition, type Requester } from './power.js';

const PAUSE: GuestTransition = { action: 'pause', fromVmStates: [VmState.ACTIVE], taskState: TaskState.PAUSING, desired: 'paused' };
const UNPAUSE: GuestTransition = { action: 'unpause', fromVmStates: [VmState.PAUSED], taskState: TaskState.UNPAUSING, desired: 'running' };

async function start(ctx: ControllerContext, who: Requester, instance: InstanceRecord, t: GuestTransition): Promise<void> {
  // Nova's check_instance_state: vm_state, then task_state none, then launched.
  requireStateRule(t.action, instance, { vmStates: t.fromVmStates, taskStates: [null] });
  await startGuestTransition(ctx, who, instance, t);
}

export function startPause(ctx: ControllerContext, who: Requester, instance: InstanceRecord): Promise<void> {
  return start(ctx, who, instance, PAUSE);
}

export function startUnpause(ctx: ControllerContext, who: Requester, instance: InstanceRecord): Promise<void> {
  return start(ctx, who, instance, UNPAUSE);
}

export const PAUSE_OPERATION = guestTransitionOperation({
  action: 'pause', taskState: TaskState.PAUSING, reached: 'paused', vmState: VmState.PAUSED, powerState: PowerState.PAUSED,
});
export const UNPAUSE_OPERATION = guestTransitionOperation({
  action: 'unpause', taskState: TaskState.UNPAUSING, reached: 'running', vmState: VmState.ACTIVE, powerState: PowerState.RUNNING,
});
