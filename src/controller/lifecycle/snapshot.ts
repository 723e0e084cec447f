/**
 * createImage (Nova's snapshot): the server's disk recorded as an image in
 * the image API, owned by the server's project. The server keeps its
 * vm_state, host, claims and port bindings; a running guest keeps running
 * with its devices (as Nova's live snapshot).
 *
 *   task_state             | observation                        | step
 *   image_snapshot_pending | (API: image queued, host told to   | image_snapshot (the compute has it)
 *                          |  snapshot: spec.snapshot = image)  |
 *   image_snapshot         | guest answered in its state        | image_pending_upload, image saving
 *   image_snapshot         | guest failed                       | task none, image deleted, action error
 *   image_pending_upload   | –                                  | image_uploading
 *   image_uploading        | –                                  | image active, task none, the snapshot
 *                          |                                    |   instruction cleared from the guest row
 *   deadline               |                                    | as a failure
 *
 * The image id travels in the guest's spec (spec.snapshot.imageId), so every
 * step finds it in the snapshot the engine reads. A host with disk data (a
 * libvirt host) uploads the flattened disk as the image's data before it
 * reports the guest (receiveSnapshotData: the image goes queued → saving →
 * active then, as a Glance upload does); a host without (the simulator)
 * leaves the image a record, which the steps below make active.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Conflict, NotFound } from '../../domain/errors.js';
import { hasImageData, removeImageData, storeImageData } from '../services/imageData.js';
import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import { finishAction, startAction } from '../../storage/repositories/actions.js';
import { getGuest, guestSpecOf, setDesiredGuest } from '../../storage/repositories/guests.js';
import { deleteImage, getImage, updateImageInStatus } from '../../storage/repositories/images.js';
import { getInstance, updateInstance, type InstanceRecord } from '../../storage/repositories/instances.js';
import type { ControllerContext } from '../context.js';
import { createImage, glanceTime, imageExtras } from '../services/images.js';
import { answered, ownGuest, reached, type Operation, type ServerSnapshot } from '../operations/transitions.js';
import { currentGuest, desiredForVmState, invalidState, requireState, type Requester } from './power.js';
import { settledSpec } from './rebuild.js';
import type { Unit } from '../../storage/unit.js';

/** Nova: createImage is allowed in these vm_states, and (unlike most actions) not refused for a locked server. */
export const SNAPSHOTTABLE_VM_STATES = [VmState.ACTIVE, VmState.STOPPED, VmState.PAUSED, VmState.SUSPENDED] as const;

export interface SnapshotRequest {
  name: string;
  /** The request's `metadata`: extra image properties (they win over inherited ones, as in Nova). */
  metadata: Record<string, string>;
  /** Names of the requester, for the image's owner_user_name / owner_project_name. */
  userName: string;
  projectName: string;
}

/** The image record of the snapshot, Nova's properties included (compute/api.py _create_image, libvirt's snapshot metadata). */
async function queueSnapshotImage(trx: Unit, who: Requester, instance: InstanceRecord, r: SnapshotRequest): Promise<string> {
  const base = await getImage(trx, instance.imageRef);
  const inherited = base ? imageExtras(base).properties : {};
  const row = await createImage(trx, {
    id: randomUUID(),
    name: r.name,
    visibility: 'private',
    diskFormat: base?.disk_format ?? 'qcow2',
    containerFormat: base?.container_format ?? 'bare',
    minDisk: Math.max(base?.min_disk ?? 0, instance.flavor.disk),
    minRam: base?.min_ram ?? 0,
    owner: instance.projectId,
    properties: {
      ...inherited,
      base_image_ref: instance.imageRef,
      image_type: 'snapshot',
      instance_uuid: instance.uuid,
      user_id: who.userId,
      owner_user_name: r.userName,
      owner_project_name: r.projectName,
      owner_id: instance.projectId,
      image_location: 'snapshot',
      image_state: 'available',
      ...r.metadata,
    },
  });
  return row.id;
}

/** Accepts the snapshot (nothing changes when it is refused) and returns the new image's id. */
export async function startSnapshot(ctx: ControllerContext, who: Requester, instance: InstanceRecord, r: SnapshotRequest): Promise<string> {
  requireState('createImage', instance, SNAPSHOTTABLE_VM_STATES);
  const guest = await currentGuest(ctx.store.reader, instance).catch(() => { throw invalidState('createImage', instance); });
  const imageId = await ctx.store.transact(async (trx) => {
    const moved = await updateInstance(trx, instance.uuid, { taskState: TaskState.IMAGE_SNAPSHOT_PENDING }, { taskState: null, vmState: instance.vmState });
    if (!moved) throw invalidState('createImage', (await getInstance(trx, instance.uuid)) ?? instance);
    const id = await queueSnapshotImage(trx, who, instance, r);
    await startAction(trx, { instanceUuid: instance.uuid, action: 'createImage', ...who });
    await setDesiredGuest(trx, instance.uuid, guest.host, desiredForVmState(instance.vmState),
      { ...settledSpec(guestSpecOf(guest)), snapshot: { imageId: id } });
    return id;
  });
  ctx.signals.notify(guest.host);
  return imageId;
}

