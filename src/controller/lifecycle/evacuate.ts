/**
 * Evacuate: rebuild a server on another host while its own host's compute
 * service is down (forced down, or its heartbeats stopped).
 *
 *   step                                   | instance                         | migration (type evacuation)
 *   API accepts (source service down)      | task rebuild_spawning (REBUILD)  | accepted
 *   destination claimed (one transaction:  | host = dest                      | pre-migrating, dest set
 *     source claims → migration uuid, dest |                                  |
 *     claims under the instance, ports     |                                  |
 *     bound to dest devices, dest guest    |                                  |
 *     running, source guest absent)        |                                  |
 *   dest guest running                     | active (stopped: then shut off), | done
 *                                          | task none                        |
 *   no valid host                          | error, task none, fault          | error
 *   dest guest fails                       | error, task none, fault          | failed
 *   source service back, its agent reports | –                                | completed; source claims freed,
 *     the old guest absent                 |                                  | source guest row gone
 *
 * The source keeps its claims (held by the migration) until it is back: a
 * fenced host's agent is handed no work (agentLink.ts), so the old guest is
 * only destroyed once the operator sets the service up or the agent
 * re-registers after an outage.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { BadRequest, ClaimConflict } from '../../domain/errors.js';
import { PowerState } from '../../domain/guest/spec.js';
import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import type { GuestReport } from '../../protocol/agentProtocol.js';
import { finishAction, startAction } from '../../storage/repositories/actions.js';
import { claimOnHost, releaseConsumer, transferConsumer, type ClaimedDevice } from '../../storage/repositories/claims.js';
import { deleteGuest, getGuest, setDesiredGuest, type GuestRow } from '../../storage/repositories/guests.js';
import { COMPUTE_BINARY, listServices, serviceIsUp } from '../../storage/repositories/hosts.js';
import { getInstance, instancesInTaskState, updateInstance, type InstanceRecord } from '../../storage/repositories/instances.js';
import { nowIso } from '../../storage/repositories/json.js';
import { insertMigration, listMigrations, setMigrationStatus, type MigrationRow } from '../../storage/repositories/migrations.js';
import { setPortStatus } from '../../storage/repositories/ports.js';
import type { Database } from '../../storage/schema.js';
import type { ControllerContext } from '../context.js';
import { buildGuestSpec } from '../services/guestSpecs.js';
import { NO_VALID_HOST, placeUnlessAborted, ScheduleAborted, scheduleAndClaim, type ScheduleOutcome } from '../services/scheduler.js';
import { bindInstancePorts, devicesByPort } from './portBindings.js';
import { answersCurrent, invalidState, requireState, specOf, type Requester } from './power.js';
import { registerReportHandler } from './reports.js';
import { resourceRequestFor } from './resources.js';

export const EVACUABLE_VM_STATES = [VmState.ACTIVE, VmState.STOPPED, VmState.ERROR] as const;

/** Evacuation migrations whose source may still hold claims. */
const SOURCE_PENDING = ['accepted', 'pre-migrating', 'done', 'failed'];
/** Those that become `completed` once the source has cleaned up. */
const COMPLETABLE = ['accepted', 'pre-migrating', 'done'];

export interface EvacuateTarget {
  /** The requested destination (2.29+ `host`), or null to let the scheduler choose. */
  host: string | null;
  /** Skip the scheduler's filters for the requested host (2.29–2.67 `force`). */
  force: boolean;
}

/** Nova's ComputeServiceInUse refusal, or null when the server's host may be evacuated. */
export async function sourceStillInUse(ctx: ControllerContext, host: string): Promise<string | null> {
  const [svc] = await listServices(ctx.store.db, { host, binary: COMPUTE_BINARY });
  if (svc && serviceIsUp(svc, ctx.config.service_down_time)) return `Compute service of ${host} is still in use.`;
  return null;
}

/** Accepts an evacuation (nothing changes when it is refused) and places the server in the background. */
export async function startEvacuate(
  ctx: ControllerContext, who: Requester, instance: InstanceRecord, target: EvacuateTarget,
): Promise<{ migrationUuid: string }> {
  requireState('evacuate', instance, EVACUABLE_VM_STATES);
  const source = instance.host;
  if (!source) throw invalidState('evacuate', instance);
  const inUse = await sourceStillInUse(ctx, source);
  if (inUse) throw new BadRequest(inUse);
  const migrationUuid = randomUUID();
  await ctx.store.transact(async (trx) => {
    const moved = await updateInstance(trx, instance.uuid, { taskState: TaskState.REBUILD_SPAWNING, requestedHost: target.host },
      { taskState: null, vmState: instance.vmState });
    if (!moved) throw invalidState('evacuate', (await getInstance(trx, instance.uuid)) ?? instance);
    await insertMigration(trx, {
      uuid: migrationUuid, instanceUuid: instance.uuid, migrationType: 'evacuation', status: 'accepted',
      sourceCompute: source, sourceNode: instance.node ?? source, destCompute: target.host, destNode: target.host,
      oldFlavorId: instance.flavor.id, newFlavorId: instance.flavor.id, projectId: instance.projectId, userId: instance.userId,
    });
    await startAction(trx, { instanceUuid: instance.uuid, action: 'evacuate', ...who });
  });
  void placeEvacuated(ctx, instance.uuid, migrationUuid, source, target)
    .catch((err) => ctx.log.error({ err, server: instance.uuid }, 'evacuation placement failed'));
  return { migrationUuid };
}

