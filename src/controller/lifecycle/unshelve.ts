/**
 * Unshelve: scheduled again like a build (same or another host), claims and
 * binds on the chosen host, then waits for the guest.
 *
 *   from vm_state              | task_state  | step                                  | next
 *   shelved_offloaded/shelved  | unshelving  | scheduleAndClaim + bind + guest       | (status stays SHELVED_OFFLOADED)
 *   unshelving                 |             | agent reports the guest running       | active, power 1, ports ACTIVE
 *   unshelving                 |             | no valid host                         | shelved_offloaded, task none, fault
 *   unshelving                 |             | the guest fails on the host           | shelved_offloaded, host none, claims
 *                              |             |                                       | freed, ports unbound (device_id kept), fault
 *
 *   deadline: as a failure on the host (or, before placement, back to shelved_offloaded with the fault)
 *
 * A requested host (2.91 `host`) is kept in instance.requestedHost while the
 * decision is pending, so it survives until the placement runs.
 */
import { PowerState } from '../../domain/guest/spec.js';
import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import { finishAction, startAction } from '../../storage/repositories/actions.js';
import { releaseConsumer } from '../../storage/repositories/claims.js';
import { getGuest, guestSpecOf, setDesiredGuest } from '../../storage/repositories/guests.js';
import { Conflict } from '../../domain/errors.js';
import { getInstance, updateInstance, type InstanceRecord } from '../../storage/repositories/instances.js';
import { nowIso } from '../../storage/repositories/json.js';
import { setPortStatus } from '../../storage/repositories/ports.js';
import type { ControllerContext } from '../context.js';
import { NO_VALID_HOST, placeUnlessAborted, ScheduleAborted, scheduleAndClaim } from '../services/scheduler.js';
import { bindAndRunGuest, unbindInstancePorts } from './portBindings.js';
import { invalidState, requireState, type Requester } from './power.js';
import { answered, ownGuest, reached, type Operation, type ServerSnapshot } from '../operations/transitions.js';
import { serverQueueOf } from '../operations/serverQueue.js';
import { resourceRequestFor, zoneOf, groupOf } from './resources.js';
import { aggregateDirectoryOf } from '../services/aggregateDirectory.js';

export const UNSHELVABLE_VM_STATES = [VmState.SHELVED, VmState.SHELVED_OFFLOADED] as const;

/** Accepts the unshelve (task unshelving); the operation engine places the server. */
export async function startUnshelve(
  ctx: ControllerContext, who: Requester, instance: InstanceRecord, target: { host?: string | null } = {},
): Promise<void> {
  requireState('unshelve', instance, UNSHELVABLE_VM_STATES);
  if (target.host && instance.vmState === VmState.SHELVED) {
    throw new Conflict(`Specifying an availability zone or a host when unshelving server "${instance.uuid}" with status "${instance.vmState}" is not supported. The server status must be SHELVED_OFFLOADED.`);
  }
  // Shelved but not offloaded (shelved_offload_time ≠ 0): the guest is still defined on its host, powered off.
  const kept = instance.host ? await getGuest(ctx.store.reader, instance.uuid, instance.host) : undefined;
  await ctx.store.transact(async (trx) => {
    const moved = await updateInstance(trx, instance.uuid, { taskState: TaskState.UNSHELVING, requestedHost: target.host ?? null },
      { taskState: null, vmState: instance.vmState });
    if (!moved) throw invalidState('unshelve', (await getInstance(trx, instance.uuid)) ?? instance);
    await startAction(trx, { instanceUuid: instance.uuid, action: 'unshelve', ...who });
    if (kept) await setDesiredGuest(trx, instance.uuid, kept.host, 'running', guestSpecOf(kept));
  });
  if (kept) ctx.signals.notify(kept.host);
  serverQueueOf(ctx).enqueue(instance.uuid);
}

