import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { BadRequest, Conflict } from '../../domain/errors.js';
import { PowerState, type GuestSpec } from '../../domain/guest/spec.js';
import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import { finishAction, startAction } from '../../storage/repositories/actions.js';
import { releaseConsumer, transferConsumer } from '../../storage/repositories/claims.js';
import { deleteGuest, getGuest, setDesiredGuest, type GuestRow } from '../../storage/repositories/guests.js';
import {
  getInstance, instancesInTaskState, updateInstance, type FlavorSnapshot, type InstanceRecord,
} from '../../storage/repositories/instances.js';
import { nowIso } from '../../storage/repositories/json.js';
import {
  getMigration, insertMigration, latestMigrationOf, setMigrationStatus, type MigrationRow,
} from '../../storage/repositories/migrations.js';
import { getPorts, setPortStatus } from '../../storage/repositories/ports.js';
import type { Database } from '../../storage/schema.js';
import type { Dialect } from '../../storage/db.js';
import type { AuthContext, ControllerContext } from '../context.js';
import { buildGuestSpec } from '../services/guestSpecs.js';
import { NO_VALID_HOST, ScheduleAborted, scheduleAndClaim } from '../services/scheduler.js';
import { swapMoveClaims } from './coldMoveClaims.js';
import { heldDevicesForPorts, pciRequestsWithFlavor } from './coldMoveDevices.js';
import { bindInstancePorts, devicesByPort, heldDevicesByPort } from './portBindings.js';
import { registerReportHandler } from './reports.js';
import { resourceRequestFor } from './resources.js';

/**
 * Cold migrate and resize (Nova 26 semantics):
 *
 * | step                                   | vm_state       | task_state        | status         | migration     |
 * |----------------------------------------|----------------|-------------------|----------------|---------------|
 * | API accepted                           | active/stopped | resize_prep       | RESIZE         | pre-migrating |
 * | destination claimed, guests recorded   | active/stopped | resize_migrating  | RESIZE         | migrating     |
 * | agent: destination guest up            | resized        | –                 | VERIFY_RESIZE  | finished      |
 * | no valid host                          | unchanged      | –                 | ACTIVE/SHUTOFF | error (fault) |
 * | agent: destination guest failed        | error          | –                 | ERROR          | error         |
 * | confirmResize                          | active/stopped | –                 | ACTIVE/SHUTOFF | confirmed     |
 * | revertResize accepted                  | resized        | resize_reverting  | REVERT_RESIZE  | reverting     |
 * | agent: source guest back               | active/stopped | –                 | ACTIVE/SHUTOFF | reverted      |
 *
 * Claims: the destination is claimed under the migration's uuid and the
 * labels are then swapped in the same transaction, so in VERIFY_RESIZE the
 * source devices belong to the migration and the destination's to the
 * instance; confirm frees the migration's, revert frees the instance's on the
 * destination and gives the migration's back. The source guest is kept
 * powered off until then. On the same host there is one guest row, so the
 * guest is removed and defined again with the new (or, on revert, old)
 * definition.
 */

export type ColdMoveKind = 'migrate' | 'resize';

const MOVE_TYPES = ['migration', 'resize'] as const;

const MOVABLE: readonly string[] = [VmState.ACTIVE, VmState.STOPPED];
const RESIZED: readonly string[] = [VmState.RESIZED];

/** Nova's InstanceInvalidState text, naming whichever of vm_state / task_state is wrong. */
function invalidState(action: string, instance: InstanceRecord, allowed: readonly string[]): Conflict {
  const [attr, state] = allowed.includes(instance.vmState) ? ['task_state', instance.taskState] : ['vm_state', instance.vmState];
  return new Conflict(`Cannot '${action}' instance ${instance.uuid} while it is in ${attr} ${state}`);
}

function parseSpec(row: GuestRow | undefined): GuestSpec | null {
  return row ? (JSON.parse(row.spec) as GuestSpec) : null;
}

/**
 * Validates a migrate or resize and records it (migration `pre-migrating`,
 * server RESIZE/resize_prep, instance action); placement runs after the 202
 * in `placeColdMove`. Anything refused leaves no trace.
 */
