/**
 * Rebuild (Nova's `rebuild`): the same host, the same claims, devices and
 * port bindings, a new image. The guest is defined again from the server's
 * spec with the new image_ref and started (a stopped server is then shut off
 * again, as Nova does).
 *
 *   task_state                   | observation                      | step
 *   rebuilding (API, image_ref   | –                                | rebuild_block_device_mapping (no volumes:
 *     already the new image)     |                                  |   nothing to map)
 *   rebuild_block_device_mapping | –                                | rebuild_spawning; the host told: guest running,
 *                                |                                  |   spec with the new image and a rebuild id
 *   rebuild_spawning             | a stopped server's guest running | the host told: shut off (rebuild id cleared)
 *   rebuild_spawning             | guest in its final state         | vm_state active (stopped), task none, new
 *                                |                                  |   launched_at, rebuild id cleared
 *   rebuild_spawning             | guest failed on the host         | vm_state error, task none, fault
 *   deadline                     |                                  | as a failure
 *
 * Evacuate also spawns in rebuild_spawning (Nova's evacuate is a rebuild on
 * another host): REBUILD_OPERATION owns the three task states and hands a
 * server with an evacuation in progress to evacuate.ts's rows.
 */
import { randomUUID } from 'node:crypto';
import { PowerState, type GuestSpec } from '../../domain/guest/spec.js';
import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import type { DesiredGuestState } from '../../protocol/agentProtocol.js';
import { finishAction, startAction } from '../../storage/repositories/actions.js';
import { guestSpecOf, setDesiredGuest } from '../../storage/repositories/guests.js';
import { getInstance, updateInstance, type InstanceRecord } from '../../storage/repositories/instances.js';
import { nowIso } from '../../storage/repositories/json.js';
import type { ControllerContext } from '../context.js';
import { serverQueueOf } from '../operations/serverQueue.js';
import { answered, ownGuest, reached, type Operation, type ServerSnapshot, type Transition } from '../operations/transitions.js';
import { EVACUATE_OPERATION } from './evacuate.js';
import { currentGuest, invalidState, requireState, type Requester } from './power.js';
import { finishRebuildSpawn } from './rebuildSpawned.js';
import { checkNumaRebuild } from '../../domain/numa/rebuildCheck.js';
import { instructWhileInTask } from './stepInstruction.js';

export const REBUILDABLE_VM_STATES = [VmState.ACTIVE, VmState.STOPPED, VmState.ERROR] as const;

/** The spec without its one-shot instructions (what stays on the guest row once they are done). */
export function settledSpec(spec: GuestSpec): GuestSpec {
  const { rebuild: _rebuild, snapshot: _snapshot, diskExport: _export, diskImport: _import, ...rest } = spec;
  return rest;
}

/** Accepts a rebuild (nothing changes when it is refused): task rebuilding, the new image recorded. */
export async function startRebuild(
  ctx: ControllerContext, who: Requester, instance: InstanceRecord,
  change: { imageRef: string; name?: string; /** The new image's hw_* properties. */ imageProperties?: Record<string, string> },
): Promise<InstanceRecord> {
  requireState('rebuild', instance, REBUILDABLE_VM_STATES);
  // The claims and pins stay: another image must not ask for another NUMA topology (Nova's 400).
  if (change.imageRef !== instance.imageRef && change.imageProperties) {
    checkNumaRebuild(instance.flavor, instance.imageProperties, change.imageProperties);
  }
  // A server in ERROR that never reached a host has no guest to rebuild.
  await currentGuest(ctx.store.reader, instance).catch(() => { throw invalidState('rebuild', instance); });
  const rebuilt = await ctx.store.transact(async (trx) => {
    const moved = await updateInstance(trx, instance.uuid, {
      taskState: TaskState.REBUILDING, imageRef: change.imageRef, ...(change.name !== undefined ? { name: change.name } : {}),
    }, { taskState: null, vmState: instance.vmState });
    if (!moved) throw invalidState('rebuild', (await getInstance(trx, instance.uuid)) ?? instance);
    await startAction(trx, { instanceUuid: instance.uuid, action: 'rebuild', ...who });
    return (await getInstance(trx, instance.uuid))!;
  });
  serverQueueOf(ctx).enqueue(instance.uuid);
  return rebuilt;
}

const finalState = (s: ServerSnapshot): DesiredGuestState => (s.instance.vmState === VmState.STOPPED ? 'shutoff' : 'running');

/** No volumes here: the block device mapping step is immediate. */
async function mapBlockDevices(ctx: ControllerContext, s: ServerSnapshot): Promise<void> {
  await ctx.store.transact((trx) => updateInstance(trx, s.instance.uuid,
    { taskState: TaskState.REBUILD_BLOCK_DEVICE_MAPPING }, { taskState: TaskState.REBUILDING }));
}

