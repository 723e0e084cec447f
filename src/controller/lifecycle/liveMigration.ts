/**
 * Hot-plug live migration (behaviour.md "live migration"): vDPA state cannot
 * travel with the guest, so the source's PCI NICs are unplugged, the guest
 * moves, and the destination's devices are plugged in on arrival. Each step
 * is a desired state per host that the agents reconcile (for libvirt the
 * "guest moves" step is the destination agent's migrateToURI3 from the
 * source's libvirtd, peer to peer; the simulated hosts define it anew).
 *
 * | step                               | task      | migration      | source guest              | dest guest          | claims (source / dest)      |
 * |------------------------------------|-----------|----------------|---------------------------|---------------------|-----------------------------|
 * | API accepted                       | migrating | queued         | running                   | -                   | instance / -                |
 * | dest scheduled + claimed           | migrating | preparing      | running, PCI NICs removed | -                   | migration / instance        |
 * | agent(source): NICs unplugged      | migrating | running        | running, PCI NICs removed | running (dest spec) | migration / instance        |
 * | agent(dest): guest up, NICs in     | migrating | post-migrating | absent                    | running             | migration / instance        |
 * | agent(source): guest gone          | null      | completed      | (row deleted)             | running             | freed / instance; ports→dest|
 * | no valid host                      | null      | error          | running (untouched)       | -                   | instance / -                |
 * | agent(source or dest) fails        | migrating | error          | running, original spec    | absent              | instance / freed            |
 * | agent(source): original NICs back  | null      | error          | running                   | (row deleted)       | instance / -                |
 * | deadline while queued              | null      | error          | running (untouched)       | -                   | instance / -                |
 * | deadline while preparing/running   | migrating | error          | as "agent fails"          |                     |                             |
 * | deadline while post-migrating      | null      | completed      | (as finished)             | running             | freed / instance            |
 * | deadline while rolling back        | null, ERROR | error        |                           |                     | instance / -                |
 *
 * The rows are the transitions of LIVE_MIGRATION_OPERATION at the end of this file.
 *
 * The specs of the source's unplug step and of the destination's arrival carry
 * `liveMigration` (role and peer host): to an agent they would otherwise look
 * like a plain unplug and a plain build (a simulated host's `live_migrate`
 * fault fails exactly these two steps).
 *
 * Ports stay bound to the source devices until the end, so a rollback gives
 * the server back exactly its original devices and bindings (read back from
 * the ports' binding profiles). The fault records why a migration failed.
 */
import { randomUUID } from 'node:crypto';
import { BadRequest, Conflict } from '../../domain/errors.js';
import { invalidState } from '../../domain/lifecycle/invalidState.js';
import { PowerState, type GuestSpec } from '../../domain/guest/spec.js';
import { vdpaOperationGate } from '../../domain/lifecycle/vdpaGates.js';
import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import { finishAction, startAction } from '../../storage/repositories/actions.js';
import { releaseConsumer, transferConsumer } from '../../storage/repositories/claims.js';
import { deleteGuest, getGuest, setDesiredGuest, type GuestRow, guestSpecOf } from '../../storage/repositories/guests.js';
import { COMPUTE_BINARY, computeNodeOf, listServices, minimumComputeVersion } from '../../storage/repositories/hosts.js';
import { getInstance, updateInstance, type InstanceRecord } from '../../storage/repositories/instances.js';
import { nowIso } from '../../storage/repositories/json.js';
import {
  insertMigration, setMigrationStatus, type MigrationRow,
} from '../../storage/repositories/migrations.js';
import { getPorts, setPortStatus } from '../../storage/repositories/ports.js';
import type { AuthContext, ControllerContext } from '../context.js';
import { buildGuestSpec } from '../services/guestSpecs.js';
import { NO_VALID_HOST, ScheduleAborted, scheduleAndClaim } from '../services/scheduler.js';
import { heldDevicesForPorts, swapMoveClaims } from './coldMoveDevices.js';
import { bindInstancePorts, guestNumaPlacement, heldDevicesByPort } from './portBindings.js';
import { serverQueueOf } from '../operations/serverQueue.js';
import { answered, failedOn, guestOn, reached, type Operation, type ServerSnapshot } from '../operations/transitions.js';
import { resourceRequestFor, zoneOf, groupOf } from './resources.js';
import { aggregateDirectoryOf } from '../services/aggregateDirectory.js';
import type { Session } from '../../storage/unit.js';

