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
 *   deadline before placement              | error, task none, fault          | error
 *   deadline on the destination            | error, task none, fault          | failed
 *
 * The source keeps its claims (held by the migration) until it is back: a
 * fenced host's agent is handed no work (agentLink.ts), so the old guest is
 * only destroyed once the operator sets the service up or the agent
 * re-registers after an outage.
 */
import { randomUUID } from 'node:crypto';
import { BadRequest, ClaimConflict } from '../../domain/errors.js';
import { PowerState } from '../../domain/guest/spec.js';
import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import type { GuestReport } from '../../protocol/agentProtocol.js';
import { finishAction, startAction } from '../../storage/repositories/actions.js';
import { claimOnHost, releaseConsumer, transferConsumer, type ClaimedDevice } from '../../storage/repositories/claims.js';
import { deleteGuest, getGuest, guestSpecOf, setDesiredGuest } from '../../storage/repositories/guests.js';
import { COMPUTE_BINARY, listServices, serviceIsUp } from '../../storage/repositories/hosts.js';
import { getInstance, updateInstance, type InstanceRecord } from '../../storage/repositories/instances.js';
import { nowIso } from '../../storage/repositories/json.js';
import { hostsWithOpenEvacuations, insertMigration, openEvacuationsFrom, setMigrationStatus, type MigrationRow } from '../../storage/repositories/migrations.js';
import type { ControllerContext } from '../context.js';
import { buildGuestSpec } from '../services/guestSpecs.js';
import { NO_VALID_HOST, placeUnlessAborted, ScheduleAborted, scheduleAndClaim, type ScheduleOutcome } from '../services/scheduler.js';
import { bindInstancePorts, devicesByPort, guestNumaPlacement } from './portBindings.js';
import { invalidState, requireState, type Requester } from './power.js';
import { instructWhileInTask } from './stepInstruction.js';
import { answered, ownGuest, reached, type Operation, type ServerSnapshot } from '../operations/transitions.js';
import { serverQueueOf } from '../operations/serverQueue.js';
import { resourceRequestFor, zoneOf, groupOf } from './resources.js';
import { aggregateDirectoryOf } from '../services/aggregateDirectory.js';
import { finishRebuildSpawn } from './rebuildSpawned.js';
import type { Unit, Session } from '../../storage/unit.js';

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
  const [svc] = await listServices(ctx.store.reader, { host, binary: COMPUTE_BINARY });
  if (svc && serviceIsUp(svc, ctx.config.service_down_time)) return `Compute service of ${host} is still in use.`;
  return null;
}

/** Accepts an evacuation (nothing changes when it is refused); the operation engine places the server. */
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
      forced: target.force && target.host !== null,
    });
    await startAction(trx, { instanceUuid: instance.uuid, action: 'evacuate', ...who });
  });
  serverQueueOf(ctx).enqueue(instance.uuid);
  return { migrationUuid };
}

