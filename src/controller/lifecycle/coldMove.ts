import { randomUUID } from 'node:crypto';
import { BadRequest, Conflict } from '../../domain/errors.js';
import { invalidState as invalidStateOf } from '../../domain/lifecycle/invalidState.js';
import { PowerState, type GuestSpec } from '../../domain/guest/spec.js';
import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import { finishAction, startAction } from '../../storage/repositories/actions.js';
import { releaseConsumer, transferConsumer } from '../../storage/repositories/claims.js';
import { deleteGuest, getGuest, setDesiredGuest, type GuestRow, guestSpecOf } from '../../storage/repositories/guests.js';
import { getInstance, updateInstance, type FlavorSnapshot, type InstanceRecord } from '../../storage/repositories/instances.js';
import { nowIso } from '../../storage/repositories/json.js';
import {
  insertMigration, latestMigrationOf, setMigrationStatus, type MigrationRow,
} from '../../storage/repositories/migrations.js';
import { getPorts, setPortStatus } from '../../storage/repositories/ports.js';
import type { AuthContext, ControllerContext } from '../context.js';
import { buildGuestSpec } from '../services/guestSpecs.js';
import { NO_VALID_HOST, ScheduleAborted, scheduleAndClaim } from '../services/scheduler.js';
import { swapMoveClaims } from './coldMoveClaims.js';
import { dropDiskTransfer, hasMovedDisk } from './coldMoveDisk.js';
import { heldDevicesForPorts, pciRequestsWithFlavor } from './coldMoveDevices.js';
import { bindInstancePorts, devicesByPort, guestNumaPlacement, heldDevicesByPort } from './portBindings.js';
import { serverQueueOf } from '../operations/serverQueue.js';
import { instructWhileInTask } from './stepInstruction.js';
import { failedOn, guestOn, reached, type Operation, type ServerSnapshot } from '../operations/transitions.js';
import { resourceRequestFor, zoneOf, groupOf } from './resources.js';
import { aggregateDirectoryOf } from '../services/aggregateDirectory.js';
import { OverQuota, quotaExceeded, settleResizeQuota, takeResizeQuota } from '../services/quotas.js';
import type { Unit } from '../../storage/unit.js';
// Its own line: the server-group work changes the import above.
import { numaRequestFor } from './resources.js';
import type { DesiredGuestState } from '../../protocol/agentProtocol.js';

/**
 * Cold migrate and resize (Nova 26 semantics):
 *
 * | step                                   | vm_state       | task_state        | status         | migration     |
 * |----------------------------------------|----------------|-------------------|----------------|---------------|
 * | API accepted                           | active/stopped | resize_prep       | RESIZE         | pre-migrating |
 * | destination claimed, guests recorded   | active/stopped | resize_migrating  | RESIZE         | migrating     |
 * |   (another host: the source told to    |                |                   |                |               |
 * |   power off and upload its disk first) |                |                   |                |               |
 * | agent: source guest off, disk uploaded:| active/stopped | resize_migrating  | RESIZE         | migrating     |
 * |   destination told to run on that disk |                |                   |                |               |
 * | agent: destination guest up, source    | resized        | –                 | VERIFY_RESIZE  | finished      |
 * |   guest off (it holds its devices no   |                |                   |                |               |
 * |   longer: a confirm may free them)     |                |                   |                |               |
 * | agent: source guest failed to power off| error          | –                 | ERROR          | error         |
 * | no valid host                          | unchanged      | –                 | ACTIVE/SHUTOFF | error (fault) |
 * | agent: destination guest failed        | error          | –                 | ERROR          | error         |
 * | confirmResize                          | active/stopped | –                 | ACTIVE/SHUTOFF | confirmed     |
 * | revertResize accepted                  | resized        | resize_reverting  | REVERT_RESIZE  | reverting     |
 * | agent: destination guest gone          | resized        | resize_reverting  | REVERT_RESIZE  | reverting     |
 * |   (its claims are freed only now)      |                |                   |                |               |
 * | agent: source guest back, dest gone    | active/stopped | –                 | ACTIVE/SHUTOFF | reverted      |
 * | deadline in resize_prep                | unchanged      | –                 | ACTIVE/SHUTOFF | error (fault) |
 * | deadline in resize_migrating           | error          | –                 | ERROR          | error         |
 * | deadline in resize_reverting           | error          | –                 | ERROR          | error         |
 *
 * The rows of that table are the transitions of COLD_MOVE_OPERATION at the
 * end of this file, in the same order.
 *
 * Claims: the destination is claimed under the migration's uuid and the
 * labels are then swapped in the same transaction, so in VERIFY_RESIZE the
 * source devices belong to the migration and the destination's to the
 * instance; confirm frees the migration's, revert gives the migration's back
 * and frees the instance's on the destination once its guest there is gone.
 * A device is never freed while a guest on its host may still hold it open
 * (the next guest's open of /dev/vhost-vdpa-N would fail with EBUSY): hence
 * VERIFY_RESIZE waits for the source guest to be off, and a revert for the
 * destination's guest to be gone. The source guest is kept
 * powered off until then. On the same host there is one guest row, so the
 * guest is removed and defined again with the new (or, on revert, old)
 * definition.
 *
 * Disk: a move to another host carries the instance's disk through the
 * controller (coldMoveDisk.ts): the source guest's power-off instruction
 * asks its agent to upload the flattened disk, the destination's guest is
 * defined only after that, on the uploaded disk; confirm, revert and
 * failure remove the blob. The source keeps its own disk until confirm (a
 * revert boots it again), as Nova keeps `<instance>_resize`. On the same
 * host every instruction from the old definition's removal until confirm
 * or revert carries spec.resizeBackup (domain/guest/resizeBackup.ts): the
 * agent copies the disk aside before the new definition grows it; revert
 * and a failed resize ask for it back (`restore`) once the new definition
 * is gone, so the old flavor boots the disk as it was before the resize;
 * confirm writes the guest's spec again without it, and the agent removes
 * the copy.
 */