export async function startColdMove(
  ctx: ControllerContext, auth: AuthContext, requestId: string, instance: InstanceRecord,
  move: { kind: ColdMoveKind; flavor?: FlavorSnapshot; host?: string },
): Promise<MigrationRow> {
  const { db } = ctx.store;
  if (instance.vmState !== VmState.ACTIVE && instance.vmState !== VmState.STOPPED) throw invalidState(move.kind, instance, MOVABLE);
  if (instance.taskState !== null) throw invalidState(move.kind, instance, MOVABLE);
  if (!instance.host) throw new Conflict(`Cannot '${move.kind}' instance ${instance.uuid}: it has no host.`);
  const target = move.flavor ?? instance.flavor;
  if (move.kind === 'resize') {
    if (target.id === instance.flavor.id) throw new BadRequest('When resizing, instances must change flavor!');
    if (target.disk < instance.flavor.disk) throw new BadRequest('Resize error: Unable to resize disk down.');
  }
  try {
    pciRequestsWithFlavor(instance, target, ctx.config.pci.alias);
  } catch (e) {
    throw e instanceof BadRequest ? e : new BadRequest((e as Error).message);
  }
  const migrationUuid = randomUUID();
  return ctx.store.transact(async (trx) => {
    const started = await updateInstance(trx, instance.uuid, {
      taskState: TaskState.RESIZE_PREP, oldFlavor: instance.flavor, newFlavor: target,
      requestedHost: move.host ?? null,
    }, { taskState: null, vmState: instance.vmState });
    if (!started) {
      const now = await getInstance(trx, instance.uuid);
      throw invalidState(move.kind, now ?? instance, MOVABLE);
    }
    await startAction(trx, { instanceUuid: instance.uuid, action: move.kind, requestId, projectId: auth.projectId, userId: auth.userId });
    return insertMigration(trx, {
      uuid: migrationUuid, instanceUuid: instance.uuid, migrationType: move.kind === 'migrate' ? 'migration' : 'resize',
      status: 'pre-migrating', sourceCompute: instance.host, sourceNode: instance.node ?? instance.host,
      oldFlavorId: instance.flavor.id, newFlavorId: target.id, projectId: instance.projectId, userId: auth.userId,
    });
  });
}

function actionOf(migration: MigrationRow): ColdMoveKind {
  return migration.migration_type === 'resize' ? 'resize' : 'migrate';
}

/** Picks and claims the destination, binds the ports there and records both guests, in one transaction. */
export async function placeColdMove(ctx: ControllerContext, migrationUuid: string): Promise<void> {
  const { db } = ctx.store;
  const migration = await getMigration(db, migrationUuid);
  if (!migration || migration.status !== 'pre-migrating') return;
  const instance = await getInstance(db, migration.instance_uuid);
  if (!instance || instance.taskState !== TaskState.RESIZE_PREP || !instance.host) return;
  const source = instance.host;
  const target = instance.newFlavor ?? instance.flavor;
  const pciRequests = pciRequestsWithFlavor(instance, target, ctx.config.pci.alias);
  const sameHostAllowed = migration.migration_type === 'resize' && ctx.config.allow_resize_to_same_host;
  const request = resourceRequestFor(target, pciRequests, {
    ...(sameHostAllowed ? {} : { excludeHosts: [source] }),
    ...(instance.requestedHost ? { onlyHosts: [instance.requestedHost] } : {}),
  });
  let outcome;
  try {
    outcome = await scheduleAndClaim(ctx, request, { consumer: migrationUuid, instanceUuid: instance.uuid }, async (trx, host, claimed) => {
      const moved = await updateInstance(trx, instance.uuid, { taskState: TaskState.RESIZE_MIGRATING, pciRequests }, { taskState: TaskState.RESIZE_PREP });
      if (!moved) throw new ScheduleAborted('server left resize_prep');
      await setMigrationStatus(trx, migrationUuid, 'migrating', { expect: ['pre-migrating'], destCompute: host, destNode: host });
      await swapMoveClaims(trx, instance.uuid, migrationUuid, source, host);
      const byPort = devicesByPort(claimed);
      const aliasDevices = claimed.filter((c) => !c.requestId.startsWith('port-')).map((c) => c.device);
      const ports = await bindInstancePorts(trx, instance, host, byPort);
      const newSpec = buildGuestSpec(instance, ports, byPort, aliasDevices, target);
      const sourceGuest = await getGuest(trx, instance.uuid, source);
      const oldSpec = parseSpec(sourceGuest) ?? newSpec;
      if (host === source) {
        // One guest row per host: take the old definition down first (see onMoveReport).
        await setDesiredGuest(trx, instance.uuid, host, 'absent', oldSpec);
      } else {
        await setDesiredGuest(trx, instance.uuid, host, 'running', newSpec);
        if (sourceGuest) await setDesiredGuest(trx, instance.uuid, source, 'shutoff', oldSpec);
      }
    });
  } catch (e) {
    if (e instanceof ScheduleAborted) return;
    throw e;
  }
  if (outcome.placed) {
    ctx.signals.notify(outcome.host);
    if (outcome.host !== source) ctx.signals.notify(source);
    return;
  }
  ctx.log.info({ server: instance.uuid, reason: outcome.reason }, 'no valid host for a cold move');
  const message = `${NO_VALID_HOST} There are not enough hosts available.`;
  await ctx.store.transact(async (trx) => {
    const back = await updateInstance(trx, instance.uuid, {
      taskState: null, newFlavor: null, oldFlavor: null, requestedHost: null,
      fault: { code: 500, message, details: outcome.reason, created: nowIso() },
    }, { taskState: TaskState.RESIZE_PREP });
    if (!back) return;
    await setMigrationStatus(trx, migrationUuid, 'error', { expect: ['pre-migrating'] });
    await finishAction(trx, instance.uuid, actionOf(migration), 'Error', message);
  });
}

