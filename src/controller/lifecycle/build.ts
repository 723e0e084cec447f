import { PowerState } from '../../domain/guest/spec.js';
import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import { finishAction } from '../../storage/repositories/actions.js';
import { releaseConsumer } from '../../storage/repositories/claims.js';
import { setDesiredGuest, type GuestRow } from '../../storage/repositories/guests.js';
import { getInstance, updateInstance, updateInstanceOrFail, type InstanceRecord } from '../../storage/repositories/instances.js';
import { readPortsLater, setPortStatus, type PortRecord } from '../../storage/repositories/ports.js';
import { nowIso } from '../../storage/repositories/json.js';
import type { Kysely } from 'kysely';
import type { Database } from '../../storage/schema.js';
import type { ControllerContext } from '../context.js';
import { NO_VALID_HOST, placeUnlessAborted, ScheduleAborted, scheduleAndClaim } from '../services/scheduler.js';
import { bindAndRunGuest, unbindInstancePorts } from './portBindings.js';
import { resourceRequestFor } from './resources.js';

/**
 * Build: BUILD/scheduling → (claim, bind, guest recorded) → BUILD/spawning →
 * agent reports the guest running → ACTIVE. No host: ERROR with
 * "No valid host was found." and the ports released.
 */
export async function placeInstance(ctx: ControllerContext, uuid: string, created?: InstanceRecord): Promise<void> {
  const { db } = ctx.store;
  // The record createServer just committed needs no read back: the claim transaction's
  // updateInstance still requires the server to be in scheduling, so a server deleted meanwhile is not placed.
  const instance = created?.uuid === uuid ? created : await getInstance(db, uuid);
  if (!instance || instance.taskState !== TaskState.SCHEDULING) return;
  const request = resourceRequestFor(instance.flavor, instance.pciRequests);
  const outcome = await placeUnlessAborted(ctx, () => scheduleAndClaim<Promise<PortRecord[]>>(ctx, request, { consumer: uuid, instanceUuid: uuid }, async (trx, host, claimed, ports) => {
    await updateInstanceOrFail(trx, uuid, { host, node: host, taskState: TaskState.SPAWNING }, { taskState: TaskState.SCHEDULING },
      () => new ScheduleAborted('server left scheduling'));
    await bindAndRunGuest(trx, instance, host, claimed, await ports);
  }, (trx) => readPortsLater(trx, instance.portIds)));
  if (!outcome || outcome.placed) return;
  ctx.log.info({ server: uuid, reason: outcome.reason }, 'no valid host');
  await ctx.store.transact(async (trx) => {
    const failed = await updateInstance(trx, uuid, {
      vmState: VmState.ERROR, taskState: null,
      fault: { code: 500, message: NO_VALID_HOST, details: outcome.reason, created: nowIso() },
    }, { taskState: TaskState.SCHEDULING });
    if (!failed) return;
    await unbindInstancePorts(trx, instance);
    await finishAction(trx, uuid, 'create', 'Error', NO_VALID_HOST);
  });
}

/** The agent's answer to a build, in the transaction that records the report (reports.ts). */
export async function onBuildReportIn(
  ctx: ControllerContext, trx: Kysely<Database>, instance: InstanceRecord, guest: GuestRow,
): Promise<(() => void) | void> {
  const { dialect } = ctx.store;
  if (guest.observed_state === 'running') {
    // The caller read the server in this transaction (under its row lock on PostgreSQL) in spawning:
    // the expected state is a guard against a broken invariant, not a race.
    await updateInstanceOrFail(trx, instance.uuid, {
      vmState: VmState.ACTIVE, taskState: null, powerState: PowerState.RUNNING, launchedAt: nowIso(),
    }, { taskState: TaskState.SPAWNING }, () => new Error(`server ${instance.uuid} left spawning while its build report was recorded`));
    await setPortStatus(trx, instance.portIds, 'ACTIVE');
    await finishAction(trx, instance.uuid, 'create', 'Success');
    return;
  }
  if (guest.error) {
    const failed = await updateInstance(trx, instance.uuid, {
      vmState: VmState.ERROR, taskState: null, powerState: PowerState.NOSTATE,
      fault: { code: 500, message: guest.error, created: nowIso() },
    }, { taskState: TaskState.SPAWNING });
    if (failed) {
      await releaseConsumer(trx, dialect, instance.uuid);
      await unbindInstancePorts(trx, instance);
      // The agent removes whatever it half-defined.
      await setDesiredGuest(trx, instance.uuid, guest.host, 'absent', JSON.parse(guest.spec));
      await finishAction(trx, instance.uuid, 'create', 'Error', guest.error);
    }
    return () => ctx.signals.notify(guest.host);
  }
}
