/**
 * Disk transfer blobs: the disk of an instance moved cold to another host
 * (lifecycle/coldMoveDisk.ts), uploaded by the source host's agent and
 * downloaded by the destination's. Stored beside the image data, as
 * `<image dir>/transfers/<instance uuid>/<migration uuid>`, so a restarted
 * controller or agent finds the blob again by those two ids; streamed, never
 * held in memory whole; written as `.part` and renamed when complete.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const SAFE_ID = /^[A-Za-z0-9_.-]+$/;

export function diskTransfersDir(imageDir: string): string {
  return join(imageDir, 'transfers');
}

export function diskTransferPath(imageDir: string, instanceUuid: string, migrationUuid: string): string {
  if (!SAFE_ID.test(instanceUuid) || !SAFE_ID.test(migrationUuid) || instanceUuid.startsWith('.') || migrationUuid.startsWith('.')) {
    throw new Error(`invalid disk transfer name ${instanceUuid}/${migrationUuid}`);
  }
  return join(diskTransfersDir(imageDir), instanceUuid, migrationUuid);
}

export async function hasDiskTransfer(imageDir: string, instanceUuid: string, migrationUuid: string): Promise<boolean> {
  return stat(diskTransferPath(imageDir, instanceUuid, migrationUuid)).then((s) => s.isFile(), () => false);
}

/** Streams `body` into the blob; a failed upload leaves no blob (only a complete one is ever renamed in). */
export async function storeDiskTransfer(imageDir: string, instanceUuid: string, migrationUuid: string, body: Readable): Promise<number> {
  const path = diskTransferPath(imageDir, instanceUuid, migrationUuid);
  await mkdir(join(diskTransfersDir(imageDir), instanceUuid), { recursive: true });
  const partial = `${path}.part`;
  try {
    const file = await open(partial, 'w', 0o600);
    await pipeline(body, file.createWriteStream());
    await rename(partial, path);
  } catch (e) {
    await rm(partial, { force: true });
    throw e;
  }
  return (await stat(path)).size;
}

export async function readDiskTransfer(imageDir: string, instanceUuid: string, migrationUuid: string): Promise<{ stream: Readable; size: number } | null> {
  const path = diskTransferPath(imageDir, instanceUuid, migrationUuid);
  const found = await stat(path).catch(() => null);
  if (!found?.isFile()) return null;
  return { stream: createReadStream(path), size: found.size };
}

/** The move's blob (a partial upload too); the instance's directory goes when it is empty. */
export async function removeDiskTransfer(imageDir: string, instanceUuid: string, migrationUuid: string): Promise<void> {
  const path = diskTransferPath(imageDir, instanceUuid, migrationUuid);
  await rm(path, { force: true });
  await rm(`${path}.part`, { force: true });
  await rmdir(join(diskTransfersDir(imageDir), instanceUuid)).catch(() => undefined);
}

/** Every blob of the instance (its delete). */
export async function removeDiskTransfersOf(imageDir: string, instanceUuid: string): Promise<void> {
  if (!SAFE_ID.test(instanceUuid) || instanceUuid.startsWith('.')) return;
  await rm(join(diskTransfersDir(imageDir), instanceUuid), { recursive: true, force: true });
}

/** Every blob (or partial upload) under the directory, by instance and migration. */
export async function listDiskTransfers(imageDir: string): Promise<Array<{ instanceUuid: string; migrationUuid: string }>> {
  const root = diskTransfersDir(imageDir);
  const found: Array<{ instanceUuid: string; migrationUuid: string }> = [];
  for (const instanceUuid of await readdir(root).catch(() => [] as string[])) {
    if (!SAFE_ID.test(instanceUuid) || instanceUuid.startsWith('.')) continue;
    for (const file of await readdir(join(root, instanceUuid)).catch(() => [] as string[])) {
      const migrationUuid = file.replace(/\.part$/, '');
      if (SAFE_ID.test(migrationUuid) && !migrationUuid.startsWith('.')) found.push({ instanceUuid, migrationUuid });
    }
  }
  return found;
}
