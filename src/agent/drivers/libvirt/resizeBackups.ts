/**
 * The files of a same-host resize's backup (domain/guest/resizeBackup.ts
 * decides; this carries it out): `<instances>/<uuid>/disk.resize-<migration>`
 * beside the instance's disk, so it goes with the instance directory when
 * the instance is deleted.
 */
import { constants } from 'node:fs';
import { copyFile, open, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  partialResizeBackupName, resizeBackupFiles, resizeBackupName, resizeBackupSteps, type ResizeBackupMoment, type ResizeBackupStep,
} from '../../../domain/guest/resizeBackup.js';
import type { ResizeBackupRequest } from '../../../domain/guest/spec.js';

/** A migration's uuid, or anything else that stays one file name in the instance directory. */
const SAFE_ID = /^[A-Za-z0-9_-]+$/;

/** Settles the instance's resize backups for `wanted` at `moment`; returns the steps it took. */
export async function settleResizeBackups(
  instancesPath: string, uuid: string, wanted: ResizeBackupRequest | undefined, moment: ResizeBackupMoment,
): Promise<ResizeBackupStep[]> {
  if (wanted && !SAFE_ID.test(wanted.migrationId)) throw new Error(`invalid migration id ${JSON.stringify(wanted.migrationId)} for the resize backup of ${uuid}`);
  const dir = join(instancesPath, uuid);
  const names = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [] as string[];
    throw e;
  });
  const steps = resizeBackupSteps(wanted, { ...resizeBackupFiles(names), diskExists: names.includes('disk') }, moment);
  for (const step of steps) await carryOut(dir, step);
  return steps;
}

async function carryOut(dir: string, step: ResizeBackupStep): Promise<void> {
  const disk = join(dir, 'disk');
  const backup = join(dir, resizeBackupName(step.migrationId));
  const partial = join(dir, partialResizeBackupName(step.migrationId));
  switch (step.op) {
    case 'keep': {
      // A copy, so the disk is there at every moment; the backup appears whole or not at all.
      await copyFile(disk, partial, constants.COPYFILE_FICLONE);
      const file = await open(partial, 'r+');
      try {
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(partial, backup);
      return;
    }
    case 'restore':
      // One rename: the grown disk is replaced by the old one at once.
      await rename(backup, disk);
      return;
    case 'drop':
      await rm(backup, { force: true });
      return;
    case 'dropPartial':
      await rm(partial, { force: true });
      return;
  }
}