/**
 * The snapshot's data from the host that took it: accepted only for the
 * image the guest's snapshot instruction on that host names, stored as an
 * image upload is (services/imageData.ts). Data already stored: nothing to do.
 */
export async function receiveSnapshotData(ctx: ControllerContext, host: string, instanceUuid: string, imageId: string, body: Readable): Promise<void> {
  const guest = await getGuest(ctx.store.reader, instanceUuid, host);
  if (!guest || guestSpecOf(guest).snapshot?.imageId !== imageId) {
    body.resume();
    throw new Conflict(`Server ${instanceUuid} on host ${host} is not taking snapshot ${imageId}.`);
  }
  const image = await getImage(ctx.store.reader, imageId);
  if (!image) {
    body.resume();
    throw new NotFound(`No image found with ID ${imageId}`);
  }
  if (hasImageData(image)) {
    body.resume();
    return;
  }
  await storeImageData(ctx.store, ctx.imageDir, image, body);
}

const imageOf = (s: ServerSnapshot): string | undefined => {
  const g = ownGuest(s);
  return g ? guestSpecOf(g).snapshot?.imageId : undefined;
};

/** Moves the task state on (and runs `also` in the same transaction) only if the server is still in `from`. */
async function advance(ctx: ControllerContext, s: ServerSnapshot, from: string, to: string | null,
  also?: (trx: Unit) => Promise<void>): Promise<void> {
  await ctx.store.transact(async (trx) => {
    if (!(await updateInstance(trx, s.instance.uuid, { taskState: to }, { taskState: from }))) return;
    await also?.(trx);
  });
}

async function uploaded(ctx: ControllerContext, s: ServerSnapshot): Promise<void> {
  const imageId = imageOf(s);
  const guest = ownGuest(s);
  await advance(ctx, s, TaskState.IMAGE_UPLOADING, null, async (trx) => {
    // Uploaded by the host already (active), or a record without data (saving): active now either way.
    if (imageId) await updateImageInStatus(trx, imageId, 'saving', { status: 'active', updated_at: glanceTime() });
    // The instruction is done: the guest row keeps the plain spec (a replay must not snapshot again).
    if (guest) await setDesiredGuest(trx, s.instance.uuid, guest.host, desiredForVmState(s.instance.vmState), settledSpec(guestSpecOf(guest)));
    await finishAction(trx, s.instance.uuid, 'createImage', 'Success');
  });
}

/** Nova deletes the image of a failed snapshot; the server stays as it was. */
async function snapshotFailed(ctx: ControllerContext, s: ServerSnapshot, message: string): Promise<void> {
  const imageId = imageOf(s);
  const guest = ownGuest(s);
  ctx.log.warn({ server: s.instance.uuid, image: imageId, error: message }, 'snapshot failed');
  await advance(ctx, s, s.instance.taskState!, null, async (trx) => {
    if (imageId) await deleteImage(trx, imageId);
    if (guest) await setDesiredGuest(trx, s.instance.uuid, guest.host, desiredForVmState(s.instance.vmState), settledSpec(guestSpecOf(guest)));
    await finishAction(trx, s.instance.uuid, 'createImage', 'Error', message);
  });
  if (imageId) await removeImageData(ctx.imageDir, imageId);
  if (guest) ctx.signals.notify(guest.host);
}

export const SNAPSHOT_OPERATION: Operation = {
  action: 'createImage',
  transitions: [
    {
      state: TaskState.IMAGE_SNAPSHOT_PENDING, on: 'the host has the instruction',
      when: () => true, step: (ctx, s) => advance(ctx, s, TaskState.IMAGE_SNAPSHOT_PENDING, TaskState.IMAGE_SNAPSHOT),
    },
    {
      state: TaskState.IMAGE_SNAPSHOT, on: 'snapshot taken, guest in its state',
      when: (s) => reached(ownGuest(s), desiredForVmState(s.instance.vmState)),
      step: (ctx, s) => advance(ctx, s, TaskState.IMAGE_SNAPSHOT, TaskState.IMAGE_PENDING_UPLOAD, async (trx) => {
        const imageId = imageOf(s);
        // A host that uploaded the data has made the image active already.
        if (imageId) await updateImageInStatus(trx, imageId, 'queued', { status: 'saving', updated_at: glanceTime() });
      }),
    },
    {
      state: TaskState.IMAGE_SNAPSHOT, on: 'snapshot failed on the host', when: (s) => answered(ownGuest(s)),
      step: (ctx, s) => {
        const g = ownGuest(s)!;
        return snapshotFailed(ctx, s, g.error ?? `guest reached ${g.observed_state ?? 'nothing'} while taking the snapshot`);
      },
    },
    {
      state: TaskState.IMAGE_PENDING_UPLOAD, on: 'snapshot ready to upload',
      when: () => true, step: (ctx, s) => advance(ctx, s, TaskState.IMAGE_PENDING_UPLOAD, TaskState.IMAGE_UPLOADING),
    },
    { state: TaskState.IMAGE_UPLOADING, on: 'upload done', when: () => true, step: uploaded },
  ],
  onDeadline: (ctx, s, why) => snapshotFailed(ctx, s, why),
};
