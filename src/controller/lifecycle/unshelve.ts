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
 * A requested host (2.91 `host`) is kept in instance.requestedHost while the
 * decision is pending, so it survives until the placement runs.
 */
import { PowerState } from '../../domain/guest/spec.js';
import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import { finishAction, startAction } from '../../storage/repositories/actions.js';
import { releaseConsumer } from '../../storage/repositories/claims.js';
import { setDesiredGuest, type GuestRow } from '../../storage/repositories/guests.js';
import { getInstance, instancesInTaskState, updateInstance, type InstanceRecord } from '../../storage/repositories/instances.js';
import { nowIso } from '../../storage/repositories/json.js';
import { setPortStatus } from '../../storage/repositories/ports.js';
import type { ControllerContext } from '../context.js';
import { NO_VALID_HOST, placeUnlessAborted, ScheduleAborted, scheduleAndClaim } from '../services/scheduler.js';
import { bindAndRunGuest, unbindInstancePorts } from './portBindings.js';
import { answersCurrent, invalidState, requireState, specOf, type Requester } from './power.js';
import { registerReportHandler } from './reports.js';
import { resourceRequestFor } from './resources.js';

export const UNSHELVABLE_VM_STATES = [VmState.SHELVED, VmState.SHELVED_OFFLOADED] as const;

/** Accepts the unshelve (task unshelving) and places the server in the background. */
export async function startUnshelve(
  ctx: ControllerContext, who: Requester, instance: InstanceRecord, target: { host?: string | null } = {},
): Promise<void> {
  requireState('unshelve', instance, UNSHELVABLE_VM_STATES);
  const { db } = ctx.store;
  await ctx.store.transact(async (trx) => {
    const moved = await updateInstance(trx, instance.uuid, { taskState: TaskState.UNSHELVING, requestedHost: target.host ?? null },
      { taskState: null, vmState: instance.vmState });
    if (!moved) throw invalidState('unshelve', (await getInstance(trx, instance.uuid)) ?? instance);
    await startAction(trx, { instanceUuid: instance.uuid, action: 'unshelve', ...who });
  });
  void placeUnshelved(ctx, instance.uuid).catch((err) => ctx.log.error({ err, server: instance.uuid }, 'unshelve placement failed'));
}

export async function placeUnshelved(ctx: ControllerContext, uuid: string): Promise<void> {
  const { db } = ctx.store;
  const instance = await getInstance(db, uuid);
  if (!instance || instance.taskState !== TaskState.UNSHELVING || instance.host) return;
  const request = resourceRequestFor(instance.flavor, instance.pciRequests,
    instance.requestedHost ? { onlyHosts: [instance.requestedHost] } : {});
  const outcome = await placeUnlessAborted(ctx, () => scheduleAndClaim(ctx, request, { consumer: uuid, instanceUuid: uuid }, async (trx, host, claimed) => {
    const moved = await updateInstance(trx, uuid, { host, node: host, requestedHost: null, fault: null },
      { taskState: TaskState.UNSHELVING });
    if (!moved) throw new ScheduleAborted('server left unshelving');
    await bindAndRunGuest(trx, instance, host, claimed);
  }));
  if (!outcome || outcome.placed) return;
  ctx.log.info({ server: uuid, reason: outcome.reason }, 'unshelve: no valid host');
  await ctx.store.transact(async (trx) => {
    const back = await updateInstance(trx, uuid, {
      taskState: null, requestedHost: null,
      fault: { code: 500, message: NO_VALID_HOST, details: outcome.reason, created: nowIso() },
    }, { taskState: TaskState.UNSHELVING });
    if (back) await finishAction(trx, uuid, 'unshelve', 'Error', NO_VALID_HOST);
  });
}

async function onUnshelveReport(ctx: ControllerContext, instance: InstanceRecord, guest: GuestRow): Promise<void> {
  if (guest.host !== instance.host || !answersCurrent(guest)) return;
  const { db, dialect } = ctx.store;
  if (!guest.error && guest.observed_state === 'running') {
    await ctx.store.transact(async (trx) => {
      const done = await updateInstance(trx, instance.uuid, {
        vmState: VmState.ACTIVE, taskState: null, powerState: PowerState.RUNNING,
      }, { taskState: TaskState.UNSHELVING });
      if (!done) return;
      await setPortStatus(trx, instance.portIds, 'ACTIVE');
      await finishAction(trx, instance.uuid, 'unshelve', 'Success');
    });
    return;
  }
  const message = guest.error ?? `guest reached ${guest.observed_state ?? 'nothing'} instead of running`;
  await ctx.store.transact(async (trx) => {
    const back = await updateInstance(trx, instance.uuid, {
      vmState: VmState.SHELVED_OFFLOADED, taskState: null, powerState: PowerState.SHUTDOWN, host: null, node: null,
      fault: { code: 500, message, created: nowIso() },
    }, { taskState: TaskState.UNSHELVING });
    if (!back) return;
    await releaseConsumer(trx, dialect, instance.uuid);
    await unbindInstancePorts(trx, instance, { keepDeviceId: true });
    // The agent removes whatever it half-defined; the row goes once it reports.
    await setDesiredGuest(trx, instance.uuid, guest.host, 'absent', specOf(guest));
    await finishAction(trx, instance.uuid, 'unshelve', 'Error', message);
  });
  ctx.signals.notify(guest.host);
}

registerReportHandler(TaskState.UNSHELVING, onUnshelveReport);

/** After a controller restart: unshelves accepted but not yet placed are placed now (for recovery.ts). */
export async function resumeInterruptedUnshelves(ctx: ControllerContext): Promise<void> {
  for (const instance of await instancesInTaskState(ctx.store.db, TaskState.UNSHELVING)) {
    if (instance.host) continue; // already handed to a host; its agent reports
    await placeUnshelved(ctx, instance.uuid).catch((err) => ctx.log.error({ err, server: instance.uuid }, 'unshelve placement failed'));
  }
}
