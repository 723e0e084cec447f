/**
 * A same-host resize's disk through the agent's convergence and the libvirt
 * driver: libvirt's test driver holds the definitions, the disks are real
 * qcow2 overlays (qemu-img, qemu-io) in a temporary instances directory, the
 * image comes through the driver's image cache. The steps are the
 * instructions coldMove.ts gives: the old definition removed with the disk
 * kept (spec.resizeBackup), the new one defined (the disk grown), then
 * revert (the old definition removed again, the backup restored) or confirm
 * (the spec without the backup), each repeated as after an agent restart.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { LibvirtDriver } from '../../../src/agent/drivers/libvirt/libvirtDriver.js';
import { converge } from '../../../src/agent/guestConvergence.js';
import { ImageCache } from '../../../src/agent/imageCache.js';
import type { GuestSpec } from '../../../src/domain/guest/spec.js';
import { TEST_URI, guestSpec, requireAddon } from './helpers.js';

const run = promisify(execFile);
const GiB = 1024 ** 3;
const BEFORE = '0x5a';
const DURING = '0xc3';

async function virtualSize(file: string): Promise<number> {
  return (JSON.parse((await run('qemu-img', ['info', '-U', '--output=json', file])).stdout) as { 'virtual-size': number })['virtual-size'];
}

async function write(file: string, pattern: string, offset: number): Promise<void> {
  await run('qemu-io', ['-f', 'qcow2', '-c', `write -P ${pattern} ${offset} 64k`, file]);
}

/** Whether 64 KiB at `offset` hold the pattern (qemu-io exits 1 when not). */
async function holds(file: string, pattern: string, offset: number): Promise<boolean> {
  const { stdout } = await run('qemu-io', ['-r', '-U', '-f', 'qcow2', '-c', `read -P ${pattern} ${offset} 64k`, file])
    .catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
  return /read 65536\/65536 bytes/.test(stdout) && !/Pattern verification failed/.test(stdout);
}