export type ColdMoveKind = 'migrate' | 'resize';

const MOVE_TYPES = ['migration', 'resize'] as const;

const MOVABLE: readonly string[] = [VmState.ACTIVE, VmState.STOPPED];
const RESIZED: readonly string[] = [VmState.RESIZED];

/** Nova's InstanceInvalidState text, naming whichever of vm_state / task_state is wrong. */
function invalidState(action: string, instance: InstanceRecord, allowed: readonly string[]): Conflict {
  return invalidStateOf(action, instance, allowed.includes(instance.vmState) ? 'task_state' : 'vm_state');
}

function parseSpec(row: GuestRow | undefined): GuestSpec | null {
  return row ? (guestSpecOf(row)) : null;
}

/**
 * Validates a migrate or resize and records it (migration `pre-migrating`,
 * server RESIZE/resize_prep, instance action); the operation engine places it
 * after the 202. Anything refused leaves no trace.
 */
export async function startColdMove(
  ctx: ControllerContext, auth: AuthContext, requestId: string, instance: InstanceRecord,
  move: { kind: ColdMoveKind; flavor?: FlavorSnapshot; host?: string },
): Promise<MigrationRow> {
  if (instance.vmState !== VmState.ACTIVE && instance.vmState !== VmState.STOPPED) throw invalidState(move.kind, instance, MOVABLE);
  if (instance.taskState !== null) throw invalidState(move.kind, instance, MOVABLE);
  if (!instance.host) throw new Conflict(`Cannot '${move.kind}' instance ${instance.uuid}: it has no host.`);
  const target = move.flavor ?? instance.flavor;
  if (move.kind === 'resize') {
    if (target.id === instance.flavor.id) throw new BadRequest('When resizing, instances must change flavor!');
    if (target.disk < instance.flavor.disk) throw new BadRequest('Resize error: Unable to resize disk down.');
  }
  let pciRequests;
  try {
    pciRequests = pciRequestsWithFlavor(instance, target, ctx.config.pci.alias);
  } catch (e) {
    throw e instanceof BadRequest ? e : new BadRequest((e as Error).message);
  }
  // Nova checks the new flavor's NUMA topology with the server's image at the resize API: 400 (PCI policy conflict 403).
  if (move.kind === 'resize') numaRequestFor(target, pciRequests, instance.imageProperties);
  const migrationUuid = randomUUID();
  const migration = await ctx.store.transact(async (trx) => {
    const started = await updateInstance(trx, instance.uuid, {
      taskState: TaskState.RESIZE_PREP, oldFlavor: instance.flavor, newFlavor: target,
      requestedHost: move.host ?? null,
    }, { taskState: null, vmState: instance.vmState });
    if (!started) {
      const now = await getInstance(trx, instance.uuid);
      throw invalidState(move.kind, now ?? instance, MOVABLE);
    }
    await takeResizeQuota(trx, instance, target);
    await startAction(trx, { instanceUuid: instance.uuid, action: move.kind, requestId, projectId: auth.projectId, userId: auth.userId });
    return insertMigration(trx, {
      uuid: migrationUuid, instanceUuid: instance.uuid, migrationType: move.kind === 'migrate' ? 'migration' : 'resize',
      status: 'pre-migrating', sourceCompute: instance.host, sourceNode: instance.node ?? instance.host,
      oldFlavorId: instance.flavor.id, newFlavorId: target.id, projectId: instance.projectId, userId: auth.userId,
    });
  }).catch(async (e: unknown) => {
    // An upsize over quota is refused with Nova's 403 and changed nothing (its transaction rolled back).
    throw e instanceof OverQuota ? await quotaExceeded(ctx.store.reader, e) : e;
  });
  serverQueueOf(ctx).enqueue(instance.uuid);
  return migration;
}

