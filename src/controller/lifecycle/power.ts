/**
 * Power (stop/start) and the guest-state transitions suspend/resume share.
 *
 *   action  | from vm_state | task_state    | guest desired | on the report          | power
 *   stop    | active, error | powering-off  | shutoff       | vm_state stopped       | 4 (shutdown)
 *   start   | stopped       | powering-on   | running       | vm_state active        | 1 (running)
 *   (suspend.ts: suspend active→suspended 7, resume suspended→active 1)
 *
 * A transition keeps the server's host and claims. A failed one puts the task
 * state back to none, records the error on the instance action and asks the
 * agent for the state that matches the unchanged vm_state again.
 */
import { Conflict } from '../../domain/errors.js';
import { invalidState } from '../../domain/lifecycle/invalidState.js';
import { PowerState } from '../../domain/guest/spec.js';
import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import type { DesiredGuestState } from '../../protocol/agentProtocol.js';
import { finishAction, startAction } from '../../storage/repositories/actions.js';
import { getGuest, setDesiredGuest, type GuestRow, guestSpecOf } from '../../storage/repositories/guests.js';
import { getInstance, updateInstance, type InstanceChanges, type InstanceRecord } from '../../storage/repositories/instances.js';
import type { ControllerContext } from '../context.js';
import { nowIso } from '../../storage/repositories/json.js';
import { answered, ownGuest, reached, type Operation, type ServerSnapshot } from '../operations/transitions.js';
import type { Unit, Session } from '../../storage/unit.js';

/** Who asked, for the instance action record (os-instance-actions). */
export interface Requester {
  requestId: string;
  projectId: string;
  userId: string;
}

/** Kept here too: other lifecycle modules import it from this file. */
export { invalidState };

/** Refuses (409, nothing changed) unless the server is idle in one of `vmStates`. */
export function requireState(action: string, instance: InstanceRecord, vmStates: readonly string[]): void {
  if (instance.taskState !== null || !vmStates.includes(instance.vmState)) throw invalidState(action, instance);
}

/** The guest desired state that matches a settled vm_state (used to undo a failed transition). */
export function desiredForVmState(vmState: string): DesiredGuestState {
  switch (vmState) {
    case VmState.SUSPENDED: return 'suspended';
    case VmState.STOPPED: return 'shutoff';
    case VmState.SHELVED: return 'shutoff';
    case VmState.PAUSED: return 'paused';
    default: return 'running';
  }
}

/** The spec of the server's guest on its host (what the agent already runs). */
export async function currentGuest(db: Session, instance: InstanceRecord): Promise<GuestRow> {
  const guest = instance.host ? await getGuest(db, instance.uuid, instance.host) : undefined;
  if (!guest) throw new Conflict(`Instance ${instance.uuid} has no guest on a compute host.`);
  return guest;
}

/** A report answers the current desired state only when it carries the newest generation. */
export function answersCurrent(guest: GuestRow): boolean {
  return guest.observed_generation === guest.generation;
}

export interface GuestTransition {
  action: string;
  fromVmStates: readonly string[];
  taskState: string;
  desired: DesiredGuestState;
}

/**
 * Starts a transition: task state set (only if the server is still idle in the
 * state the caller checked), action recorded, the agent told. Throws Conflict
 * and changes nothing when another operation got there first.
 */
export async function startGuestTransition(
  ctx: ControllerContext, who: Requester, instance: InstanceRecord, t: GuestTransition,
): Promise<void> {
  requireState(t.action, instance, t.fromVmStates);
  const db = ctx.store.reader;
  const guest = await currentGuest(db, instance);
  await ctx.store.transact(async (trx) => {
    const moved = await updateInstance(trx, instance.uuid, { taskState: t.taskState }, { taskState: null, vmState: instance.vmState });
    if (!moved) throw invalidState(t.action, (await getInstance(trx, instance.uuid)) ?? instance);
    await startAction(trx, { instanceUuid: instance.uuid, action: t.action, ...who });
    await setDesiredGuest(trx, instance.uuid, guest.host, t.desired, guestSpecOf(guest));
  });
  ctx.signals.notify(guest.host);
}

export interface TransitionOutcome {
  action: string;
  taskState: string;
  reached: DesiredGuestState;
  vmState: string;
  powerState: number;
  /** More instance changes on success (e.g. shelve's host null). */
  changes?: InstanceChanges;
  /** Extra writes in the same transaction (claims, ports, the guest row). */
  alsoOnSuccess?: (ctx: ControllerContext, trx: Unit, instance: InstanceRecord, guest: GuestRow) => Promise<void>;
}