describe('a same-host resize keeps the disk as it was; revert brings it back, confirm removes it', { timeout: 120_000 }, () => {
  let dir: string;
  let driver: LibvirtDriver;
  let base: string;

  before(async () => {
    requireAddon();
    dir = await mkdtemp(join(tmpdir(), 'vdpa-resize-backup-'));
    base = join(dir, 'base.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', base, '16M']);
    const images = new ImageCache(join(dir, 'images'), {
      async downloadImage(_id, file) {
        await copyFile(base, file);
        return { diskFormat: 'qcow2', checksum: null, size: (await stat(base)).size };
      },
    });
    driver = new LibvirtDriver({ uri: TEST_URI, includeDisk: true, instancesPath: join(dir, 'instances'), images });
  });
  after(async () => {
    await driver?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A guest on its 1 GiB disk, `BEFORE` written at 0 (the test driver runs no QEMU: nothing holds the disk). */
  async function bootOneGiB(tag: string): Promise<{ old: GuestSpec; big: GuestSpec; disk: string; files: () => Promise<string[]> }> {
    const old: GuestSpec = { ...guestSpec([], tag), diskGb: 1, imageRef: 'img' };
    const big: GuestSpec = { ...old, diskGb: 2, memoryMb: 128 };
    const disk = join(dir, 'instances', old.uuid, 'disk');
    assert.equal((await converge(driver, 'h', old, 'running'))?.state, 'running');
    assert.equal(await virtualSize(disk), GiB);
    await write(disk, BEFORE, 0);
    return { old, big, disk, files: async () => (await readdir(join(dir, 'instances', old.uuid))).sort() };
  }

  test('resize and revert: the old definition boots the disk at its old size with what it held before, nothing written since', { timeout: 60_000 }, async () => {
    const { old, big, disk, files } = await bootOneGiB('revert');
    const m = '7c1d0000-0000-4000-8000-000000000001';
    const backup = `disk.resize-${m}`;

    // The old definition goes, the disk stays and a copy of it is made; repeated, the same.
    assert.equal(await converge(driver, 'h', { ...old, keepDisks: true, resizeBackup: { migrationId: m } }, 'absent'), null);
    assert.equal(await driver.status(old.uuid), null);
    assert.deepEqual(await files(), ['disk', backup]);
    // The new definition grows the disk; the copy stays as it was.
    assert.equal((await converge(driver, 'h', { ...big, resizeBackup: { migrationId: m } }, 'running'))?.state, 'running');
    assert.equal(await virtualSize(disk), 2 * GiB);
    await write(disk, DURING, 64 * 1024);
    // A restarted agent repeats the steps: the copy is never made again of the grown disk.
    await converge(driver, 'h', { ...big, resizeBackup: { migrationId: m } }, 'running');
    await driver.settleResizeBackup(old.uuid, { migrationId: m }, 'settled');
    assert.equal(await virtualSize(join(dir, 'instances', old.uuid, backup)), GiB);
    assert.equal(await holds(join(dir, 'instances', old.uuid, backup), DURING, 64 * 1024), false);

    // Revert: the new definition goes and the copy is the disk again, then the old definition comes.
    const revert: GuestSpec = { ...big, keepDisks: true, resizeBackup: { migrationId: m, restore: true } };
    assert.equal(await converge(driver, 'h', revert, 'absent'), null);
    assert.equal(await converge(driver, 'h', revert, 'absent'), null, 'repeated: nothing left to restore, nothing lost');
    assert.deepEqual(await files(), ['disk']);
    assert.equal((await converge(driver, 'h', old, 'running'))?.state, 'running');
    assert.equal(await virtualSize(disk), GiB, 'the old size');
    assert.equal(await holds(disk, BEFORE, 0), true, 'what was written before the resize');
    assert.equal(await holds(disk, DURING, 64 * 1024), false, 'nothing written during VERIFY_RESIZE');
    await driver.destroy(old.uuid);
  });

  test('resize and confirm: the grown disk with its data stays, the copy goes; a stale copy or a half-made one is not kept', { timeout: 60_000 }, async () => {
    const { old, big, disk, files } = await bootOneGiB('confirm');
    const instanceDir = join(dir, 'instances', old.uuid);
    const m = '7c1d0000-0000-4000-8000-000000000002';
    const stale = '7c1d0000-0000-4000-8000-0000000000ff';
    // Left by an earlier resize whose confirm never reached the host, and a copy a crash cut short.
    await writeFile(join(instanceDir, `disk.resize-${stale}`), 'not this resize\'s disk');
    await writeFile(join(instanceDir, `disk.resize-${m}.part`), 'half a copy');

    await converge(driver, 'h', { ...old, keepDisks: true, resizeBackup: { migrationId: m } }, 'absent');
    assert.deepEqual(await files(), ['disk', `disk.resize-${m}`]);
    assert.equal(await holds(join(instanceDir, `disk.resize-${m}`), BEFORE, 0), true, 'the disk copied whole, over the half-made copy');
    await converge(driver, 'h', { ...big, resizeBackup: { migrationId: m } }, 'running');
    await write(disk, DURING, 64 * 1024);

    // Confirm: the guest's spec as it is, without the backup.
    assert.equal((await converge(driver, 'h', big, 'running'))?.state, 'running');
    assert.deepEqual(await files(), ['disk']);
    assert.equal(await virtualSize(disk), 2 * GiB);
    assert.equal(await holds(disk, DURING, 64 * 1024), true);
    await driver.destroy(big.uuid);
  });

  test('the copy is made or restored only with the definition gone: the driver refuses it under a defined guest, and a name that is not one file', { timeout: 30_000 }, async () => {
    const { old, files } = await bootOneGiB('refuse');
    await assert.rejects(driver.settleResizeBackup(old.uuid, { migrationId: 'm', restore: true }, 'definitionGone'), /it is defined/);
    await assert.rejects(driver.settleResizeBackup(old.uuid, { migrationId: '../m' }, 'settled'), /invalid migration id "\.\.\/m"/);
    assert.deepEqual(await files(), ['disk']);
    await driver.destroy(old.uuid);
  });
});
