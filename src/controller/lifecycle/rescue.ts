/**
 * Rescue and unrescue (Nova's). The server stays on its host with its claims
 * and port bindings: the rescue guest boots the rescue image's disk, keeps
 * the server's own disk as its second one, and keeps every NIC, the same
 * vDPA devices included; unrescue starts the original definition again.
 *
 *   action   | from vm_state         | task_state | guest desired (same host)         | on the report
 *   rescue   | active, stopped, error| rescuing   | running, spec.rescue = the image  | vm_state rescued (RESCUE), power 1,
 *            |                       |            |                                   |   new launched_at
 *   unrescue | rescued               | unrescuing | running, the spec without rescue  | vm_state active, power 1
 *
 * A failure on the host (or the deadline) ends in ERROR with Nova's fault
 * (`Instance <uuid> cannot be rescued: Driver Error: <e>` for rescue) and
 * the host asked for the definition the server had before, in its old
 * state; claims and bindings are untouched throughout.
 */
import { PowerState, type GuestSpec } from '../../domain/guest/spec.js';
import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import type { DesiredGuestState } from '../../protocol/agentProtocol.js';
import { finishAction, startAction } from '../../storage/repositories/actions.js';
import { guestSpecOf, setDesiredGuest } from '../../storage/repositories/guests.js';
import { getInstance, updateInstance, type InstanceRecord } from '../../storage/repositories/instances.js';
import { nowIso } from '../../storage/repositories/json.js';
import { setPortStatus } from '../../storage/repositories/ports.js';
import type { ControllerContext } from '../context.js';
import { answered, ownGuest, reached, type Operation, type ServerSnapshot } from '../operations/transitions.js';
import { currentGuest, invalidState, requireState, type Requester } from './power.js';
import { settledSpec } from './rebuild.js';

export const RESCUABLE_VM_STATES = [VmState.ACTIVE, VmState.STOPPED, VmState.ERROR] as const;

interface RescueStep {
  action: 'rescue' | 'unrescue';
  fromVmStates: readonly string[];
  taskState: string;
}

const RESCUE: RescueStep = { action: 'rescue', fromVmStates: RESCUABLE_VM_STATES, taskState: TaskState.RESCUING };
const UNRESCUE: RescueStep = { action: 'unrescue', fromVmStates: [VmState.RESCUED], taskState: TaskState.UNRESCUING };

/** Task state set, action recorded and the host told, in one transaction (nothing changes when it is refused). */
async function start(ctx: ControllerContext, who: Requester, instance: InstanceRecord, step: RescueStep, spec: (current: GuestSpec) => GuestSpec): Promise<void> {
  requireState(step.action, instance, step.fromVmStates);
  const guest = await currentGuest(ctx.store.reader, instance).catch(() => { throw invalidState(step.action, instance); });
  await ctx.store.transact(async (trx) => {
    const moved = await updateInstance(trx, instance.uuid, { taskState: step.taskState }, { taskState: null, vmState: instance.vmState });
    if (!moved) throw invalidState(step.action, (await getInstance(trx, instance.uuid)) ?? instance);
    await startAction(trx, { instanceUuid: instance.uuid, action: step.action, ...who });
    await setDesiredGuest(trx, instance.uuid, guest.host, 'running', spec(settledSpec(guestSpecOf(guest))));
  });
  ctx.signals.notify(guest.host);
}

/** `rescueImageRef`: the rescue image (Nova's default: the server's own image). */
export async function startRescue(ctx: ControllerContext, who: Requester, instance: InstanceRecord, rescueImageRef: string): Promise<void> {
  await start(ctx, who, instance, RESCUE, (spec) => ({ ...spec, rescue: { imageRef: rescueImageRef } }));
}

export async function startUnrescue(ctx: ControllerContext, who: Requester, instance: InstanceRecord): Promise<void> {
  await start(ctx, who, instance, UNRESCUE, ({ rescue: _rescue, ...spec }) => spec);
}

async function done(ctx: ControllerContext, step: RescueStep, s: ServerSnapshot): Promise<void> {
  const { instance } = s;
  await ctx.store.transact(async (trx) => {
    const moved = await updateInstance(trx, instance.uuid, {
      vmState: step === RESCUE ? VmState.RESCUED : VmState.ACTIVE, taskState: null, powerState: PowerState.RUNNING,
      ...(step === RESCUE ? { launchedAt: nowIso() } : {}),
    }, { taskState: step.taskState });
    if (!moved) return;
    await setPortStatus(trx, instance.portIds, 'ACTIVE');
    await finishAction(trx, instance.uuid, step.action, 'Success');
  });
}

/** The definition and state the server had before the step (asked for again after a failure). */
function before(step: RescueStep, s: ServerSnapshot, spec: GuestSpec): { desired: DesiredGuestState; spec: GuestSpec } {
  if (step === UNRESCUE) return { desired: 'running', spec };
  const { rescue: _rescue, ...plain } = spec;
  return { desired: s.instance.vmState === VmState.STOPPED ? 'shutoff' : 'running', spec: plain };
}

async function failed(ctx: ControllerContext, step: RescueStep, s: ServerSnapshot, error: string): Promise<void> {
  const { instance } = s;
  const guest = ownGuest(s);
  const message = step === RESCUE ? `Instance ${instance.uuid} cannot be rescued: Driver Error: ${error}` : error;
  ctx.log.warn({ server: instance.uuid, action: step.action, error: message }, `${step.action} failed`);
  await ctx.store.transact(async (trx) => {
    const moved = await updateInstance(trx, instance.uuid, {
      vmState: VmState.ERROR, taskState: null, fault: { code: 500, message, created: nowIso() },
    }, { taskState: step.taskState });
    if (!moved) return;
    await finishAction(trx, instance.uuid, step.action, 'Error', message);
    if (guest) {
      const back = before(step, s, guestSpecOf(guest));
      await setDesiredGuest(trx, instance.uuid, guest.host, back.desired, back.spec);
    }
  });
  if (guest) ctx.signals.notify(guest.host);
}

function operationOf(step: RescueStep): Operation {
  return {
    action: step.action,
    transitions: [
      { state: step.taskState, on: 'guest running on its host', when: (s) => reached(ownGuest(s), 'running'), step: (ctx, s) => done(ctx, step, s) },
      {
        state: step.taskState, on: 'guest failed, or did not reach running', when: (s) => answered(ownGuest(s)),
        step: (ctx, s) => {
          const g = ownGuest(s)!;
          return failed(ctx, step, s, g.error ?? `guest reached ${g.observed_state ?? 'nothing'} instead of running`);
        },
      },
    ],
    onDeadline: (ctx, s, why) => failed(ctx, step, s, why),
  };
}

export const RESCUE_OPERATION = operationOf(RESCUE);
export const UNRESCUE_OPERATION = operationOf(UNRESCUE);