function actionOf(migration: MigrationRow): ColdMoveKind {
  return migration.migration_type === 'resize' ? 'resize' : 'migrate';
}

/** Picks and claims the destination, binds the ports there and records both guests, in one transaction. */
async function placeColdMove(ctx: ControllerContext, instance: InstanceRecord, migration: MigrationRow): Promise<'wait' | void> {
  const migrationUuid = migration.uuid;
  const source = instance.host!;
  const target = instance.newFlavor ?? instance.flavor;
  const pciRequests = pciRequestsWithFlavor(instance, target, ctx.config.pci.alias);
  const sameHostAllowed = migration.migration_type === 'resize' && ctx.config.allow_resize_to_same_host;
  const request = resourceRequestFor(target, pciRequests, {
    ...zoneOf(instance),
    ...groupOf(instance),
    ...(sameHostAllowed ? {} : { excludeHosts: [source] }),
    ...(instance.requestedHost ? { onlyHosts: [instance.requestedHost] } : {}),
  }, instance.imageProperties);
  let outcome;
  try {
    outcome = await scheduleAndClaim(ctx, request, { consumer: migrationUuid, instanceUuid: instance.uuid }, async (trx, host, claimed) => {
      const moved = await updateInstance(trx, instance.uuid, { taskState: TaskState.RESIZE_MIGRATING, pciRequests }, { taskState: TaskState.RESIZE_PREP });
      if (!moved) throw new ScheduleAborted('server left resize_prep');
      if (!(await setMigrationStatus(trx, migrationUuid, 'migrating', { expect: ['pre-migrating'], destCompute: host, destNode: host }))) {
        throw new ScheduleAborted('migration no longer pre-migrating');
      }
      await swapMoveClaims(trx, instance.uuid, migrationUuid, source, host);
      const byPort = devicesByPort(claimed);
      const aliasDevices = claimed.filter((c) => !c.requestId.startsWith('port-')).map((c) => c.device);
      const ports = await bindInstancePorts(trx, instance, host, byPort);
      // The destination's own pins and cells (its claim, now under the instance's uuid), never the source's.
      const newSpec = buildGuestSpec(instance, ports, byPort, aliasDevices, target, await guestNumaPlacement(trx, instance, host, target));
      const sourceGuest = await getGuest(trx, instance.uuid, source);
      const oldSpec = parseSpec(sourceGuest) ?? newSpec;
      if (host === source) {
        // One guest row per host: take the old definition down first (see onMoveReport), its disk kept,
        // and a copy of it as it is now, for a revert.
        await setDesiredGuest(trx, instance.uuid, host, 'absent', { ...oldSpec, keepDisks: true, resizeBackup: { migrationId: migrationUuid } });
      } else if (sourceGuest) {
        // The source powers off and uploads the disk first (coldMoveDisk.ts); the destination is
        // instructed once that is done (defineAtDestination), with the disk it is to use.
        await setDesiredGuest(trx, instance.uuid, source, 'shutoff', { ...oldSpec, diskExport: { migrationId: migrationUuid } });
      } else {
        await setDesiredGuest(trx, instance.uuid, host, 'running', newSpec);
      }
    });
  } catch (e) {
    if (e instanceof ScheduleAborted) return;
    throw e;
  }
  if (outcome.placed) {
    ctx.signals.notify(outcome.host);
    if (outcome.host !== source) ctx.signals.notify(source);
    return 'wait';
  }
  ctx.log.info({ server: instance.uuid, reason: outcome.reason }, 'no valid host for a cold move');
  await notPlaced(ctx, instance, migration, `${NO_VALID_HOST} There are not enough hosts available.`, outcome.reason);
}

/** The move could not start (no host, or its placement timed out): the server stays where it was. */
async function notPlaced(ctx: ControllerContext, instance: InstanceRecord, migration: MigrationRow, message: string, details?: string): Promise<void> {
  await ctx.store.transact(async (trx) => {
    const back = await updateInstance(trx, instance.uuid, {
      taskState: null, newFlavor: null, oldFlavor: null, requestedHost: null,
      fault: { code: 500, message, ...(details ? { details } : {}), created: nowIso() },
    }, { taskState: TaskState.RESIZE_PREP });
    if (!back) return;
    await settleResizeQuota(trx, instance, 'old');
    await setMigrationStatus(trx, migration.uuid, 'error', { expect: ['pre-migrating'] });
    await finishAction(trx, instance.uuid, actionOf(migration), 'Error', message);
  });
}