export const LIVE_MIGRATION_ACTION = 'live-migration';
const API_ACTION = 'os-migrateLive';
const IN_PROGRESS = ['queued', 'preparing', 'running', 'post-migrating'];

/**
 * Validates a live migration and records it (task migrating, migration
 * queued, instance action); the operation engine places it after the 202.
 * Anything refused leaves no trace.
 */
export async function startLiveMigration(
  ctx: ControllerContext, auth: AuthContext, requestId: string, instance: InstanceRecord, host: string | null,
): Promise<MigrationRow> {
  const db = ctx.store.reader;
  if (instance.vmState !== VmState.ACTIVE || !instance.host) {
    throw invalidState(API_ACTION, instance, 'vm_state');
  }
  if (instance.taskState !== null) {
    throw invalidState(API_ACTION, instance, 'task_state');
  }
  const ports = await getPorts(db, instance.portIds);
  const refusal = vdpaOperationGate(LIVE_MIGRATION_ACTION, ports.some((p) => p.vnicType === 'vdpa'),
    await minimumComputeVersion(db), instance.uuid);
  if (refusal) throw new BadRequest(refusal);
  if (instance.pciRequests.some((r) => r.source.kind === 'alias')) {
    throw new BadRequest(`Live migration of instance ${instance.uuid} is not possible: it has PCI devices from a flavor alias (only network interfaces can be hot-plugged).`);
  }
  if (host !== null) {
    if (host === instance.host) throw new BadRequest(`Unable to migrate instance (${instance.uuid}) to current host (${host}).`);
    const [svc] = await listServices(db, { host, binary: COMPUTE_BINARY });
    if (!svc) throw new BadRequest(`Compute host ${host} could not be found.`);
  }
  const migrationUuid = randomUUID();
  const migration = await ctx.store.transact(async (trx) => {
    const started = await updateInstance(trx, instance.uuid, { taskState: TaskState.MIGRATING, requestedHost: host },
      { taskState: null, vmState: VmState.ACTIVE });
    if (!started) throw new Conflict(`Cannot '${API_ACTION}' instance ${instance.uuid} while another operation is in progress`);
    await startAction(trx, { instanceUuid: instance.uuid, action: LIVE_MIGRATION_ACTION, requestId, projectId: auth.projectId, userId: auth.userId });
    return insertMigration(trx, {
      uuid: migrationUuid, instanceUuid: instance.uuid, migrationType: 'live-migration', status: 'queued',
      sourceCompute: instance.host, sourceNode: instance.node ?? instance.host, destCompute: host, destNode: host,
      oldFlavorId: instance.flavor.id, newFlavorId: instance.flavor.id, projectId: instance.projectId, userId: auth.userId,
    });
  });
  serverQueueOf(ctx).enqueue(instance.uuid);
  return migration;
}

/** Where the other host of the migration is reached (its registered host_ip), for the libvirt hosts' migration connection. */
async function peerAddress(db: Session, host: string): Promise<{ peerAddress?: string }> {
  const node = await computeNodeOf(db, host);
  return node?.host_ip ? { peerAddress: node.host_ip } : {};
}

/** The guest without its PCI-backed NICs: what stays on the source while the guest moves. */
function withoutPciNics(spec: GuestSpec): GuestSpec {
  return { ...spec, interfaces: spec.interfaces.filter((i) => i.kind !== 'vdpa' && i.kind !== 'hostdev') };
}

/**
 * The guest as it runs with the devices and the NUMA placement the instance
 * holds on `host`, the devices mapped to ports by their binding profiles.
 */
async function boundSpec(db: Session, instance: InstanceRecord, host: string): Promise<GuestSpec> {
  const ports = await getPorts(db, instance.portIds);
  const { byPort, aliasDevices } = await heldDevicesByPort(db, instance.uuid, ports, host);
  return buildGuestSpec(instance, ports, byPort, aliasDevices, instance.flavor, await guestNumaPlacement(db, instance, host));
}