/** Agent reports while the server moves (task resize_migrating). */
async function onMoveReport(ctx: ControllerContext, instance: InstanceRecord, guest: GuestRow): Promise<void> {
  const { db } = ctx.store;
  const migration = await latestMigrationOf(db, instance.uuid, ['migrating'], [...MOVE_TYPES]);
  if (!migration || guest.host !== migration.dest_compute) return;
  const dest = guest.host;
  if (guest.error) {
    await failMove(ctx, instance, migration, guest.error);
    return;
  }
  const target = instance.newFlavor ?? instance.flavor;
  if (guest.desired_state === 'absent' && guest.observed_state === 'absent') {
    // Same-host resize: the old definition is gone, define the new one.
    const ports = await getPorts(db, instance.portIds);
    const held = await heldDevicesByPort(db, instance.uuid, ports, dest);
    await setDesiredGuest(db, instance.uuid, dest, 'running', buildGuestSpec(instance, ports, held.byPort, held.aliasDevices, target));
    ctx.signals.notify(dest);
    return;
  }
  if (guest.desired_state === 'running' && guest.observed_state === 'running' && instance.vmState === VmState.STOPPED) {
    // A stopped server stays stopped on its new host.
    await setDesiredGuest(db, instance.uuid, dest, 'shutoff', JSON.parse(guest.spec));
    ctx.signals.notify(dest);
    return;
  }
  const up = guest.desired_state === 'running' && guest.observed_state === 'running';
  const down = guest.desired_state === 'shutoff' && guest.observed_state === 'shutoff';
  if (!up && !down) return;
  await ctx.store.transact(async (trx) => {
    const done = await updateInstance(trx, instance.uuid, {
      vmState: VmState.RESIZED, taskState: null, powerState: up ? PowerState.RUNNING : PowerState.SHUTDOWN,
      host: dest, node: dest, flavor: target, requestedHost: null,
    }, { taskState: TaskState.RESIZE_MIGRATING });
    if (!done) return;
    await setMigrationStatus(trx, migration.uuid, 'finished', { expect: ['migrating'] });
    if (up) await setPortStatus(trx, instance.portIds, 'ACTIVE');
    await finishAction(trx, instance.uuid, actionOf(migration), 'Success');
  });
}

/**
 * Gives a server its source back: the instance's claims on `dest` are freed,
 * the migration's move back to the instance and the ports are bound to the
 * source devices again. Returns the source guest's definition (old flavor).
 */
async function restoreSource(
  trx: Kysely<Database>, dialect: Dialect, instance: InstanceRecord, migration: MigrationRow,
  aliases: ControllerContext['config']['pci']['alias'],
): Promise<{ spec: GuestSpec; source: string }> {
  const source = migration.source_compute!;
  const dest = migration.dest_compute!;
  const oldFlavor = instance.oldFlavor ?? instance.flavor;
  await releaseConsumer(trx, dialect, instance.uuid, dest);
  await transferConsumer(trx, migration.uuid, instance.uuid, source);
  const ports = await getPorts(trx, instance.portIds);
  const sourceGuest = source === dest ? undefined : await getGuest(trx, instance.uuid, source);
  const held = await heldDevicesForPorts(trx, instance.uuid, source, ports, parseSpec(sourceGuest));
  const bound = await bindInstancePorts(trx, instance, source, held.byPort);
  await updateInstance(trx, instance.uuid, { pciRequests: pciRequestsWithFlavor(instance, oldFlavor, aliases) });
  return { spec: buildGuestSpec(instance, bound, held.byPort, held.aliasDevices, oldFlavor), source };
}