const moveOf = (s: ServerSnapshot, status: string): MigrationRow | null =>
  (s.migration && (MOVE_TYPES as readonly string[]).includes(s.migration.migration_type) && s.migration.status === status ? s.migration : null);
/** The destination's guest while the server moves. */
const destGuest = (s: ServerSnapshot) => guestOn(s, moveOf(s, 'migrating')?.dest_compute);
const targetFlavor = (i: InstanceRecord) => i.newFlavor ?? i.flavor;

/** Same-host resize: the old definition is gone, define the new one. */
async function defineResized(ctx: ControllerContext, s: ServerSnapshot): Promise<void> {
  const { instance } = s;
  const dest = destGuest(s)!.host;
  const db = ctx.store.reader;
  const ports = await getPorts(db, instance.portIds);
  const held = await heldDevicesByPort(db, instance.uuid, ports, dest);
  const numa = await guestNumaPlacement(db, instance, dest, targetFlavor(instance));
  // The pre-resize disk stays kept until confirm or revert.
  await instructWhileInTask(ctx, instance.uuid, TaskState.RESIZE_MIGRATING, dest, 'running', {
    ...buildGuestSpec(instance, ports, held.byPort, held.aliasDevices, targetFlavor(instance), numa),
    resizeBackup: { migrationId: moveOf(s, 'migrating')!.uuid },
  });
}

/**
 * Move to another host, the source guest off and its disk uploaded (or a
 * host without disk data, which uploads nothing): the destination's guest is
 * defined with the new flavor, on the disk that came (spec.diskImport).
 */
async function defineAtDestination(ctx: ControllerContext, s: ServerSnapshot): Promise<void> {
  const { instance } = s;
  const migration = moveOf(s, 'migrating')!;
  const dest = migration.dest_compute!;
  const db = ctx.store.reader;
  const ports = await getPorts(db, instance.portIds);
  const held = await heldDevicesByPort(db, instance.uuid, ports, dest);
  // The destination's own pins and cells (its claim), never the source's.
  const numa = await guestNumaPlacement(db, instance, dest, targetFlavor(instance));
  const spec = buildGuestSpec(instance, ports, held.byPort, held.aliasDevices, targetFlavor(instance), numa);
  const moved = await hasMovedDisk(ctx, instance.uuid, migration.uuid);
  await instructWhileInTask(ctx, instance.uuid, TaskState.RESIZE_MIGRATING, dest, 'running',
    moved ? { ...spec, diskImport: { migrationId: migration.uuid } } : spec);
}

/** A move to another host whose destination waits for the source to be off (and its disk uploaded). */
const destinationWaiting = (s: ServerSnapshot) => {
  const m = moveOf(s, 'migrating');
  return m !== null && m.source_compute !== m.dest_compute && guestOn(s, m.dest_compute) === undefined;
};

/** A stopped server stays stopped on its new host (or back on its old one). */
async function shutOff(ctx: ControllerContext, s: ServerSnapshot, guest: GuestRow): Promise<void> {
  await instructWhileInTask(ctx, s.instance.uuid, s.instance.taskState!, guest.host, 'shutoff', guestSpecOf(guest));
}

/**
 * The disk has moved (or no longer will): the guests on `hosts` keep their
 * state and disks without the disk instructions, so a restarted agent
 * neither uploads again nor, its disk lost, asks for a blob that is gone.
 */
async function diskMoveDone(trx: Unit, instanceUuid: string, migration: MigrationRow, hosts: Array<string | null>): Promise<void> {
  if (migration.source_compute === migration.dest_compute) return;
  for (const host of hosts) {
    const guest = host ? await getGuest(trx, instanceUuid, host) : undefined;
    const spec = guest ? guestSpecOf(guest) : undefined;
    if (!guest || !spec || (!spec.diskExport && !spec.diskImport)) continue;
    const { diskExport: _exported, diskImport: _imported, ...kept } = spec;
    await setDesiredGuest(trx, instanceUuid, guest.host, guest.desired_state as DesiredGuestState, kept);
  }
}

/** The destination guest is up (or shut off, for a stopped server): VERIFY_RESIZE. */
async function moveFinished(ctx: ControllerContext, s: ServerSnapshot): Promise<void> {
  const { instance } = s;
  const migration = moveOf(s, 'migrating')!;
  const guest = destGuest(s)!;
  const up = guest.observed_state === 'running';
  await ctx.store.transact(async (trx) => {
    const done = await updateInstance(trx, instance.uuid, {
      vmState: VmState.RESIZED, taskState: null, powerState: up ? PowerState.RUNNING : PowerState.SHUTDOWN,
      host: guest.host, node: guest.host, availabilityZone: aggregateDirectoryOf(ctx).zoneNameOf(guest.host), flavor: targetFlavor(instance), requestedHost: null,
    }, { taskState: TaskState.RESIZE_MIGRATING });
    if (!done) return;
    await setMigrationStatus(trx, migration.uuid, 'finished', { expect: ['migrating'] });
    await diskMoveDone(trx, instance.uuid, migration, [migration.source_compute, guest.host]);
    if (up) await setPortStatus(trx, instance.portIds, 'ACTIVE');
    await finishAction(trx, instance.uuid, actionOf(migration), 'Success');
  });
}