async function placeEvacuated(
  ctx: ControllerContext, uuid: string, migrationUuid: string, source: string, target: EvacuateTarget,
): Promise<void> {
  const { db } = ctx.store;
  const instance = await getInstance(db, uuid);
  if (!instance || instance.taskState !== TaskState.REBUILD_SPAWNING || instance.host !== source) return;

  const commit = async (trx: Kysely<Database>, dest: string, claimed: ClaimedDevice[]) => {
    const moved = await updateInstance(trx, uuid, { host: dest, node: dest, requestedHost: null }, { taskState: TaskState.REBUILD_SPAWNING });
    if (!moved) throw new ScheduleAborted('server left rebuild_spawning');
    // The source's claims stay, held by the migration, until the source host is back and clean.
    await transferConsumer(trx, uuid, migrationUuid, source);
    const byPort = devicesByPort(claimed);
    const aliasDevices = claimed.filter((c) => !c.requestId.startsWith('port-')).map((c) => c.device);
    const ports = await bindInstancePorts(trx, instance, dest, byPort);
    await setDesiredGuest(trx, uuid, dest, 'running', buildGuestSpec(instance, ports, byPort, aliasDevices));
    const old = await getGuest(trx, uuid, source);
    if (old) await setDesiredGuest(trx, uuid, source, 'absent', specOf(old));
    await setMigrationStatus(trx, migrationUuid, 'pre-migrating', { expect: ['accepted'], destCompute: dest, destNode: dest });
  };

  const outcome = await placeUnlessAborted(ctx, () => {
    if (target.host && target.force) return claimForced(ctx, instance, target.host, commit);
    const request = resourceRequestFor(instance.flavor, instance.pciRequests,
      target.host ? { onlyHosts: [target.host], excludeHosts: [source] } : { excludeHosts: [source] });
    return scheduleAndClaim(ctx, request, { consumer: uuid, instanceUuid: uuid }, commit);
  });
  if (!outcome || outcome.placed) return;
  const reason = outcome.reason;
  ctx.log.info({ server: uuid, reason }, 'evacuate: no valid host');
  await ctx.store.transact(async (trx) => {
    const failed = await updateInstance(trx, uuid, {
      vmState: VmState.ERROR, taskState: null, requestedHost: null,
      fault: { code: 500, message: NO_VALID_HOST, details: reason, created: nowIso() },
    }, { taskState: TaskState.REBUILD_SPAWNING });
    if (!failed) return;
    await setMigrationStatus(trx, migrationUuid, 'error', { expect: ['accepted'] });
    await finishAction(trx, uuid, 'evacuate', 'Error', NO_VALID_HOST);
  });
}

/** `force`: the requested host without the scheduler's filters, still claimed atomically. */
async function claimForced(
  ctx: ControllerContext, instance: InstanceRecord, host: string,
  commit: (trx: Kysely<Database>, host: string, claimed: ClaimedDevice[]) => Promise<void>,
): Promise<ScheduleOutcome> {
  const { db, dialect } = ctx.store;
  const flavor = instance.flavor;
  const request = resourceRequestFor(flavor, instance.pciRequests);
  try {
    const claimed = await ctx.store.transact(async (trx) => {
      const devices = await claimOnHost(trx, dialect, {
        host, consumer: instance.uuid, instanceUuid: instance.uuid,
        vcpus: request.vcpus, memoryMb: request.memoryMb, diskGb: request.diskGb, pciRequests: request.pciRequests,
      });
      await commit(trx, host, devices);
      return devices;
    });
    return { placed: true, host, claimed };
  } catch (e) {
    if (e instanceof ClaimConflict) return { placed: false, reason: e.message };
    throw e;
  }
}