/** The destination guest failed: the server goes to ERROR on its source host and the destination is freed. */
async function failMove(ctx: ControllerContext, instance: InstanceRecord, migration: MigrationRow, error: string): Promise<void> {
  const { db, dialect } = ctx.store;
  const dest = migration.dest_compute!;
  const notify = new Set<string>([dest]);
  await ctx.store.transact(async (trx) => {
    const failed = await updateInstance(trx, instance.uuid, {
      vmState: VmState.ERROR, taskState: null, powerState: PowerState.NOSTATE, requestedHost: null,
      fault: { code: 500, message: error, created: nowIso() },
    }, { taskState: TaskState.RESIZE_MIGRATING });
    if (!failed) return;
    const destGuest = await getGuest(trx, instance.uuid, dest);
    const { spec, source } = await restoreSource(trx, dialect, instance, migration, ctx.config.pci.alias);
    if (source === dest) {
      await setDesiredGuest(trx, instance.uuid, dest, 'absent', spec);
    } else {
      if (destGuest) await setDesiredGuest(trx, instance.uuid, dest, 'absent', JSON.parse(destGuest.spec));
      notify.add(source);
    }
    await updateInstance(trx, instance.uuid, { flavor: instance.oldFlavor ?? instance.flavor, oldFlavor: null, newFlavor: null });
    await setMigrationStatus(trx, migration.uuid, 'error');
    await finishAction(trx, instance.uuid, actionOf(migration), 'Error', error);
  });
  for (const h of notify) ctx.signals.notify(h);
}

async function finishedMoveOf(ctx: ControllerContext, action: string, instance: InstanceRecord): Promise<MigrationRow> {
  if (instance.vmState !== VmState.RESIZED || instance.taskState !== null) throw invalidState(action, instance, RESIZED);
  const migration = await latestMigrationOf(ctx.store.db, instance.uuid, ['finished'], [...MOVE_TYPES]);
  if (!migration) throw new BadRequest('Instance has not been resized.');
  return migration;
}

/** confirmResize: the source guest goes and the migration's (source) claims are freed. */
export async function confirmResize(ctx: ControllerContext, auth: AuthContext, requestId: string, instance: InstanceRecord): Promise<void> {
  const { db, dialect } = ctx.store;
  const migration = await finishedMoveOf(ctx, 'confirmResize', instance);
  const source = migration.source_compute!;
  const sameHost = source === migration.dest_compute;
  await ctx.store.transact(async (trx) => {
    const done = await updateInstance(trx, instance.uuid, {
      vmState: instance.powerState === PowerState.SHUTDOWN ? VmState.STOPPED : VmState.ACTIVE,
      oldFlavor: null, newFlavor: null,
    }, { vmState: VmState.RESIZED, taskState: null });
    if (!done) throw invalidState('confirmResize', (await getInstance(trx, instance.uuid)) ?? instance, RESIZED);
    if (!(await setMigrationStatus(trx, migration.uuid, 'confirmed', { expect: ['finished'] }))) {
      throw new Conflict(`Migration ${migration.uuid} is no longer waiting for a confirmation.`);
    }
    await releaseConsumer(trx, dialect, migration.uuid);
    const sourceGuest = sameHost ? undefined : await getGuest(trx, instance.uuid, source);
    if (sourceGuest) await setDesiredGuest(trx, instance.uuid, source, 'absent', JSON.parse(sourceGuest.spec));
    await startAction(trx, { instanceUuid: instance.uuid, action: 'confirmResize', requestId, projectId: auth.projectId, userId: auth.userId });
    await finishAction(trx, instance.uuid, 'confirmResize', 'Success');
  });
  if (!sameHost) ctx.signals.notify(source);
}