/**
 * Gives a server its source back: the instance's claims on `dest` are freed
 * (unless `keepDest`: a revert frees them once the destination's guest is
 * gone, as it holds the devices open until then), the migration's move back
 * to the instance and the ports are bound to the source devices again.
 * Returns the source guest's definition (old flavor).
 */
async function restoreSource(
  trx: Unit, instance: InstanceRecord, migration: MigrationRow,
  aliases: ControllerContext['config']['pci']['alias'], opts: { keepDest?: boolean } = {},
): Promise<{ spec: GuestSpec; source: string }> {
  const source = migration.source_compute!;
  const dest = migration.dest_compute!;
  const oldFlavor = instance.oldFlavor ?? instance.flavor;
  // On one host both sets carry the instance's label after the transfer below: the new one goes now.
  if (!opts.keepDest || source === dest) await releaseConsumer(trx, instance.uuid, dest);
  await transferConsumer(trx, migration.uuid, instance.uuid, source);
  const ports = await getPorts(trx, instance.portIds);
  const sourceGuest = source === dest ? undefined : await getGuest(trx, instance.uuid, source);
  const held = await heldDevicesForPorts(trx, instance.uuid, source, ports, parseSpec(sourceGuest));
  const bound = await bindInstancePorts(trx, instance, source, held.byPort);
  await updateInstance(trx, instance.uuid, { pciRequests: pciRequestsWithFlavor(instance, oldFlavor, aliases) });
  // The source's claim is the instance's again: its pins, as the source guest had them.
  const numa = await guestNumaPlacement(trx, instance, source, oldFlavor);
  return { spec: buildGuestSpec(instance, bound, held.byPort, held.aliasDevices, oldFlavor, numa), source };
}

/** The destination guest failed: the server goes to ERROR on its source host and the destination is freed. */
async function failMove(ctx: ControllerContext, instance: InstanceRecord, migration: MigrationRow, error: string): Promise<void> {
  const dest = migration.dest_compute!;
  const notify = new Set<string>([dest]);
  await ctx.store.transact(async (trx) => {
    const failed = await updateInstance(trx, instance.uuid, {
      vmState: VmState.ERROR, taskState: null, powerState: PowerState.NOSTATE, requestedHost: null,
      fault: { code: 500, message: error, created: nowIso() },
    }, { taskState: TaskState.RESIZE_MIGRATING });
    if (!failed) return;
    const destGuest = await getGuest(trx, instance.uuid, dest);
    const { spec, source } = await restoreSource(trx, instance, migration, ctx.config.pci.alias);
    if (source === dest) {
      // The server is back on its old flavor: so is its disk (the pre-resize copy, if one was made).
      await setDesiredGuest(trx, instance.uuid, dest, 'absent', {
        ...spec, keepDisks: true, resizeBackup: { migrationId: migration.uuid, restore: true },
      });
    } else {
      if (destGuest) await setDesiredGuest(trx, instance.uuid, dest, 'absent', guestSpecOf(destGuest));
      // The source keeps its disk and uploads it no more.
      await diskMoveDone(trx, instance.uuid, migration, [source]);
      notify.add(source);
    }
    await updateInstance(trx, instance.uuid, { flavor: instance.oldFlavor ?? instance.flavor, oldFlavor: null, newFlavor: null });
    await settleResizeQuota(trx, instance, 'old');
    await setMigrationStatus(trx, migration.uuid, 'error');
    await finishAction(trx, instance.uuid, actionOf(migration), 'Error', error);
  });
  await dropDiskTransfer(ctx, instance.uuid, migration.uuid);
  for (const h of notify) ctx.signals.notify(h);
}

async function finishedMoveOf(ctx: ControllerContext, action: string, instance: InstanceRecord): Promise<MigrationRow> {
  if (instance.vmState !== VmState.RESIZED || instance.taskState !== null) throw invalidState(action, instance, RESIZED);
  const migration = await latestMigrationOf(ctx.store.reader, instance.uuid, ['finished'], [...MOVE_TYPES]);
  if (!migration) throw new BadRequest('Instance has not been resized.');
  return migration;
}