/** The placement step: the destination claimed, bound and told to run the guest; the source told to let it go. */
async function placeEvacuated(ctx: ControllerContext, instance: InstanceRecord, migration: MigrationRow): Promise<'wait' | void> {
  const uuid = instance.uuid;
  const migrationUuid = migration.uuid;
  const source = migration.source_compute!;
  const target: EvacuateTarget = { host: instance.requestedHost ?? migration.dest_compute, force: migration.forced === 1 };

  const commit = async (trx: Unit, dest: string, claimed: ClaimedDevice[]) => {
    // First, so a second placement of the same evacuation (another process, a retry) stops here.
    if (!(await setMigrationStatus(trx, migrationUuid, 'pre-migrating', { expect: ['accepted'], destCompute: dest, destNode: dest }))) {
      throw new ScheduleAborted('evacuation already placed');
    }
    const moved = await updateInstance(trx, uuid, { host: dest, node: dest, availabilityZone: aggregateDirectoryOf(ctx).zoneNameOf(dest), requestedHost: null }, { taskState: TaskState.REBUILD_SPAWNING });
    if (!moved) throw new ScheduleAborted('server left rebuild_spawning');
    // The source's claims stay, held by the migration, until the source host is back and clean.
    await transferConsumer(trx, uuid, migrationUuid, source);
    const byPort = devicesByPort(claimed);
    const aliasDevices = claimed.filter((c) => !c.requestId.startsWith('port-')).map((c) => c.device);
    const ports = await bindInstancePorts(trx, instance, dest, byPort);
    // Pinned to the destination's claim (the instance's there), not to the CPUs it had on the source.
    const numa = await guestNumaPlacement(trx, instance, dest);
    await setDesiredGuest(trx, uuid, dest, 'running', buildGuestSpec(instance, ports, byPort, aliasDevices, instance.flavor, numa));
    const old = await getGuest(trx, uuid, source);
    if (old) await setDesiredGuest(trx, uuid, source, 'absent', guestSpecOf(old));
  };

  const outcome = await placeUnlessAborted(ctx, () => {
    if (target.host && target.force) return claimForced(ctx, instance, target.host, commit);
    const request = resourceRequestFor(instance.flavor, instance.pciRequests,
      { ...zoneOf(instance), ...groupOf(instance), ...(target.host ? { onlyHosts: [target.host] } : {}), excludeHosts: [source] }, instance.imageProperties);
    return scheduleAndClaim(ctx, request, { consumer: uuid, instanceUuid: uuid }, commit);
  });
  if (!outcome) return;
  if (outcome.placed) {
    ctx.signals.notify(source);
    return 'wait';
  }
  ctx.log.info({ server: uuid, reason: outcome.reason }, 'evacuate: no valid host');
  await notPlaced(ctx, instance, migrationUuid, NO_VALID_HOST, outcome.reason);
}

async function notPlaced(ctx: ControllerContext, instance: InstanceRecord, migrationUuid: string, message: string, details?: string): Promise<void> {
  await ctx.store.transact(async (trx) => {
    const failed = await updateInstance(trx, instance.uuid, {
      vmState: VmState.ERROR, taskState: null, requestedHost: null,
      fault: { code: 500, message, ...(details ? { details } : {}), created: nowIso() },
    }, { taskState: TaskState.REBUILD_SPAWNING });
    if (!failed) return;
    await setMigrationStatus(trx, migrationUuid, 'error', { expect: ['accepted'] });
    await finishAction(trx, instance.uuid, 'evacuate', 'Error', message);
  });
}