async function placeUnshelved(ctx: ControllerContext, instance: InstanceRecord): Promise<'wait' | void> {
  const uuid = instance.uuid;
  const request = resourceRequestFor(instance.flavor, instance.pciRequests,
    { ...zoneOf(instance), ...groupOf(instance), ...(instance.requestedHost ? { onlyHosts: [instance.requestedHost] } : {}) }, instance.imageProperties);
  const outcome = await placeUnlessAborted(ctx, () => scheduleAndClaim(ctx, request, { consumer: uuid, instanceUuid: uuid }, async (trx, host, claimed) => {
    const moved = await updateInstance(trx, uuid, { host, node: host, availabilityZone: aggregateDirectoryOf(ctx).zoneNameOf(host), requestedHost: null, fault: null },
      { taskState: TaskState.UNSHELVING });
    if (!moved) throw new ScheduleAborted('server left unshelving');
    await bindAndRunGuest(trx, instance, host, claimed);
  }));
  if (!outcome) return;
  if (outcome.placed) return 'wait';
  ctx.log.info({ server: uuid, reason: outcome.reason }, 'unshelve: no valid host');
  await ctx.store.transact(async (trx) => {
    const back = await updateInstance(trx, uuid, {
      taskState: null, requestedHost: null,
      fault: { code: 500, message: NO_VALID_HOST, details: outcome.reason, created: nowIso() },
    }, { taskState: TaskState.UNSHELVING });
    if (back) await finishAction(trx, uuid, 'unshelve', 'Error', NO_VALID_HOST);
  });
}

async function unshelved(ctx: ControllerContext, s: ServerSnapshot): Promise<void> {
  const { instance } = s;
  await ctx.store.transact(async (trx) => {
    const done = await updateInstance(trx, instance.uuid, {
      vmState: VmState.ACTIVE, taskState: null, powerState: PowerState.RUNNING,
    }, { taskState: TaskState.UNSHELVING });
    if (!done) return;
    await setPortStatus(trx, instance.portIds, 'ACTIVE');
    await finishAction(trx, instance.uuid, 'unshelve', 'Success');
  });
}

/** The guest failed on its host (or the step timed out): back to shelved_offloaded with everything released. */
async function unshelveFailed(ctx: ControllerContext, s: ServerSnapshot, message: string): Promise<void> {
  const { instance } = s;
  const guest = ownGuest(s);
  await ctx.store.transact(async (trx) => {
    const back = await updateInstance(trx, instance.uuid, {
      vmState: VmState.SHELVED_OFFLOADED, taskState: null, powerState: PowerState.SHUTDOWN, host: null, node: null,
      requestedHost: null, fault: { code: 500, message, created: nowIso() },
    }, { taskState: TaskState.UNSHELVING });
    if (!back) return;
    await releaseConsumer(trx, instance.uuid);
    if (instance.host) await unbindInstancePorts(trx, instance, { keepDeviceId: true });
    // The agent removes whatever it half-defined; the row goes once it reports.
    if (guest) await setDesiredGuest(trx, instance.uuid, guest.host, 'absent', guestSpecOf(guest));
    await finishAction(trx, instance.uuid, 'unshelve', 'Error', message);
  });
  if (guest) ctx.signals.notify(guest.host);
}

export const UNSHELVE_OPERATION: Operation = {
  action: 'unshelve',
  transitions: [
    { state: TaskState.UNSHELVING, on: 'not placed yet', when: (s) => !s.instance.host, step: (ctx, s) => placeUnshelved(ctx, s.instance) },
    { state: TaskState.UNSHELVING, on: 'guest running on its host', when: (s) => reached(ownGuest(s), 'running'), step: unshelved },
    {
      state: TaskState.UNSHELVING, on: 'guest failed, or did not reach running', when: (s) => answered(ownGuest(s)),
      step: (ctx, s) => {
        const g = ownGuest(s)!;
        return unshelveFailed(ctx, s, g.error ?? `guest reached ${g.observed_state ?? 'nothing'} instead of running`);
      },
    },
  ],
  onDeadline: (ctx, s, why) => unshelveFailed(ctx, s, why),
};