/** Picks and claims the destination and tells the source to unplug, in one transaction. */
async function placeLiveMigration(ctx: ControllerContext, instance: InstanceRecord, migration: MigrationRow): Promise<'wait' | void> {
  const migrationUuid = migration.uuid;
  const source = instance.host!;
  const request = resourceRequestFor(instance.flavor, instance.pciRequests, {
    ...zoneOf(instance), ...groupOf(instance), excludeHosts: [source], ...(instance.requestedHost ? { onlyHosts: [instance.requestedHost] } : {}),
  }, instance.imageProperties);
  let outcome;
  try {
    outcome = await scheduleAndClaim(ctx, request, { consumer: migrationUuid, instanceUuid: instance.uuid }, async (trx, host) => {
      const fresh = await getInstance(trx, instance.uuid);
      if (!fresh || fresh.taskState !== TaskState.MIGRATING || fresh.host !== source) throw new ScheduleAborted('server left migrating');
      if (!(await setMigrationStatus(trx, migrationUuid, 'preparing', { expect: ['queued'], destCompute: host, destNode: host }))) {
        throw new ScheduleAborted('migration no longer queued');
      }
      // Read while the source's claims are still the instance's (boundSpec reads them by its uuid).
      const sourceGuest = await getGuest(trx, instance.uuid, source);
      const spec = sourceGuest ? guestSpecOf(sourceGuest) : await boundSpec(trx, fresh, source);
      await swapMoveClaims(trx, instance.uuid, migrationUuid, source, host);
      await setDesiredGuest(trx, instance.uuid, source, 'running', {
        ...withoutPciNics(spec), liveMigration: { role: 'source', peer: host, ...(await peerAddress(trx, host)) },
      });
    });
  } catch (e) {
    if (e instanceof ScheduleAborted) return;
    throw e;
  }
  if (outcome.placed) {
    ctx.signals.notify(source);
    return 'wait';
  }
  ctx.log.info({ server: instance.uuid, reason: outcome.reason }, 'no valid host for a live migration');
  await notStarted(ctx, instance, migrationUuid, `${NO_VALID_HOST} There are not enough hosts available.`, outcome.reason);
}

/** The migration could not start (no host, or its placement timed out): nothing moved. */
async function notStarted(ctx: ControllerContext, instance: InstanceRecord, migrationUuid: string, message: string, details?: string): Promise<void> {
  await ctx.store.transact(async (trx) => {
    const back = await updateInstance(trx, instance.uuid, {
      taskState: null, requestedHost: null, fault: { code: 500, message, ...(details ? { details } : {}), created: nowIso() },
    }, { taskState: TaskState.MIGRATING });
    if (!back) return;
    await setMigrationStatus(trx, migrationUuid, 'error', { expect: ['queued'] });
    await finishAction(trx, instance.uuid, LIVE_MIGRATION_ACTION, 'Error', message);
  });
}

/**
 * Something failed after the destination was claimed: free it, give the
 * source claims back to the server, and plug its original NICs back in. The
 * server stays MIGRATING until the source confirms (onRollbackReport).
 */
async function rollBack(ctx: ControllerContext, instance: InstanceRecord, migration: MigrationRow, expect: string, why: string): Promise<void> {
  const source = migration.source_compute!;
  const dest = migration.dest_compute!;
  const message = `Live migration of ${instance.uuid} from ${source} to ${dest} failed: ${why}`;
  let done = false;
  await ctx.store.transact(async (trx) => {
    // Still migrating first: a delete accepted meanwhile asked every guest to go (the source's too).
    if (!(await updateInstance(trx, instance.uuid, { stepStarted: true }, { taskState: TaskState.MIGRATING }))) return;
    if (!(await setMigrationStatus(trx, migration.uuid, 'error', { expect: [expect] }))) return;
    await releaseConsumer(trx, instance.uuid, dest);
    await transferConsumer(trx, migration.uuid, instance.uuid, source);
    const destGuest = await getGuest(trx, instance.uuid, dest);
    if (destGuest) await setDesiredGuest(trx, instance.uuid, dest, 'absent', guestSpecOf(destGuest));
    await setDesiredGuest(trx, instance.uuid, source, 'running', await boundSpec(trx, instance, source));
    await updateInstance(trx, instance.uuid, { fault: { code: 500, message, created: nowIso() } });
    done = true;
  });
  if (!done) return;
  ctx.log.warn({ server: instance.uuid, source, dest, why }, 'live migration rolled back');
  ctx.signals.notify(source);
  ctx.signals.notify(dest);
}

const liveMigrationOf = (s: ServerSnapshot, statuses: readonly string[]) =>
  (s.migration?.migration_type === 'live-migration' && statuses.includes(s.migration.status) ? s.migration : null);
const sourceOf = (s: ServerSnapshot) => guestOn(s, s.migration?.source_compute);
const destOf = (s: ServerSnapshot) => guestOn(s, s.migration?.dest_compute);

