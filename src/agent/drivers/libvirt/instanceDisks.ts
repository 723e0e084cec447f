/**
 * Instance disks: `<instances>/<uuid>/disk`, a qcow2 overlay on the image in
 * the host's image cache (`qemu-img create -f qcow2 -F <format> -b <base>`),
 * as big as the flavor's root disk when that is larger than the image. The
 * directory goes with the instance.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { CachedImage } from '../../imageCache.js';

const run = promisify(execFile);
const QEMU_IMG_TIMEOUT_MS = 60_000;

export function instanceDiskPath(instancesPath: string, uuid: string, name = 'disk'): string {
  return join(instancesPath, uuid, name);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

async function virtualSize(image: CachedImage): Promise<number> {
  const { stdout } = await run('qemu-img', ['info', '--output=json', '-f', image.format, image.path], { timeout: QEMU_IMG_TIMEOUT_MS });
  return (JSON.parse(stdout) as { 'virtual-size': number })['virtual-size'];
}

/** The instance's directory, reachable by QEMU's user (libvirt-qemu). */
export async function ensureInstanceDir(instancesPath: string, uuid: string): Promise<void> {
  await mkdir(join(instancesPath, uuid), { recursive: true });
  await chmod(instancesPath, 0o755);
  await chmod(join(instancesPath, uuid), 0o755);
}

/** A kept disk grown to the flavor's root disk (a resize to a bigger flavor; never shrunk, as Nova). */
async function growDisk(disk: string, diskGb: number): Promise<void> {
  const wanted = diskGb * 1024 ** 3;
  const { stdout } = await run('qemu-img', ['info', '-U', '--output=json', disk], { timeout: QEMU_IMG_TIMEOUT_MS });
  if (wanted <= (JSON.parse(stdout) as { 'virtual-size': number })['virtual-size']) return;
  try {
    await run('qemu-img', ['resize', '-q', '-f', 'qcow2', disk, String(wanted)], { timeout: QEMU_IMG_TIMEOUT_MS });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`qemu-img could not grow ${disk} to ${diskGb} GiB: ${(err.stderr ?? err.message).trim()}`);
  }
}

/** Creates the instance's overlay unless it exists (a redefine keeps the guest's disk). */
export async function ensureInstanceDisk(instancesPath: string, uuid: string, diskGb: number, base: CachedImage, name = 'disk'): Promise<string> {
  const disk = instanceDiskPath(instancesPath, uuid, name);
  if (await exists(disk)) {
    await growDisk(disk, diskGb);
    return disk;
  }
  await ensureInstanceDir(instancesPath, uuid);
  const args = ['create', '-q', '-f', 'qcow2', '-F', base.format, '-b', base.path, `${disk}.part`];
  const wanted = diskGb * 1024 ** 3;
  if (wanted > (await virtualSize(base))) args.push(String(wanted));
  try {
    await run('qemu-img', args, { timeout: QEMU_IMG_TIMEOUT_MS });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`qemu-img could not create the disk of ${uuid}: ${(err.stderr ?? err.message).trim()}`);
  }
  // Renamed into place only when complete: a crash mid-create leaves no half disk to boot from.
  await rename(`${disk}.part`, disk);
  return disk;
}

/**
 * The disk flattened into one standalone file at `target` (`qemu-img convert`:
 * the overlay's data over its backing image's, no backing file left), in the
 * backing image's format (qcow2 or raw), qcow2 for a disk without one.
 * Written as `<target>.part` and renamed when complete.
 */
export async function flattenDisk(disk: string, target: string, outputFormat?: 'qcow2'): Promise<void> {
  const info = async () => JSON.parse((await run('qemu-img', ['info', '--output=json', disk], { timeout: QEMU_IMG_TIMEOUT_MS })).stdout) as
    { 'backing-filename-format'?: string };
  try {
    const format = outputFormat ?? (await info())['backing-filename-format'] ?? 'qcow2';
    await run('qemu-img', ['convert', '-q', '-O', format, disk, `${target}.part`], { timeout: 10 * QEMU_IMG_TIMEOUT_MS });
  } catch (e) {
    await rm(`${target}.part`, { force: true });
    const err = e as { stderr?: string; message: string };
    throw new Error(`qemu-img could not flatten ${disk} into ${target}: ${(err.stderr ?? err.message).trim()}`);
  }
  await rename(`${target}.part`, target);
}

/**
 * The instance's disk from a cold move (a standalone qcow2 the source
 * flattened): fetched into `<disk>.part` by `fetch` and renamed when
 * complete, unless the disk is there already (a repeated step); then grown
 * to the flavor's root disk, as a same-host resize grows its kept disk.
 */
export async function importInstanceDisk(
  instancesPath: string, uuid: string, diskGb: number, fetch: (file: string) => Promise<void>,
): Promise<string> {
  const disk = instanceDiskPath(instancesPath, uuid);
  if (!(await exists(disk))) {
    await ensureInstanceDir(instancesPath, uuid);
    const partial = `${disk}.part`;
    try {
      await fetch(partial);
      await run('qemu-img', ['check', '-q', '-f', 'qcow2', partial], { timeout: 10 * QEMU_IMG_TIMEOUT_MS });
    } catch (e) {
      await rm(partial, { force: true });
      const err = e as { stderr?: string; message: string };
      throw new Error(`The disk of ${uuid} could not be brought here: ${(err.stderr ?? err.message).trim()}`);
    }
    await rename(partial, disk);
  }
  await growDisk(disk, diskGb);
  return disk;
}

/** One disk of the instance (a rebuild's old overlay, an unrescued disk.rescue). */
export async function removeInstanceDisk(instancesPath: string, uuid: string, name = 'disk'): Promise<void> {
  await rm(instanceDiskPath(instancesPath, uuid, name), { force: true });
}

export async function removeInstanceDir(instancesPath: string, uuid: string): Promise<void> {
  await rm(join(instancesPath, uuid), { recursive: true, force: true });
}