/** The destination's answer. */
async function onEvacuateReport(ctx: ControllerContext, instance: InstanceRecord, guest: GuestRow): Promise<void> {
  // Reports from the old host are settled by settleEvacuatedSource.
  if (guest.host !== instance.host || !answersCurrent(guest)) return;
  const { db } = ctx.store;
  const migration = (await listMigrations(db, { instanceUuid: instance.uuid, migrationType: 'evacuation', limit: 1 }))[0];
  if (!guest.error && instance.vmState === VmState.STOPPED && guest.observed_state === 'running') {
    // A stopped server is rebuilt stopped: spawn, then shut off (Nova does the same).
    await setDesiredGuest(db, instance.uuid, guest.host, 'shutoff', specOf(guest));
    ctx.signals.notify(guest.host);
    return;
  }
  const reached = instance.vmState === VmState.STOPPED ? 'shutoff' : 'running';
  if (!guest.error && guest.observed_state === reached) {
    await ctx.store.transact(async (trx) => {
      const stopped = reached === 'shutoff';
      const done = await updateInstance(trx, instance.uuid, {
        vmState: stopped ? VmState.STOPPED : VmState.ACTIVE, taskState: null,
        powerState: stopped ? PowerState.SHUTDOWN : PowerState.RUNNING, fault: null, launchedAt: nowIso(),
      }, { taskState: TaskState.REBUILD_SPAWNING });
      if (!done) return;
      if (!stopped) await setPortStatus(trx, instance.portIds, 'ACTIVE');
      if (migration) await setMigrationStatus(trx, migration.uuid, 'done', { expect: ['pre-migrating'] });
      await finishAction(trx, instance.uuid, 'evacuate', 'Success');
    });
    return;
  }
  const message = guest.error ?? `guest reached ${guest.observed_state ?? 'nothing'} instead of ${reached}`;
  await ctx.store.transact(async (trx) => {
    const failed = await updateInstance(trx, instance.uuid, {
      vmState: VmState.ERROR, taskState: null, powerState: PowerState.NOSTATE,
      fault: { code: 500, message, created: nowIso() },
    }, { taskState: TaskState.REBUILD_SPAWNING });
    if (!failed) return;
    if (migration) await setMigrationStatus(trx, migration.uuid, 'failed', { expect: ['pre-migrating'] });
    await finishAction(trx, instance.uuid, 'evacuate', 'Error', message);
  });
}

registerReportHandler(TaskState.REBUILD_SPAWNING, onEvacuateReport);

async function openEvacuationsFrom(db: Kysely<Database>, host: string, instanceUuid?: string): Promise<MigrationRow[]> {
  let q = db.selectFrom('migrations').selectAll().where('migration_type', '=', 'evacuation')
    .where('source_compute', '=', host).where('status', 'in', SOURCE_PENDING);
  if (instanceUuid) q = q.where('instance_uuid', '=', instanceUuid);
  return q.orderBy('id').execute();
}

async function completeSource(ctx: ControllerContext, trx: Kysely<Database>, m: MigrationRow, host: string): Promise<void> {
  await releaseConsumer(trx, ctx.store.dialect, m.uuid, host);
  await setMigrationStatus(trx, m.uuid, 'completed', { expect: COMPLETABLE });
  const row = await getGuest(trx, m.instance_uuid, host);
  if (row && row.desired_state === 'absent') await deleteGuest(trx, m.instance_uuid, host);
}

/**
 * After any guest report: when an evacuated server's old host reports its
 * guest gone, the old host's claims (held by the migration) are freed and the
 * migration completes. Idempotent, so repeated or stale reports are harmless.
 */
export async function settleEvacuatedSource(ctx: ControllerContext, report: GuestReport): Promise<void> {
  if (report.observedState !== 'absent' || report.error) return;
  const { db } = ctx.store;
  const migrations = await openEvacuationsFrom(db, report.host, report.instanceUuid);
  if (migrations.length === 0) return;
  const instance = await getInstance(db, report.instanceUuid);
  if (instance && instance.host === report.host) return; // it lives here again
  await ctx.store.transact(async (trx) => {
    for (const m of migrations) await completeSource(ctx, trx, m, report.host);
  });
  ctx.log.info({ host: report.host, server: report.instanceUuid }, 'evacuated guest removed from its old host; claims freed');
}

/**
 * When a host is back (service set up, or its agent registered again):
 * evacuations from it whose old guest has no record left (the server was
 * deleted meanwhile) are completed here, since no report will come for them.
 */
export async function sweepEvacuationsFrom(ctx: ControllerContext, host: string): Promise<void> {
  const { db } = ctx.store;
  for (const m of await openEvacuationsFrom(db, host)) {
    if (await getGuest(db, m.instance_uuid, host)) continue; // its agent will report
    const instance = await getInstance(db, m.instance_uuid);
    if (instance && (instance.host === host || (instance.taskState === TaskState.REBUILD_SPAWNING && m.status === 'accepted'))) continue;
    await ctx.store.transact((trx) => completeSource(ctx, trx, m, host));
  }
}

/**
 * After a controller restart: evacuations accepted but not yet placed are
 * placed now (for recovery.ts). A `force` given with the request is not kept;
 * the requested host still goes through the scheduler's filters.
 */
export async function resumeInterruptedEvacuations(ctx: ControllerContext): Promise<void> {
  const { db } = ctx.store;
  for (const instance of await instancesInTaskState(db, TaskState.REBUILD_SPAWNING)) {
    const m = (await listMigrations(db, { instanceUuid: instance.uuid, migrationType: 'evacuation', limit: 1 }))[0];
    if (!m || m.status !== 'accepted' || !m.source_compute || instance.host !== m.source_compute) continue;
    await placeEvacuated(ctx, instance.uuid, m.uuid, m.source_compute, { host: instance.requestedHost, force: false })
      .catch((err) => ctx.log.error({ err, server: instance.uuid }, 'evacuation placement failed'));
  }
}