/** The source let go of its devices: the guest moves and gets the destination's plugged in. */
async function moveGuest(ctx: ControllerContext, s: ServerSnapshot): Promise<void> {
  const { instance } = s;
  const migration = liveMigrationOf(s, ['preparing'])!;
  const dest = migration.dest_compute!;
  const db = ctx.store.reader;
  const ports = await getPorts(db, instance.portIds);
  const { byPort, aliasDevices } = await heldDevicesForPorts(db, instance.uuid, dest, ports, null);
  // Nova's NUMA-aware live migration: the guest arrives pinned to the destination's claim, not the source's CPUs.
  const spec = buildGuestSpec(instance, ports, byPort, aliasDevices, instance.flavor, await guestNumaPlacement(db, instance, dest));
  await ctx.store.transact(async (trx) => {
    // Still migrating first: a delete accepted meanwhile asked every guest to go, and must not see one come back.
    if (!(await updateInstance(trx, instance.uuid, { stepStarted: true }, { taskState: TaskState.MIGRATING }))) return;
    if (!(await setMigrationStatus(trx, migration.uuid, 'running', { expect: ['preparing'] }))) return;
    await setDesiredGuest(trx, instance.uuid, dest, 'running', {
      ...spec, liveMigration: { role: 'destination', peer: migration.source_compute!, ...(await peerAddress(trx, migration.source_compute!)) },
    });
  });
  ctx.signals.notify(dest);
}

/** The guest runs on the destination: the source's copy goes. */
async function arrived(ctx: ControllerContext, s: ServerSnapshot): Promise<void> {
  const { instance } = s;
  const migration = liveMigrationOf(s, ['running'])!;
  const source = migration.source_compute!;
  await ctx.store.transact(async (trx) => {
    if (!(await updateInstance(trx, instance.uuid, { stepStarted: true }, { taskState: TaskState.MIGRATING }))) return;
    if (!(await setMigrationStatus(trx, migration.uuid, 'post-migrating', { expect: ['running'] }))) return;
    const sourceGuest = await getGuest(trx, instance.uuid, source);
    if (sourceGuest) await setDesiredGuest(trx, instance.uuid, source, 'absent', guestSpecOf(sourceGuest));
  });
  ctx.signals.notify(source);
}

const rolledBackGuest = (s: ServerSnapshot) => {
  const dest = destOf(s);
  return dest && dest.desired_state === 'absent' && reached(dest, 'absent') ? dest : undefined;
};

export const LIVE_MIGRATION_OPERATION: Operation = {
  action: LIVE_MIGRATION_ACTION,
  transitions: [
    {
      state: TaskState.MIGRATING, on: 'queued', when: (s) => liveMigrationOf(s, ['queued']) !== null && s.instance.host !== null,
      step: (ctx, s) => placeLiveMigration(ctx, s.instance, liveMigrationOf(s, ['queued'])!),
    },
    {
      state: TaskState.MIGRATING, on: 'source failed to unplug', when: (s) => liveMigrationOf(s, ['preparing']) !== null && failedOn(sourceOf(s)),
      step: (ctx, s) => rollBack(ctx, s.instance, s.migration!, 'preparing',
        `unplugging the interfaces on ${s.migration!.source_compute} failed: ${sourceOf(s)!.error}`),
    },
    {
      state: TaskState.MIGRATING, on: 'source unplugged', when: (s) => liveMigrationOf(s, ['preparing']) !== null && reached(sourceOf(s), 'running'),
      step: moveGuest,
    },
    {
      state: TaskState.MIGRATING, on: 'destination failed', when: (s) => liveMigrationOf(s, ['running']) !== null && failedOn(destOf(s)),
      step: (ctx, s) => rollBack(ctx, s.instance, s.migration!, 'running',
        `the guest could not start on ${s.migration!.dest_compute}: ${destOf(s)!.error}`),
    },
    {
      state: TaskState.MIGRATING, on: 'guest running on the destination', when: (s) => liveMigrationOf(s, ['running']) !== null && reached(destOf(s), 'running'),
      step: arrived,
    },
    {
      state: TaskState.MIGRATING, on: 'source guest gone (or failed to go)',
      when: (s) => liveMigrationOf(s, ['post-migrating']) !== null && (reached(sourceOf(s), 'absent') || failedOn(sourceOf(s))),
      step: async (ctx, s) => {
        const g = sourceOf(s)!;
        // The guest runs on the destination now; a source that failed to clean up is reconciled when its agent restarts.
        if (g.error) ctx.log.warn({ server: s.instance.uuid, host: g.host, err: g.error }, 'source guest not removed after live migration');
        await finishLiveMigration(ctx, s.instance, s.migration!);
      },
    },
    {
      state: TaskState.MIGRATING, on: 'rolled back: the destination\'s guest gone', when: (s) => liveMigrationOf(s, ['error']) !== null && rolledBackGuest(s) !== undefined,
      step: async (ctx, s) => { await ctx.store.transact((u) => deleteGuest(u, s.instance.uuid, rolledBackGuest(s)!.host)); },
    },
    {
      state: TaskState.MIGRATING, on: 'rolled back: the source answered', when: (s) => liveMigrationOf(s, ['error']) !== null && answered(sourceOf(s)),
      step: (ctx, s) => onRollbackReport(ctx, s.instance, sourceOf(s)!),
    },
  ],
  async onDeadline(ctx, s, why) {
    const m = liveMigrationOf(s, ['queued', 'preparing', 'running', 'post-migrating', 'error']);
    if (m?.status === 'queued') return notStarted(ctx, s.instance, m.uuid, why);
    if (m && (m.status === 'preparing' || m.status === 'running')) {
      await rollBack(ctx, s.instance, m, m.status, why);
      return;
    }
    if (m?.status === 'post-migrating') return finishLiveMigration(ctx, s.instance, m);
    await ctx.store.transact(async (trx) => {
      const failed = await updateInstance(trx, s.instance.uuid, {
        vmState: VmState.ERROR, taskState: null, requestedHost: null, fault: { code: 500, message: why, created: nowIso() },
      }, { taskState: TaskState.MIGRATING });
      if (failed) await finishAction(trx, s.instance.uuid, LIVE_MIGRATION_ACTION, 'Error', why);
    });
  },
};