/** revertResize: the destination is freed and the server comes back on its source with its old flavor. */
export async function revertResize(ctx: ControllerContext, auth: AuthContext, requestId: string, instance: InstanceRecord): Promise<void> {
  const { db, dialect } = ctx.store;
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
    const { spec, source } = await restoreSource(trx, dialect, instance, migration, ctx.config.pci.alias);
    if (source === dest) {
      await setDesiredGuest(trx, instance.uuid, dest, 'absent', destGuest ? JSON.parse(destGuest.spec) : spec);
    } else {
      if (destGuest) await setDesiredGuest(trx, instance.uuid, dest, 'absent', JSON.parse(destGuest.spec));
      const stopped = instance.powerState === PowerState.SHUTDOWN;
      await setDesiredGuest(trx, instance.uuid, source, stopped ? 'shutoff' : 'running', spec);
      notify.add(source);
    }
    await startAction(trx, { instanceUuid: instance.uuid, action: 'revertResize', requestId, projectId: auth.projectId, userId: auth.userId });
  });
  for (const h of notify) ctx.signals.notify(h);
}

/** Agent reports while a resize is reverted (task resize_reverting). */
async function onRevertReport(ctx: ControllerContext, instance: InstanceRecord, guest: GuestRow): Promise<void> {
  const { db } = ctx.store;
  const migration = await latestMigrationOf(db, instance.uuid, ['reverting'], [...MOVE_TYPES]);
  if (!migration) return;
  const source = migration.source_compute!;
  const stopped = instance.powerState === PowerState.SHUTDOWN;
  if (guest.host !== source) {
    if (guest.observed_state === 'absent' && guest.desired_state === 'absent') await deleteGuest(db, instance.uuid, guest.host);
    return;
  }
  const oldFlavor = instance.oldFlavor ?? instance.flavor;
  if (guest.error) {
    await ctx.store.transact(async (trx) => {
      const failed = await updateInstance(trx, instance.uuid, {
        vmState: VmState.ERROR, taskState: null, powerState: PowerState.NOSTATE, host: source, node: source,
        flavor: oldFlavor, oldFlavor: null, newFlavor: null, fault: { code: 500, message: guest.error!, created: nowIso() },
      }, { taskState: TaskState.RESIZE_REVERTING });
      if (!failed) return;
      await setMigrationStatus(trx, migration.uuid, 'error');
      await finishAction(trx, instance.uuid, 'revertResize', 'Error', guest.error);
    });
    return;
  }
  if (guest.desired_state === 'absent' && guest.observed_state === 'absent') {
    // Same-host revert: define the old guest again.
    const ports = await getPorts(db, instance.portIds);
    const held = await heldDevicesByPort(db, instance.uuid, ports, source);
    await setDesiredGuest(db, instance.uuid, source, 'running', buildGuestSpec(instance, ports, held.byPort, held.aliasDevices, oldFlavor));
    ctx.signals.notify(source);
    return;
  }
  if (guest.desired_state === 'running' && guest.observed_state === 'running' && stopped) {
    await setDesiredGuest(db, instance.uuid, source, 'shutoff', JSON.parse(guest.spec));
    ctx.signals.notify(source);
    return;
  }
  const up = guest.desired_state === 'running' && guest.observed_state === 'running';
  const down = guest.desired_state === 'shutoff' && guest.observed_state === 'shutoff';
  if (!up && !down) return;
  await ctx.store.transact(async (trx) => {
    const done = await updateInstance(trx, instance.uuid, {
      vmState: up ? VmState.ACTIVE : VmState.STOPPED, taskState: null, powerState: up ? PowerState.RUNNING : PowerState.SHUTDOWN,
      host: source, node: source, flavor: oldFlavor, oldFlavor: null, newFlavor: null,
    }, { taskState: TaskState.RESIZE_REVERTING });
    if (!done) return;
    await setMigrationStatus(trx, migration.uuid, 'reverted', { expect: ['reverting'] });
    if (up) await setPortStatus(trx, instance.portIds, 'ACTIVE');
    await finishAction(trx, instance.uuid, 'revertResize', 'Success');
  });
}

registerReportHandler(TaskState.RESIZE_MIGRATING, onMoveReport);
registerReportHandler(TaskState.RESIZE_REVERTING, onRevertReport);

/** After a controller restart: moves accepted but not yet placed are placed now. */
export async function resumeColdMoves(ctx: ControllerContext): Promise<void> {
  for (const instance of await instancesInTaskState(ctx.store.db, TaskState.RESIZE_PREP)) {
    const migration = await latestMigrationOf(ctx.store.db, instance.uuid, ['pre-migrating'], [...MOVE_TYPES]);
    if (!migration) continue;
    await placeColdMove(ctx, migration.uuid).catch((err) => ctx.log.error({ err, server: instance.uuid }, 'cold move placement failed'));
  }
}