/** confirmResize: the source guest goes and the migration's (source) claims are freed. */
export async function confirmResize(ctx: ControllerContext, auth: AuthContext, requestId: string, instance: InstanceRecord): Promise<void> {
  const migration = await finishedMoveOf(ctx, 'confirmResize', instance);
  const source = migration.source_compute!;
  const sameHost = source === migration.dest_compute;
  await ctx.store.transact(async (trx) => {
    const done = await updateInstance(trx, instance.uuid, {
      vmState: instance.powerState === PowerState.SHUTDOWN ? VmState.STOPPED : VmState.ACTIVE,
      oldFlavor: null, newFlavor: null,
    }, { vmState: VmState.RESIZED, taskState: null });
    if (!done) throw invalidState('confirmResize', (await getInstance(trx, instance.uuid)) ?? instance, RESIZED);
    await settleResizeQuota(trx, instance, 'new');
    if (!(await setMigrationStatus(trx, migration.uuid, 'confirmed', { expect: ['finished'] }))) {
      throw new Conflict(`Migration ${migration.uuid} is no longer waiting for a confirmation.`);
    }
    await releaseConsumer(trx, migration.uuid);
    const sourceGuest = await getGuest(trx, instance.uuid, source);
    if (sourceGuest && !sameHost) await setDesiredGuest(trx, instance.uuid, source, 'absent', guestSpecOf(sourceGuest));
    // On the same host the guest stays as it is, without its pre-resize disk.
    if (sourceGuest && sameHost) await forgetResizeBackup(trx, sourceGuest);
    await startAction(trx, { instanceUuid: instance.uuid, action: 'confirmResize', requestId, projectId: auth.projectId, userId: auth.userId });
    await finishAction(trx, instance.uuid, 'confirmResize', 'Success');
  });
  // The destination runs on its own copy now: the blob that carried it goes.
  await dropDiskTransfer(ctx, instance.uuid, migration.uuid);
  ctx.signals.notify(source);
}

/** The guest's spec without its resize backup: its agent removes the backup (and nothing else changes). */
async function forgetResizeBackup(trx: Unit, guest: GuestRow): Promise<void> {
  const { resizeBackup, ...kept } = guestSpecOf(guest);
  if (resizeBackup) await setDesiredGuest(trx, guest.instance_uuid, guest.host, guest.desired_state as DesiredGuestState, kept);
}

/** revertResize: the destination is freed and the server comes back on its source with its old flavor. */
export async function revertResize(ctx: ControllerContext, auth: AuthContext, requestId: string, instance: InstanceRecord): Promise<void> {
  const migration = await finishedMoveOf(ctx, 'revertResize', instance);
  const dest = migration.dest_compute!;
  const notify = new Set<string>([dest]);
  await ctx.store.transact(async (trx) => {
    const started = await updateInstance(trx, instance.uuid, { taskState: TaskState.RESIZE_REVERTING }, { vmState: VmState.RESIZED, taskState: null });
    if (!started) throw invalidState('revertResize', (await getInstance(trx, instance.uuid)) ?? instance, RESIZED);
    if (!(await setMigrationStatus(trx, migration.uuid, 'reverting', { expect: ['finished'] }))) {
      throw new Conflict(`Migration ${migration.uuid} is no longer waiting for a confirmation.`);
    }
    const destGuest = await getGuest(trx, instance.uuid, dest);
    // The destination guest runs with its devices until its host removes it: they are freed then (destinationGone).
    const { spec, source } = await restoreSource(trx, instance, migration, ctx.config.pci.alias, { keepDest: true });
    if (source === dest) {
      // The new definition goes, and the disk as it was before the resize comes back for the old one.
      await setDesiredGuest(trx, instance.uuid, dest, 'absent', {
        ...(destGuest ? guestSpecOf(destGuest) : spec), keepDisks: true, resizeBackup: { migrationId: migration.uuid, restore: true },
      });
    } else {
      if (destGuest) await setDesiredGuest(trx, instance.uuid, dest, 'absent', guestSpecOf(destGuest));
      const stopped = instance.powerState === PowerState.SHUTDOWN;
      await setDesiredGuest(trx, instance.uuid, source, stopped ? 'shutoff' : 'running', spec);
      notify.add(source);
    }
    await startAction(trx, { instanceUuid: instance.uuid, action: 'revertResize', requestId, projectId: auth.projectId, userId: auth.userId });
  });
  // The source kept its own disk (only powered off): the blob is not needed to come back.
  await dropDiskTransfer(ctx, instance.uuid, migration.uuid);
  for (const h of notify) ctx.signals.notify(h);
}

const revertOf = (s: ServerSnapshot) => moveOf(s, 'reverting');
const sourceGuest = (s: ServerSnapshot) => guestOn(s, revertOf(s)?.source_compute);
const stoppedBefore = (i: InstanceRecord) => i.powerState === PowerState.SHUTDOWN;
/** Guests of the reverted destination that are gone: their rows go. */
const leftDestGuest = (s: ServerSnapshot) => {
  const source = revertOf(s)?.source_compute;
  return s.guests.find((g) => g.host !== source && g.desired_state === 'absent' && reached(g, 'absent'));
};

