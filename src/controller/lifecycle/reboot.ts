/**
 * Reboot, soft and hard (`{"reboot": {"type": "SOFT"|"HARD"}}`). Claims, port
 * bindings and the guest's devices stay as they are: a soft reboot restarts
 * the guest OS in its running QEMU, a hard one defines the guest again from
 * the spec its host already runs (the same vDPA chardevs) and starts it.
 * The API records `rebooting` / `rebooting_hard` (status REBOOT /
 * HARD_REBOOT); the host's part starts at `reboot_started[_hard]`, after which
 * a hard reboot can no longer overtake it (domain/lifecycle/reboot.ts).
 *
 * | task state              | observation                                 | step                                           |
 * |-------------------------|---------------------------------------------|------------------------------------------------|
 * | rebooting[_hard]        | the server has a guest on its host          | task reboot_started[_hard]; guest asked to run |
 * |                         |                                             | with the reboot (spec.reboot); wait            |
 * | rebooting[_hard]        | no guest on a host                          | task none, action error                        |
 * | reboot_started[_hard]   | guest running on its host (newest report)   | vm_state active, task none, power 1, action ok;|
 * |                         |                                             | guest spec written again without the reboot    |
 * | reboot_started[_hard]   | guest failed, or answered in another state  | task none, fault, action error; guest asked    |
 * |                         |                                             | for its vm_state's state again (no reboot)     |
 * | any of them             | deadline                                    | as a failure                                   |
 *
 * A failed reboot leaves the vm_state as it was (the guest is asked back into
 * it); Nova puts the server in ERROR when the guest is not running afterwards.
 */
import { PowerState } from '../../domain/guest/spec.js';
import { rebootTaskState, requireRebootable, type RebootType } from '../../domain/lifecycle/reboot.js';
import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import { invalidState } from '../../domain/lifecycle/invalidState.js';
import { finishAction, startAction } from '../../storage/repositories/actions.js';
import { guestSpecOf, setDesiredGuest } from '../../storage/repositories/guests.js';
import { getInstance, updateInstance, type InstanceRecord } from '../../storage/repositories/instances.js';
import type { ControllerContext } from '../context.js';
import { serverQueueOf } from '../operations/serverQueue.js';
import { ownGuest, type Operation, type ServerSnapshot, type Transition } from '../operations/transitions.js';
import { guestTransitionOperation, type Requester } from './power.js';

/** The action each task state a hard reboot may overtake belongs to: it is finished as superseded. */
const OVERTAKEN_ACTIONS: Record<string, string> = {
  [TaskState.REBOOTING]: 'reboot', [TaskState.REBOOT_PENDING]: 'reboot', [TaskState.REBOOT_STARTED]: 'reboot',
  [TaskState.REBOOTING_HARD]: 'reboot', [TaskState.RESUMING]: 'resume', [TaskState.UNPAUSING]: 'unpause',
  [TaskState.PAUSING]: 'pause', [TaskState.SUSPENDING]: 'suspend',
};

/** Records the reboot (task state, instance action) and queues the server; the host's part is a step. */
export async function startReboot(ctx: ControllerContext, who: Requester, instance: InstanceRecord, type: RebootType): Promise<void> {
  requireRebootable(instance, type);
  await ctx.store.transact(async (trx) => {
    const moved = await updateInstance(trx, instance.uuid, { taskState: rebootTaskState(type) }, { taskState: instance.taskState, vmState: instance.vmState });
    if (!moved) throw invalidState('reboot', (await getInstance(trx, instance.uuid)) ?? instance, 'task_state');
    const overtaken = instance.taskState ? OVERTAKEN_ACTIONS[instance.taskState] : undefined;
    if (overtaken) await finishAction(trx, instance.uuid, overtaken, 'Error', 'Superseded by a hard reboot.');
    await startAction(trx, { instanceUuid: instance.uuid, action: 'reboot', ...who });
  });
  serverQueueOf(ctx).enqueue(instance.uuid);
}

/** The action failed before the host was asked: the task state goes, the vm_state stays. */
async function rebootAbandoned(ctx: ControllerContext, s: ServerSnapshot, taskState: string, message: string): Promise<void> {
  await ctx.store.transact(async (trx) => {
    if (!(await updateInstance(trx, s.instance.uuid, { taskState: null }, { taskState }))) return;
    await finishAction(trx, s.instance.uuid, 'reboot', 'Error', message);
  });
}

function rebootOperation(type: RebootType): Operation {
  const requested = rebootTaskState(type);
  const started = type === 'HARD' ? TaskState.REBOOT_STARTED_HARD : TaskState.REBOOT_STARTED;
  const onHost = guestTransitionOperation({
    action: 'reboot', taskState: started, reached: 'running', vmState: VmState.ACTIVE, powerState: PowerState.RUNNING,
    // The settled guest's spec no longer asks for a reboot: an agent restarting later re-applies it as is.
    alsoOnSuccess: async (_ctx, trx, instance, guest) => {
      await setDesiredGuest(trx, instance.uuid, guest.host, 'running', guestSpecOf(guest));
    },
  });
  const handOver: Transition[] = [
    {
      state: requested, on: 'guest on its host', when: (s) => ownGuest(s) !== undefined,
      step: async (ctx, s) => {
        const guest = ownGuest(s)!;
        // One transaction, conditional on the task state: a delete or a hard reboot that came first wins.
        const written = await ctx.store.transact(async (trx) => {
          if (!(await updateInstance(trx, s.instance.uuid, { taskState: started }, { taskState: requested }))) return false;
          await setDesiredGuest(trx, s.instance.uuid, guest.host, 'running', { ...guestSpecOf(guest), reboot: { type } });
          return true;
        });
        if (!written) return;
        ctx.signals.notify(guest.host);
        return 'wait';
      },
    },
    {
      state: requested, on: 'no guest on a host', when: (s) => ownGuest(s) === undefined,
      step: (ctx, s) => rebootAbandoned(ctx, s, requested, `Instance ${s.instance.uuid} has no guest on a compute host.`),
    },
  ];
  return {
    action: 'reboot',
    transitions: [...handOver, ...onHost.transitions],
    onDeadline: (ctx, s, why) => (s.instance.taskState === requested ? rebootAbandoned(ctx, s, requested, why) : onHost.onDeadline(ctx, s, why)),
  };
}

export const SOFT_REBOOT_OPERATION = rebootOperation('SOFT');
export const HARD_REBOOT_OPERATION = rebootOperation('HARD');
