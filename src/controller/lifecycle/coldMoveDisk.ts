/**
 * The instance's disk on a cold move to another host (coldMove.ts). Nova's
 * source compute copies the instance directory to the destination itself;
 * here agents talk only to the controller, so the disk goes through it:
 *
 *   1. the source guest is told to power off with spec.diskExport; its agent
 *      flattens the disk (qemu-img convert to one standalone qcow2) and
 *      uploads it here (receiveDiskTransfer) before it reports the guest off;
 *   2. the destination guest is instructed only then, with spec.diskImport
 *      when a blob came: its agent downloads it (openDiskTransfer) as the
 *      instance's disk and grows it to the flavor's root disk;
 *   3. confirm, revert and every failure remove the blob (dropDiskTransfer).
 *
 * The blob is named by the instance's and the migration's uuids
 * (services/diskTransfers.ts), so every step may be repeated after a crash
 * of either side. Only the migration's source host may upload and only its
 * destination may download (a per-host credential acts for its own host:
 * api/agent/routes.ts). A host without disk data (the simulator) uploads
 * nothing, and its destination gets no diskImport.
 */
import type { Readable } from 'node:stream';
import { Conflict, Forbidden, NotFound } from '../../domain/errors.js';
import { getMigration, type MigrationRow } from '../../storage/repositories/migrations.js';
import type { ControllerContext } from '../context.js';
import { hasDiskTransfer, listDiskTransfers, readDiskTransfer, removeDiskTransfer, storeDiskTransfer } from '../services/diskTransfers.js';

const COLD_MOVES = ['migration', 'resize'];

async function coldMoveOf(ctx: ControllerContext, instanceUuid: string, migrationUuid: string, drain?: Readable): Promise<MigrationRow> {
  const m = await getMigration(ctx.store.reader, migrationUuid);
  if (!m || m.instance_uuid !== instanceUuid || !COLD_MOVES.includes(m.migration_type)) {
    drain?.resume();
    throw new NotFound(`Server ${instanceUuid} has no cold migration ${migrationUuid}.`);
  }
  return m;
}

/**
 * The source host's upload of the disk. Accepted while the move is
 * migrating; a blob already complete is kept (a repeated upload).
 */
export async function receiveDiskTransfer(
  ctx: ControllerContext, host: string, instanceUuid: string, migrationUuid: string, body: Readable,
): Promise<void> {
  const m = await coldMoveOf(ctx, instanceUuid, migrationUuid, body);
  if (m.source_compute !== host || m.source_compute === m.dest_compute) {
    body.resume();
    throw new Forbidden(`Host ${host} is not the source of migration ${migrationUuid}: only ${m.source_compute ?? 'its source'} uploads its disk.`);
  }
  if (m.status !== 'migrating') {
    body.resume();
    throw new Conflict(`Migration ${migrationUuid} is ${m.status}: it takes no disk now.`);
  }
  if (await hasDiskTransfer(ctx.imageDir, instanceUuid, migrationUuid)) {
    body.resume();
    return;
  }
  const size = await storeDiskTransfer(ctx.imageDir, instanceUuid, migrationUuid, body);
  ctx.log.info({ server: instanceUuid, migration: migrationUuid, host, size }, 'disk of a cold move uploaded');
}

/** The destination host's download of the disk: the blob's stream and size. */
export async function openDiskTransfer(
  ctx: ControllerContext, host: string, instanceUuid: string, migrationUuid: string,
): Promise<{ stream: Readable; size: number }> {
  const m = await coldMoveOf(ctx, instanceUuid, migrationUuid);
  if (m.dest_compute !== host || m.source_compute === m.dest_compute) {
    throw new Forbidden(`Host ${host} is not the destination of migration ${migrationUuid}: only ${m.dest_compute ?? 'its destination'} downloads its disk.`);
  }
  const blob = await readDiskTransfer(ctx.imageDir, instanceUuid, migrationUuid);
  if (!blob) throw new NotFound(`Migration ${migrationUuid} has no disk of server ${instanceUuid} (${m.status}).`);
  return blob;
}

export async function hasMovedDisk(ctx: ControllerContext, instanceUuid: string, migrationUuid: string): Promise<boolean> {
  return hasDiskTransfer(ctx.imageDir, instanceUuid, migrationUuid);
}

/** The move is over (confirmed, reverted, failed): its blob goes. Never fails the step that calls it. */
export async function dropDiskTransfer(ctx: ControllerContext, instanceUuid: string, migrationUuid: string): Promise<void> {
  await removeDiskTransfer(ctx.imageDir, instanceUuid, migrationUuid).catch((e: unknown) => {
    ctx.log.warn({ server: instanceUuid, migration: migrationUuid, err: (e as Error).message }, 'could not remove a disk transfer blob');
  });
}

/** A blob is wanted while its move runs or waits for confirm/revert. */
const BLOB_WANTED = ['migrating', 'finished'];

/**
 * Removes the blobs no move wants any more: a controller that died between
 * a confirm's (or revert's, or failure's) commit and the blob's removal
 * left them. Run at start-up and with the periodic resync (operations/cluster.ts).
 */
export async function sweepDiskTransfers(ctx: ControllerContext): Promise<void> {
  for (const { instanceUuid, migrationUuid } of await listDiskTransfers(ctx.imageDir)) {
    const m = await getMigration(ctx.store.reader, migrationUuid);
    if (m && m.instance_uuid === instanceUuid && BLOB_WANTED.includes(m.status)) continue;
    ctx.log.info({ server: instanceUuid, migration: migrationUuid, status: m?.status ?? null }, 'removing a disk transfer blob no move wants');
    await dropDiskTransfer(ctx, instanceUuid, migrationUuid);
  }
}