/** The host is told to define the guest again from the new image, in the same transaction as the task state moves. */
async function spawnRebuilt(ctx: ControllerContext, s: ServerSnapshot): Promise<'wait' | void> {
  const { instance } = s;
  const guest = ownGuest(s);
  if (!guest) return rebuildFailed(ctx, s, `Instance ${instance.uuid} has no guest on a compute host.`);
  const spec: GuestSpec = { ...settledSpec(guestSpecOf(guest)), imageRef: instance.imageRef, displayName: instance.name, rebuild: { id: randomUUID() } };
  const written = await ctx.store.transact(async (trx) => {
    if (!(await updateInstance(trx, instance.uuid, { taskState: TaskState.REBUILD_SPAWNING },
      { taskState: TaskState.REBUILD_BLOCK_DEVICE_MAPPING }))) return false;
    await setDesiredGuest(trx, instance.uuid, guest.host, 'running', spec);
    return true;
  });
  if (!written) return;
  ctx.signals.notify(guest.host);
  return 'wait';
}

async function shutOffRebuilt(ctx: ControllerContext, s: ServerSnapshot): Promise<void> {
  const guest = ownGuest(s)!;
  await instructWhileInTask(ctx, s.instance.uuid, TaskState.REBUILD_SPAWNING, guest.host, 'shutoff', settledSpec(guestSpecOf(guest)));
}

async function rebuilt(ctx: ControllerContext, s: ServerSnapshot): Promise<void> {
  const { instance } = s;
  const guest = ownGuest(s)!;
  const stopped = finalState(s) === 'shutoff';
  const spec = guestSpecOf(guest);
  await ctx.store.transact(async (trx) => {
    if (!(await finishRebuildSpawn(trx, instance, stopped))) return;
    // The rebuild instruction is done: the guest row keeps the plain spec (a replay must not rebuild again).
    if (spec.rebuild) await setDesiredGuest(trx, instance.uuid, guest.host, finalState(s), settledSpec(spec));
    await finishAction(trx, instance.uuid, 'rebuild', 'Success');
  });
}

/** Nova: a failed rebuild leaves the server in ERROR on its host, claims and bindings as they were. */
async function rebuildFailed(ctx: ControllerContext, s: ServerSnapshot, message: string): Promise<void> {
  const { instance } = s;
  ctx.log.warn({ server: instance.uuid, error: message }, 'rebuild failed');
  await ctx.store.transact(async (trx) => {
    const failed = await updateInstance(trx, instance.uuid, {
      vmState: VmState.ERROR, taskState: null, powerState: PowerState.NOSTATE, fault: { code: 500, message, created: nowIso() },
    }, { taskState: instance.taskState });
    if (failed) await finishAction(trx, instance.uuid, 'rebuild', 'Error', message);
  });
}

/** An evacuation owns rebuild_spawning while its migration is open (evacuate.ts). */
function evacuating(s: ServerSnapshot): boolean {
  const m = s.migration;
  return m !== null && m.migration_type === 'evacuation' && (m.status === 'accepted' || m.status === 'pre-migrating');
}

const REBUILD_ROWS: Transition[] = [
  { state: TaskState.REBUILDING, on: 'accepted', when: () => true, step: mapBlockDevices },
  { state: TaskState.REBUILD_BLOCK_DEVICE_MAPPING, on: 'no volumes to map', when: () => true, step: spawnRebuilt },
  {
    state: TaskState.REBUILD_SPAWNING, on: 'a stopped server\'s rebuilt guest running',
    when: (s) => s.instance.vmState === VmState.STOPPED && reached(ownGuest(s), 'running'), step: shutOffRebuilt,
  },
  { state: TaskState.REBUILD_SPAWNING, on: 'rebuilt guest in its final state', when: (s) => reached(ownGuest(s), finalState(s)), step: rebuilt },
  {
    state: TaskState.REBUILD_SPAWNING, on: 'rebuilt guest failed on its host', when: (s) => answered(ownGuest(s)),
    step: (ctx, s) => {
      const g = ownGuest(s)!;
      return rebuildFailed(ctx, s, g.error ?? `guest reached ${g.observed_state ?? 'nothing'} instead of ${finalState(s)}`);
    },
  },
];

/** Rebuild's rows, and evacuate's for a server being evacuated (both spawn in rebuild_spawning). */
export const REBUILD_OPERATION: Operation = {
  action: 'rebuild',
  transitions: [
    ...EVACUATE_OPERATION.transitions.map((t) => ({ ...t, when: (s: ServerSnapshot) => evacuating(s) && t.when(s) })),
    ...REBUILD_ROWS.map((t) => ({ ...t, when: (s: ServerSnapshot) => !evacuating(s) && t.when(s) })),
  ],
  onDeadline: (ctx, s, why) => (evacuating(s) ? EVACUATE_OPERATION.onDeadline(ctx, s, why) : rebuildFailed(ctx, s, why)),
};