/** The guest reached the transition's state: the server settles in its new vm_state. */
async function transitionDone(ctx: ControllerContext, o: TransitionOutcome, s: ServerSnapshot): Promise<void> {
  const { instance } = s;
  const guest = ownGuest(s)!;
  await ctx.store.transact(async (trx) => {
    const done = await updateInstance(trx, instance.uuid, {
      ...o.changes, vmState: o.vmState, taskState: null, powerState: o.powerState,
    }, { taskState: o.taskState });
    if (!done) return;
    await o.alsoOnSuccess?.(ctx, trx, instance, guest);
    await finishAction(trx, instance.uuid, o.action, 'Success');
  });
}

/** The transition failed (or timed out): task state back to none, the guest asked for the unchanged vm_state's state. */
async function transitionFailed(ctx: ControllerContext, o: TransitionOutcome, s: ServerSnapshot, message: string): Promise<void> {
  const { instance } = s;
  const guest = ownGuest(s);
  ctx.log.warn({ server: instance.uuid, action: o.action, error: message }, 'guest transition failed');
  await ctx.store.transact(async (trx) => {
    const undone = await updateInstance(trx, instance.uuid, { taskState: null, fault: { code: 500, message, created: nowIso() } }, { taskState: o.taskState });
    if (!undone) return;
    await finishAction(trx, instance.uuid, o.action, 'Error', message);
    if (guest) await setDesiredGuest(trx, instance.uuid, guest.host, desiredForVmState(instance.vmState), guestSpecOf(guest));
  });
  if (guest) ctx.signals.notify(guest.host);
}

/**
 * The operation of a guest-state transition:
 *
 * | task state   | observation                                   | step                                      |
 * |--------------|-----------------------------------------------|-------------------------------------------|
 * | o.taskState  | guest on the server's host reached o.reached  | vm_state o.vmState, task none, action ok  |
 * | o.taskState  | guest failed, or answered in another state    | task none, fault, action error, guest     |
 * |              |                                               | asked for the old vm_state's state again  |
 * | o.taskState  | deadline                                      | as a failure                              |
 */
export function guestTransitionOperation(o: TransitionOutcome): Operation {
  return {
    action: o.action,
    transitions: [
      {
        state: o.taskState, on: `guest ${o.reached} on its host`, when: (s) => reached(ownGuest(s), o.reached),
        step: (ctx, s) => transitionDone(ctx, o, s),
      },
      {
        state: o.taskState, on: `guest failed, or did not reach ${o.reached}`, when: (s) => answered(ownGuest(s)),
        step: (ctx, s) => {
          const g = ownGuest(s)!;
          return transitionFailed(ctx, o, s, g.error ?? `guest reached ${g.observed_state ?? 'nothing'} instead of ${o.reached}`);
        },
      },
    ],
    onDeadline: (ctx, s, why) => transitionFailed(ctx, o, s, why),
  };
}

const STOP: GuestTransition = {
  action: 'stop', fromVmStates: [VmState.ACTIVE, VmState.ERROR], taskState: TaskState.POWERING_OFF, desired: 'shutoff',
};
const START: GuestTransition = {
  action: 'start', fromVmStates: [VmState.STOPPED], taskState: TaskState.POWERING_ON, desired: 'running',
};

export async function startStop(ctx: ControllerContext, who: Requester, instance: InstanceRecord): Promise<void> {
  // A server in ERROR that never reached a host has no guest to stop.
  if (instance.vmState === VmState.ERROR && !instance.host) throw invalidState(STOP.action, instance);
  await startGuestTransition(ctx, who, instance, STOP);
}

export async function startStart(ctx: ControllerContext, who: Requester, instance: InstanceRecord): Promise<void> {
  await startGuestTransition(ctx, who, instance, START);
}

export const STOP_OPERATION = guestTransitionOperation({
  action: 'stop', taskState: TaskState.POWERING_OFF, reached: 'shutoff', vmState: VmState.STOPPED, powerState: PowerState.SHUTDOWN,
});
export const START_OPERATION = guestTransitionOperation({
  action: 'start', taskState: TaskState.POWERING_ON, reached: 'running', vmState: VmState.ACTIVE, powerState: PowerState.RUNNING,
});
