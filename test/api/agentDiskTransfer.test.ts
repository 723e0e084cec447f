/**
 * The agent API's cold-move disk routes
 * (PUT|GET /agent/v1/hosts/{host}/guests/{uuid}/disk-transfers/{migration}):
 * only the migration's source may upload and only its destination download;
 * an upload outside `migrating` is refused. A move between simulated hosts
 * (no disk data) leaves no blob and its guests no disk instruction. (The
 * accepted upload and download run end to end in
 * test/e2e/libvirtColdMigration.test.ts.)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { sweepDiskTransfers } from '../../src/controller/lifecycle/coldMoveDisk.js';
import { diskTransferPath } from '../../src/controller/services/diskTransfers.js';
import { getGuest, guestSpecOf } from '../../src/storage/repositories/guests.js';
import { listMigrations } from '../../src/storage/repositories/migrations.js';
import { boot, rigOn, until, waitStatus, type Rig } from '../helpers/simulatedRig.js';

describe('agent API: a cold move\'s disk transfer', { timeout: 180_000 }, () => {
  let rig: Rig;
  const lifetime = rigOn('sqlite');
  before(async () => { rig = await lifetime.start(); });
  after(() => lifetime.stop());

  test('source/destination checks, 409 outside migrating, 404s; a simulated move has no blob and no disk instruction; the download, the sweep, confirm removes the blob', { timeout: 120_000 }, async () => {
    const s = await boot(rig, 'transfer-vm');
    assert.equal((await rig.api('POST', `/compute/v2.1/servers/${s.id}/action`, { migrate: null })).status, 202);
    const moved = await waitStatus(rig, s.id, ['VERIFY_RESIZE', 'ERROR']);
    assert.equal(moved.status, 'VERIFY_RESIZE', JSON.stringify(moved.fault));
    const [m] = await listMigrations(rig.tc.ctx.store.reader, { instanceUuid: s.id });
    const source = m!.source_compute!;
    const dest = m!.dest_compute!;
    const token = await rig.tc.token('admin');
    const url = (host: string, migration = m!.uuid) => `${rig.tc.url}/agent/v1/hosts/${host}/guests/${s.id}/disk-transfers/${migration}`;
    const put = (host: string, headers: Record<string, string> = { 'x-auth-token': token }) => fetch(url(host), {
      method: 'PUT', headers: { ...headers, 'content-type': 'application/octet-stream' }, body: Buffer.from('not a disk'),
    });
    const get = (host: string, migration?: string) => fetch(url(host, migration), { headers: { 'x-auth-token': token } });
    const message = async (r: Response) => JSON.stringify(await r.json());

    const downloadBySource = await get(source);
    assert.equal(downloadBySource.status, 403);
    assert.match(await message(downloadBySource), /is not the destination of migration/);
    const uploadByDest = await put(dest);
    assert.equal(uploadByDest.status, 403);
    assert.match(await message(uploadByDest), /is not the source of migration/);
    // The move is finished (VERIFY_RESIZE): its source may upload no more.
    const late = await put(source);
    assert.equal(late.status, 409);
    assert.match(await message(late), /is finished: it takes no disk now/);
    // Simulated hosts have no disk data: nothing was uploaded, nothing to download.
    assert.equal((await get(dest)).status, 404);
    assert.equal((await get(dest, randomUUID())).status, 404);
    const sourceSpec = guestSpecOf((await getGuest(rig.tc.ctx.store.reader, s.id, source))!);
    const destSpec = guestSpecOf((await getGuest(rig.tc.ctx.store.reader, s.id, dest))!);
    assert.equal(sourceSpec.diskExport, undefined, 'the export instruction is taken off once the move is finished');
    assert.equal(destSpec.diskImport, undefined, 'no blob, no import (and none kept once the move is finished)');
    const demo = await put(source, { 'x-auth-token': await rig.tc.token('demo') });
    assert.equal(demo.status, 403);

    // A blob as a libvirt source would have left it: the destination downloads it; the sweep keeps it
    // while the move waits for confirm and removes one no move wants; confirm removes it.
    const blob = diskTransferPath(rig.tc.ctx.imageDir, s.id, m!.uuid);
    const stray = diskTransferPath(rig.tc.ctx.imageDir, s.id, randomUUID());
    await mkdir(dirname(blob), { recursive: true });
    await writeFile(blob, 'the disk');
    await writeFile(stray, 'left by a crash');
    const download = await get(dest);
    assert.equal(download.status, 200);
    assert.equal(download.headers.get('content-type'), 'application/octet-stream');
    assert.equal(await download.text(), 'the disk');
    await sweepDiskTransfers(rig.tc.ctx);
    assert.equal(await readFile(blob, 'utf8'), 'the disk');
    const gone = (path: string) => stat(path).then(() => false, () => true);
    assert.ok(await gone(stray), 'a blob of no move is swept');

    assert.equal((await rig.api('POST', `/compute/v2.1/servers/${s.id}/action`, { confirmResize: null })).status, 204);
    await waitStatus(rig, s.id, ['ACTIVE']);
    assert.ok(await gone(blob), 'confirm removes the blob');
    assert.ok(await gone(dirname(blob)), 'and the server\'s directory of blobs');
    await rig.api('DELETE', `/compute/v2.1/servers/${s.id}`);
    await until('deleted', async () => (await rig.api('GET', `/compute/v2.1/servers/${s.id}`)).status === 404);
  });
});