/** `force`: the requested host without the scheduler's filters, still claimed atomically. */
async function claimForced(
  ctx: ControllerContext, instance: InstanceRecord, host: string,
  commit: (trx: Unit, host: string, claimed: ClaimedDevice[]) => Promise<void>,
): Promise<ScheduleOutcome> {
  const flavor = instance.flavor;
  const request = resourceRequestFor(flavor, instance.pciRequests, {}, instance.imageProperties);
  try {
    const claimed = await ctx.store.transact(async (trx) => {
      const devices = await claimOnHost(trx, {
        host, consumer: instance.uuid, instanceUuid: instance.uuid,
        vcpus: request.vcpus, memoryMb: request.memoryMb, diskGb: request.diskGb, pciRequests: request.pciRequests,
        numa: request.numa,
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

const evacuationOf = (s: ServerSnapshot) => (s.migration?.migration_type === 'evacuation' ? s.migration : null);
const awaitingPlacement = (s: ServerSnapshot) => {
  const m = evacuationOf(s);
  return m !== null && m.status === 'accepted' && m.source_compute !== null && s.instance.host === m.source_compute;
};
const placedGuest = (s: ServerSnapshot) => (awaitingPlacement(s) ? undefined : ownGuest(s));
const targetState = (s: ServerSnapshot) => (s.instance.vmState === VmState.STOPPED ? 'shutoff' : 'running');

/** A stopped server is rebuilt stopped: spawn, then shut off (Nova does the same). */
async function shutOffRebuilt(ctx: ControllerContext, s: ServerSnapshot): Promise<void> {
  const guest = placedGuest(s)!;
  await instructWhileInTask(ctx, s.instance.uuid, TaskState.REBUILD_SPAWNING, guest.host, 'shutoff', guestSpecOf(guest));
}

async function evacuated(ctx: ControllerContext, s: ServerSnapshot): Promise<void> {
  const { instance } = s;
  const migration = evacuationOf(s);
  const stopped = targetState(s) === 'shutoff';
  await ctx.store.transact(async (trx) => {
    if (!(await finishRebuildSpawn(trx, instance, stopped))) return;
    if (migration) await setMigrationStatus(trx, migration.uuid, 'done', { expect: ['pre-migrating'] });
    await finishAction(trx, instance.uuid, 'evacuate', 'Success');
  });
}

async function evacuationFailed(ctx: ControllerContext, s: ServerSnapshot, message: string): Promise<void> {
  const { instance } = s;
  const migration = evacuationOf(s);
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

/** Reports from the old host are settled by settleEvacuatedSource, not here. */
export const EVACUATE_OPERATION: Operation = {
  action: 'evacuate',
  transitions: [
    {
      state: TaskState.REBUILD_SPAWNING, on: 'not placed yet', when: awaitingPlacement,
      step: (ctx, s) => placeEvacuated(ctx, s.instance, evacuationOf(s)!),
    },
    {
      state: TaskState.REBUILD_SPAWNING, on: 'a stopped server\'s guest running on its new host',
      when: (s) => s.instance.vmState === VmState.STOPPED && reached(placedGuest(s), 'running'), step: shutOffRebuilt,
    },
    {
      state: TaskState.REBUILD_SPAWNING, on: 'guest in its final state on the new host',
      when: (s) => reached(placedGuest(s), targetState(s)), step: evacuated,
    },
    {
      state: TaskState.REBUILD_SPAWNING, on: 'guest failed on the new host', when: (s) => answered(placedGuest(s)),
      step: (ctx, s) => {
        const g = placedGuest(s)!;
        return evacuationFailed(ctx, s, g.error ?? `guest reached ${g.observed_state ?? 'nothing'} instead of ${targetState(s)}`);
      },
    },
  ],
  async onDeadline(ctx, s, why) {
    if (awaitingPlacement(s)) return notPlaced(ctx, s.instance, evacuationOf(s)!.uuid, why);
    return evacuationFailed(ctx, s, why);
  },
};

function openEvacuations(db: Session, host: string, instanceUuid?: string): Promise<MigrationRow[]> {
  return openEvacuationsFrom(db, host, SOURCE_PENDING, instanceUuid);
}

async function completeSource(ctx: ControllerContext, trx: Unit, m: MigrationRow, host: string): Promise<void> {
  await releaseConsumer(trx, m.uuid, host);
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
  const db = ctx.store.reader;
  const migrations = await openEvacuations(db, report.host, report.instanceUuid);
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
  const db = ctx.store.reader;
  for (const m of await openEvacuations(db, host)) {
    if (await getGuest(db, m.instance_uuid, host)) continue; // its agent will report
    const instance = await getInstance(db, m.instance_uuid);
    if (instance && (instance.host === host || (instance.taskState === TaskState.REBUILD_SPAWNING && m.status === 'accepted'))) continue;
    await ctx.store.transact((trx) => completeSource(ctx, trx, m, host));
  }
}


/**
 * The periodic form of the two settlements above (cluster.ts): a report that
 * freed an old host's claims may have been recorded by a controller that
 * died before settling them, and no other report will come. For every host
 * that is up again and still has open evacuations, what its guests no longer
 * hold is completed.
 */
export async function sweepOpenEvacuations(ctx: ControllerContext): Promise<void> {
  const db = ctx.store.reader;
  for (const host of await hostsWithOpenEvacuations(db, SOURCE_PENDING)) {
    const [svc] = await listServices(db, { host, binary: COMPUTE_BINARY });
    if (!svc || !serviceIsUp(svc, ctx.config.service_down_time)) continue;
    await sweepEvacuationsFrom(ctx, host);
  }
}
