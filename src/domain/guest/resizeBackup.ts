/**
 * The disk a resize to the same host keeps aside (spec.resizeBackup), as
 * Nova's libvirt driver keeps `<instance>_resize`: what to do with the
 * backups an instance has, given what its spec asks and where the guest is.
 * The driver lists the files and carries the steps out; every step may be
 * repeated, so an agent restarted anywhere in between converges.
 *
 * The backup is `disk.resize-<migration uuid>` beside the disk, made as
 * `<name>.part` and renamed when complete: a backup is either whole or not
 * there, and the name says which resize it belongs to, so a backup another
 * resize left behind is never taken for this one's.
 */
import type { ResizeBackupRequest } from './spec.js';

const PREFIX = 'disk.resize-';
const PARTIAL = '.part';

/**
 * Where the guest is when the backups are settled:
 * - `definitionGone`: its definition was removed and its disk kept (the
 *   instruction that carries keepDisks); nothing runs on the disk.
 * - `beforeDisk`: it is about to be defined on its disk, which may be grown
 *   right after (to the new flavor's root disk).
 * - `settled`: it runs or is defined on its disk, possibly grown already.
 */
export type ResizeBackupMoment = 'definitionGone' | 'beforeDisk' | 'settled';

/** What is in the instance's directory. */
export interface InstanceDiskFiles {
  /** The migrations with a complete backup. */
  backups: string[];
  /** The migrations with a backup left half made (`.part`). */
  partial: string[];
  diskExists: boolean;
}

export type ResizeBackupStep =
  /** Copy the disk into `<backup>.part`, then rename it to the backup. */
  | { op: 'keep'; migrationId: string }
  /** Rename the backup onto the disk: the disk as it was before the resize, the grown one gone. */
  | { op: 'restore'; migrationId: string }
  /** Remove the backup. */
  | { op: 'drop'; migrationId: string }
  /** Remove a half-made backup (`.part`). */
  | { op: 'dropPartial'; migrationId: string };

export function resizeBackupName(migrationId: string): string {
  return `${PREFIX}${migrationId}`;
}

export function partialResizeBackupName(migrationId: string): string {
  return `${resizeBackupName(migrationId)}${PARTIAL}`;
}

/** The files of an instance directory's listing that are resize backups, whole or half made. */
export function resizeBackupFiles(names: string[]): Omit<InstanceDiskFiles, 'diskExists'> {
  const backups: string[] = [];
  const partial: string[] = [];
  for (const name of names) {
    if (!name.startsWith(PREFIX) || name.length === PREFIX.length) continue;
    const rest = name.slice(PREFIX.length);
    if (rest.endsWith(PARTIAL)) {
      if (rest.length > PARTIAL.length) partial.push(rest.slice(0, -PARTIAL.length));
    } else {
      backups.push(rest);
    }
  }
  return { backups, partial };
}

/**
 * The steps, in order:
 * - a backup of any other migration than the one the spec names goes (the
 *   resize it was for is over: confirmed, or it was restored, or the spec
 *   names no resize at all);
 * - the named backup is made, unless it is there, only while the disk is
 *   still as it was before the resize (its definition gone, or the guest
 *   not defined on it yet): a backup is never made of a grown disk, and
 *   one already made is never overwritten;
 * - with `restore`, the named backup becomes the disk again, only while no
 *   definition uses the disk;
 * - a half-made backup goes unless it is being made now.
 */
export function resizeBackupSteps(
  wanted: ResizeBackupRequest | undefined, found: InstanceDiskFiles, moment: ResizeBackupMoment,
): ResizeBackupStep[] {
  const steps: ResizeBackupStep[] = [];
  const named = wanted?.migrationId;
  for (const m of found.backups) if (m !== named) steps.push({ op: 'drop', migrationId: m });
  const complete = named !== undefined && found.backups.includes(named);
  const keep = wanted !== undefined && !wanted.restore && moment !== 'settled' && !complete && found.diskExists;
  if (keep) steps.push({ op: 'keep', migrationId: wanted.migrationId });
  if (wanted?.restore && moment === 'definitionGone' && complete) steps.push({ op: 'restore', migrationId: wanted.migrationId });
  for (const m of found.partial) if (!(keep && m === named)) steps.push({ op: 'dropPartial', migrationId: m });
  return steps;
}