/** The source guest cannot come back: ERROR on the source, with its old flavor. */
async function revertFailed(ctx: ControllerContext, s: ServerSnapshot, message: string): Promise<void> {
  const { instance } = s;
  const migration = revertOf(s)!;
  const source = migration.source_compute!;
  const dest = migration.dest_compute!;
  await ctx.store.transact(async (trx) => {
    const failed = await updateInstance(trx, instance.uuid, {
      vmState: VmState.ERROR, taskState: null, powerState: PowerState.NOSTATE, host: source, node: source,
      flavor: instance.oldFlavor ?? instance.flavor, oldFlavor: null, newFlavor: null, fault: { code: 500, message, created: nowIso() },
    }, { taskState: TaskState.RESIZE_REVERTING });
    if (!failed) return;
    await settleResizeQuota(trx, instance, 'old');
    // The server ends on its source: what it still held on the destination (its guest there not gone yet) goes.
    if (dest !== source) await releaseConsumer(trx, instance.uuid, dest);
    await setMigrationStatus(trx, migration.uuid, 'error');
    await finishAction(trx, instance.uuid, 'revertResize', 'Error', message);
  });
  await dropDiskTransfer(ctx, instance.uuid, migration.uuid);
}

/** Same-host revert: the new definition is gone, define the old one again. */
async function defineReverted(ctx: ControllerContext, s: ServerSnapshot): Promise<void> {
  const { instance } = s;
  const source = revertOf(s)!.source_compute!;
  const db = ctx.store.reader;
  const ports = await getPorts(db, instance.portIds);
  const held = await heldDevicesByPort(db, instance.uuid, ports, source);
  const oldFlavor = instance.oldFlavor ?? instance.flavor;
  await instructWhileInTask(ctx, instance.uuid, TaskState.RESIZE_REVERTING, source, 'running',
    buildGuestSpec(instance, ports, held.byPort, held.aliasDevices, oldFlavor, await guestNumaPlacement(db, instance, source, oldFlavor)));
}

/** The reverted destination's guest is gone: its row goes and the devices it held are free now. */
async function destinationGone(ctx: ControllerContext, s: ServerSnapshot): Promise<void> {
  const guest = leftDestGuest(s)!;
  const dest = revertOf(s)!.dest_compute;
  await ctx.store.transact(async (trx) => {
    if (guest.host === dest) await releaseConsumer(trx, s.instance.uuid, guest.host);
    await deleteGuest(trx, s.instance.uuid, guest.host);
  });
}

/** A revert to another host ends once the destination's guest (and with it its claims) is gone. */
const destinationLeft = (s: ServerSnapshot) => {
  const m = revertOf(s);
  return !m || m.dest_compute === m.source_compute || guestOn(s, m.dest_compute) === undefined;
};

async function reverted(ctx: ControllerContext, s: ServerSnapshot): Promise<void> {
  const { instance } = s;
  const migration = revertOf(s)!;
  const source = migration.source_compute!;
  const up = sourceGuest(s)!.observed_state === 'running';
  await ctx.store.transact(async (trx) => {
    const done = await updateInstance(trx, instance.uuid, {
      vmState: up ? VmState.ACTIVE : VmState.STOPPED, taskState: null, powerState: up ? PowerState.RUNNING : PowerState.SHUTDOWN,
      host: source, node: source, availabilityZone: aggregateDirectoryOf(ctx).zoneNameOf(source),
      flavor: instance.oldFlavor ?? instance.flavor, oldFlavor: null, newFlavor: null,
    }, { taskState: TaskState.RESIZE_REVERTING });
    if (!done) return;
    await settleResizeQuota(trx, instance, 'old');
    await setMigrationStatus(trx, migration.uuid, 'reverted', { expect: ['reverting'] });
    if (up) await setPortStatus(trx, instance.portIds, 'ACTIVE');
    await finishAction(trx, instance.uuid, 'revertResize', 'Success');
  });
  // Removed at the revert already; again here for a controller that crashed in between.
  await dropDiskTransfer(ctx, instance.uuid, migration.uuid);
}

/**
 * The source guest of a move to another host is off (or gone): it holds its
 * devices no longer, so a confirm may free them. Until then the move waits in
 * resize_migrating.
 */
const sourceLetGo = (s: ServerSnapshot) => {
  const m = moveOf(s, 'migrating');
  if (!m || m.source_compute === m.dest_compute) return true;
  const g = guestOn(s, m.source_compute);
  return g === undefined || reached(g, 'shutoff') || reached(g, 'absent');
};
/** The source guest could not be powered off. */
const sourceFailed = (s: ServerSnapshot) => {
  const m = moveOf(s, 'migrating');
  return m !== null && m.source_compute !== m.dest_compute && failedOn(guestOn(s, m.source_compute));
};