/** The guest runs on the destination: free the source, bind the ports there, the server lives on dest. */
async function finishLiveMigration(ctx: ControllerContext, instance: InstanceRecord, migration: MigrationRow): Promise<void> {
  const source = migration.source_compute!;
  const dest = migration.dest_compute!;
  await ctx.store.transact(async (trx) => {
    if (!(await setMigrationStatus(trx, migration.uuid, 'completed', { expect: ['post-migrating'] }))) return;
    await releaseConsumer(trx, migration.uuid, source);
    const ports = await getPorts(trx, instance.portIds);
    const { byPort } = await heldDevicesForPorts(trx, instance.uuid, dest, ports, await destSpec(trx, instance.uuid, dest));
    await bindInstancePorts(trx, instance, dest, byPort, 'ACTIVE');
    await updateInstance(trx, instance.uuid, {
      host: dest, node: dest, availabilityZone: aggregateDirectoryOf(ctx).zoneNameOf(dest), taskState: null, requestedHost: null, powerState: PowerState.RUNNING,
    }, { taskState: TaskState.MIGRATING });
    const sourceGuest = await getGuest(trx, instance.uuid, source);
    if (sourceGuest?.observed_state === 'absent') await deleteGuest(trx, instance.uuid, source);
    await finishAction(trx, instance.uuid, LIVE_MIGRATION_ACTION, 'Success');
  });
}

async function destSpec(db: Session, uuid: string, dest: string): Promise<GuestSpec | null> {
  const row = await getGuest(db, uuid, dest);
  return row ? guestSpecOf(row) : null;
}

/** The source answered the rollback: ACTIVE where it was, or ERROR if even its original NICs cannot come back. */
async function onRollbackReport(ctx: ControllerContext, instance: InstanceRecord, guest: GuestRow): Promise<void> {
  const why = instance.fault?.message ?? 'live migration failed';
  if (guest.error) {
    await ctx.store.transact(async (trx) => {
      const failed = await updateInstance(trx, instance.uuid, {
        vmState: VmState.ERROR, taskState: null, requestedHost: null,
        fault: { code: 500, message: `${why}; restoring the interfaces on ${guest.host} failed too: ${guest.error}`, created: nowIso() },
      }, { taskState: TaskState.MIGRATING });
      if (failed) await finishAction(trx, instance.uuid, LIVE_MIGRATION_ACTION, 'Error', why);
    });
    return;
  }
  if (guest.observed_state !== 'running') return;
  await ctx.store.transact(async (trx) => {
    const back = await updateInstance(trx, instance.uuid, { taskState: null, requestedHost: null }, { taskState: TaskState.MIGRATING });
    if (!back) return;
    await setPortStatus(trx, instance.portIds, 'ACTIVE');
    await finishAction(trx, instance.uuid, LIVE_MIGRATION_ACTION, 'Error', why);
  });
}

