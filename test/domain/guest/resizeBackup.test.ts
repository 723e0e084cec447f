/** What a same-host resize does with the disk it keeps aside: the plan from the spec, the files found and the moment. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  partialResizeBackupName, resizeBackupFiles, resizeBackupName, resizeBackupSteps, type InstanceDiskFiles,
} from '../../../src/domain/guest/resizeBackup.js';

const M = '0b7f3c1e-5d2a-4c8e-9f10-aa0000000001';
const OLD = '0b7f3c1e-5d2a-4c8e-9f10-aa0000000002';
const files = (f: Partial<InstanceDiskFiles> = {}): InstanceDiskFiles => ({ backups: [], partial: [], diskExists: true, ...f });

test('the backup files of a directory listing, whole and half made; nothing else is taken for one', { timeout: 5_000 }, () => {
  assert.equal(resizeBackupName(M), `disk.resize-${M}`);
  assert.equal(partialResizeBackupName(M), `disk.resize-${M}.part`);
  const names = ['disk', 'disk.rescue', 'console.log', 'disk.part', resizeBackupName(M), partialResizeBackupName(OLD), 'disk.resize-', 'disk.resize-.part'];
  assert.deepEqual(resizeBackupFiles(names), { backups: [M], partial: [OLD] });
});

test('the old definition gone: the backup is made once; one already made is never made again (nor overwritten)', { timeout: 5_000 }, () => {
  assert.deepEqual(resizeBackupSteps({ migrationId: M }, files(), 'definitionGone'), [{ op: 'keep', migrationId: M }]);
  assert.deepEqual(resizeBackupSteps({ migrationId: M }, files({ backups: [M] }), 'definitionGone'), []);
  // Before the disk is defined (and grown) on the new definition: the same.
  assert.deepEqual(resizeBackupSteps({ migrationId: M }, files(), 'beforeDisk'), [{ op: 'keep', migrationId: M }]);
  assert.deepEqual(resizeBackupSteps({ migrationId: M }, files({ backups: [M] }), 'beforeDisk'), []);
  // No disk: nothing to keep.
  assert.deepEqual(resizeBackupSteps({ migrationId: M }, files({ diskExists: false }), 'definitionGone'), []);
});

test('a guest defined on its disk (maybe grown already) gets no backup made of it', { timeout: 5_000 }, () => {
  assert.deepEqual(resizeBackupSteps({ migrationId: M }, files(), 'settled'), []);
  assert.deepEqual(resizeBackupSteps({ migrationId: M }, files({ backups: [M] }), 'settled'), []);
});

test('a copy interrupted half way is made again over its .part; one no longer being made goes', { timeout: 5_000 }, () => {
  assert.deepEqual(resizeBackupSteps({ migrationId: M }, files({ partial: [M] }), 'definitionGone'), [{ op: 'keep', migrationId: M }]);
  assert.deepEqual(resizeBackupSteps({ migrationId: M }, files({ partial: [M] }), 'settled'), [{ op: 'dropPartial', migrationId: M }]);
  assert.deepEqual(resizeBackupSteps({ migrationId: M, restore: true }, files({ partial: [M] }), 'definitionGone'),
    [{ op: 'dropPartial', migrationId: M }]);
});

test('revert (or failure): restored only once the definition is gone; after that there is nothing to restore', { timeout: 5_000 }, () => {
  const restore = { migrationId: M, restore: true };
  assert.deepEqual(resizeBackupSteps(restore, files({ backups: [M] }), 'definitionGone'), [{ op: 'restore', migrationId: M }]);
  assert.deepEqual(resizeBackupSteps(restore, files(), 'definitionGone'), [], 'restored already (a repeated step): the disk is the old one');
  assert.deepEqual(resizeBackupSteps(restore, files({ backups: [M] }), 'settled'), [], 'never under a defined guest');
  assert.deepEqual(resizeBackupSteps(restore, files({ backups: [M] }), 'beforeDisk'), []);
  // A revert makes no backup, even where none was made.
  assert.deepEqual(resizeBackupSteps(restore, files(), 'beforeDisk'), []);
});

test('confirm (no resize named) removes the backup; a backup of another resize is never taken for this one', { timeout: 5_000 }, () => {
  assert.deepEqual(resizeBackupSteps(undefined, files({ backups: [M] }), 'settled'), [{ op: 'drop', migrationId: M }]);
  assert.deepEqual(resizeBackupSteps(undefined, files({ backups: [M], partial: [OLD] }), 'beforeDisk'),
    [{ op: 'drop', migrationId: M }, { op: 'dropPartial', migrationId: OLD }]);
  assert.deepEqual(resizeBackupSteps(undefined, files(), 'settled'), []);
  // A backup an earlier resize left (its confirm never reached the host): gone, and this resize makes its own.
  assert.deepEqual(resizeBackupSteps({ migrationId: M }, files({ backups: [OLD] }), 'definitionGone'),
    [{ op: 'drop', migrationId: OLD }, { op: 'keep', migrationId: M }]);
  assert.deepEqual(resizeBackupSteps({ migrationId: M, restore: true }, files({ backups: [OLD] }), 'definitionGone'),
    [{ op: 'drop', migrationId: OLD }]);
});