const settled = (g: GuestRow | undefined) => g !== undefined
  && ((g.desired_state === 'running' && reached(g, 'running')) || (g.desired_state === 'shutoff' && reached(g, 'shutoff')));

export const COLD_MOVE_OPERATION: Operation = {
  action: 'migrate',
  transitions: [
    {
      state: TaskState.RESIZE_PREP, on: 'not placed yet', when: (s) => moveOf(s, 'pre-migrating') !== null && s.instance.host !== null,
      step: (ctx, s) => placeColdMove(ctx, s.instance, moveOf(s, 'pre-migrating')!),
    },
    {
      state: TaskState.RESIZE_MIGRATING, on: 'destination guest failed', when: (s) => failedOn(destGuest(s)),
      step: (ctx, s) => failMove(ctx, s.instance, moveOf(s, 'migrating')!, destGuest(s)!.error!),
    },
    {
      state: TaskState.RESIZE_MIGRATING, on: 'same host: old definition gone',
      when: (s) => destGuest(s)?.desired_state === 'absent' && reached(destGuest(s), 'absent'), step: defineResized,
    },
    {
      state: TaskState.RESIZE_MIGRATING, on: 'a stopped server\'s destination guest running',
      when: (s) => s.instance.vmState === VmState.STOPPED && destGuest(s)?.desired_state === 'running' && reached(destGuest(s), 'running'),
      step: (ctx, s) => shutOff(ctx, s, destGuest(s)!),
    },
    {
      state: TaskState.RESIZE_MIGRATING, on: 'source guest failed to power off', when: sourceFailed,
      step: (ctx, s) => failMove(ctx, s.instance, moveOf(s, 'migrating')!,
        `Powering off the guest on ${moveOf(s, 'migrating')!.source_compute} failed: ${guestOn(s, moveOf(s, 'migrating')!.source_compute)!.error}`),
    },
    {
      state: TaskState.RESIZE_MIGRATING, on: 'source guest off, its disk uploaded: destination instructed',
      when: (s) => destinationWaiting(s) && sourceLetGo(s), step: defineAtDestination,
    },
    {
      state: TaskState.RESIZE_MIGRATING, on: 'destination guest up (or shut off), source guest off',
      when: (s) => settled(destGuest(s)) && sourceLetGo(s), step: moveFinished,
    },
    {
      state: TaskState.RESIZE_REVERTING, on: 'the destination\'s guest gone', when: (s) => leftDestGuest(s) !== undefined,
      step: destinationGone,
    },
    {
      state: TaskState.RESIZE_REVERTING, on: 'source guest failed', when: (s) => failedOn(sourceGuest(s)),
      step: (ctx, s) => revertFailed(ctx, s, sourceGuest(s)!.error!),
    },
    {
      state: TaskState.RESIZE_REVERTING, on: 'same host: new definition gone',
      when: (s) => sourceGuest(s)?.desired_state === 'absent' && reached(sourceGuest(s), 'absent'), step: defineReverted,
    },
    {
      state: TaskState.RESIZE_REVERTING, on: 'a stopped server\'s source guest running',
      when: (s) => stoppedBefore(s.instance) && sourceGuest(s)?.desired_state === 'running' && reached(sourceGuest(s), 'running'),
      step: (ctx, s) => shutOff(ctx, s, sourceGuest(s)!),
    },
    {
      state: TaskState.RESIZE_REVERTING, on: 'source guest back, destination guest gone',
      when: (s) => settled(sourceGuest(s)) && destinationLeft(s), step: reverted,
    },
  ],
  async onDeadline(ctx, s, why) {
    const { instance } = s;
    if (instance.taskState === TaskState.RESIZE_PREP) {
      const m = moveOf(s, 'pre-migrating');
      if (m) return notPlaced(ctx, instance, m, why);
      await ctx.store.transact((trx) => updateInstance(trx, instance.uuid, { taskState: null, fault: { code: 500, message: why, created: nowIso() } },
        { taskState: TaskState.RESIZE_PREP }));
      return;
    }
    if (instance.taskState === TaskState.RESIZE_MIGRATING) {
      const m = moveOf(s, 'migrating');
      if (m) return failMove(ctx, instance, m, why);
    }
    if (instance.taskState === TaskState.RESIZE_REVERTING && revertOf(s)) return revertFailed(ctx, s, why);
    await ctx.store.transact((trx) => updateInstance(trx, instance.uuid, {
      vmState: VmState.ERROR, taskState: null, fault: { code: 500, message: why, created: nowIso() },
    }, { taskState: instance.taskState }));
  },
};
