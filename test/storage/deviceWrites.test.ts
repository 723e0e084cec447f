/**
 * The device writes (src/storage/devices/deviceWrites.ts) are the only code
 * that writes pci_devices and pci_pools; a device row written through every
 * path (inventory sync, claim, the cold move's swap, a relabel, release, the
 * doctor's fix) keeps its length; and the store's device feed delivers the
 * hosts a committed write changed, never a rolled-back one nor a claim whose
 * caller settles it itself (the scheduler).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { sql } from 'kysely';
import type { TrackedDevice } from '../../src/domain/pci/device.js';
import type { PoolDelta } from '../../src/domain/pci/pools.js';
import { requestForPort } from '../../src/domain/pci/request.js';
import { swapMoveClaims } from '../../src/controller/lifecycle/coldMoveClaims.js';
import { openStore, type Store } from '../../src/storage/db.js';
import { syncInventory } from '../../src/storage/devices/deviceWrites.js';
import { DEVICE_ROW_VARIABLE_WIDTH } from '../../src/storage/devices/rowRoom.js';
import { applyRepair } from '../../src/storage/repositories/audit.js';
import { claimOnHost, releaseConsumer, transferConsumer } from '../../src/storage/repositories/claims.js';
import { registerHost } from '../../src/storage/repositories/hosts.js';
import { withPostgresDatabase } from '../helpers/testController.js';
import { asUnit } from '../helpers/storageAccess.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const VM = '3f0c1a52-9d7e-4c1b-8a8e-2f6b0d4c9e11';
const MIGRATION = '8d1e6b3a-2c4f-4e5a-9b7c-1a2b3c4d5e6f';
const OTHER = 'b7a9c2d4-6e8f-4a1b-9c3d-5e7f9a1b3c5d';

function sourcesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourcesUnder(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

function nic(pfAddr: string, vfs: number): TrackedDevice[] {
  const base = { vendorId: '15b3', numaNode: 0, physicalNetwork: 'physnet0', devname: null, tags: { physical_network: 'physnet0' } };
  const pf: TrackedDevice = { ...base, address: pfAddr, productId: '101d', devType: 'type-PF', parentAddr: null, vdpaName: null, vdpaChardev: null };
  return [pf, ...Array.from({ length: vfs }, (_, i): TrackedDevice => ({
    ...base, address: `${pfAddr.slice(0, -1)}${i + 1}`, productId: '101e', devType: 'vdpa', parentAddr: pfAddr,
    vdpaName: `vdpa${i}`, vdpaChardev: `/dev/vhost-vdpa-${i}`,
  }))];
}

interface Row { address: string; status: string; consumer: string | null; missing: number; width: number }

async function rows(store: Store): Promise<Row[]> {
  const r = await sql<Row>`select address, status, consumer, missing,
    length(status) + coalesce(length(instance_uuid), 0) + coalesce(length(consumer), 0) + coalesce(length(reserved), 0) as width
    from pci_devices order by address`.execute(store.db);
  return r.rows.map((x) => ({ ...x, missing: Number(x.missing), width: Number(x.width) }));
}

async function everyRowKeepsItsRoom(store: Store, after: string): Promise<Row[]> {
  const all = await rows(store);
  assert.deepEqual(all.filter((r) => r.width !== DEVICE_ROW_VARIABLE_WIDTH).map((r) => [r.address, r.status, r.width]), [], `after ${after}`);
  return all;
}

const port = () => [requestForPort({ id: 'p1', vnicType: 'vdpa', physicalNetwork: 'physnet0' })!];
const claim = (store: Store, consumer: string, settledBy?: PoolDelta[]) => store.transact((trx) => claimOnHost(trx, {
  host: 'h1', consumer, instanceUuid: VM, vcpus: 1, memoryMb: 512, diskGb: 1, pciRequests: port(),
}, settledBy));

async function everyPath(store: Store): Promise<void> {
  const heard: string[][] = [];
  store.deviceChanges.subscribe((hosts) => heard.push([...hosts]));
  const news = () => heard.splice(0).flat();

  await registerHost(asUnit(store.db), {
    host: 'h1', serviceVersion: 66, hypervisorType: 'QEMU', hostIp: '127.0.0.1', vcpus: 8, memoryMb: 8192, diskGb: 100,
    versions: { kernel: '6.1.0', libvirt: '9.0.0', qemu: '7.2.0' }, vdpaUnsupportedReason: null,
  }, { cpu: 1, ram: 1, disk: 1 });
  await syncInventory(asUnit(store.db), 'h1', nic('0000:06:00.0', 3));
  await everyRowKeepsItsRoom(store, 'inventory sync');
  assert.deepEqual(news(), ['h1'], 'new devices are news');
  await syncInventory(asUnit(store.db), 'h1', nic('0000:06:00.0', 3));
  assert.deepEqual(news(), [], 'the same inventory again is not');

  await claim(store, VM);
  await everyRowKeepsItsRoom(store, 'claim');
  assert.deepEqual(news(), ['h1'], 'a claim outside the scheduler is news once committed');

  // A same-host resize: the destination claimed under the migration, then the labels swapped through a parking label.
  await claim(store, MIGRATION);
  news();
  await store.transact((trx) => swapMoveClaims(trx, VM, MIGRATION, 'h1', 'h1'));
  let all = await everyRowKeepsItsRoom(store, 'the cold move swap');
  assert.deepEqual(all.map((r) => r.consumer), [null, MIGRATION, VM, null]);
  assert.deepEqual(news(), [], 'a relabel frees nothing');

  // A relabel to a label of another length gives the row back the room the label does not use.
  await store.transact((trx) => transferConsumer(trx, VM, 'short', 'h1'));
  await everyRowKeepsItsRoom(store, 'a relabel to a shorter consumer');
  await store.transact((trx) => transferConsumer(trx, 'short', VM, 'h1'));
  await everyRowKeepsItsRoom(store, 'a relabel back');

  await assert.rejects(store.transact(async (trx) => {
    await releaseConsumer(trx, MIGRATION);
    throw new Error('called off');
  }), /called off/);
  assert.deepEqual(news(), [], 'a rolled-back release is not news');
  await store.transact((trx) => releaseConsumer(trx, MIGRATION));
  all = await everyRowKeepsItsRoom(store, 'release');
  assert.equal(all[1]!.status, 'available');
  assert.deepEqual(news(), ['h1'], 'a committed release is news');

  const settledBy: PoolDelta[] = [];
  await claim(store, OTHER, settledBy);
  assert.deepEqual(news(), [], 'a claim its caller settles itself (the scheduler) is not news');
  assert.deepEqual(settledBy.map((d) => [d.key.devType, d.freeDelta]), [['vdpa', -1]]);
  all = await everyRowKeepsItsRoom(store, 'a claim of the scheduler');
  assert.deepEqual(all.map((r) => r.consumer), [null, OTHER, VM, null]);

  // The agent no longer reports a free VF (.3: removed) nor an allocated one (.2: flagged missing), then both again.
  await syncInventory(asUnit(store.db), 'h1', nic('0000:06:00.0', 3).filter((d) => !d.address.endsWith('.2') && !d.address.endsWith('.3')));
  all = await everyRowKeepsItsRoom(store, 'an inventory without two VFs');
  assert.deepEqual(all.map((r) => [r.address, r.missing]), [['0000:06:00.0', 0], ['0000:06:00.1', 0], ['0000:06:00.2', 1]]);
  assert.deepEqual(news(), ['h1']);
  await syncInventory(asUnit(store.db), 'h1', nic('0000:06:00.0', 3));
  all = await everyRowKeepsItsRoom(store, 'the full inventory again');
  assert.deepEqual(all.map((r) => [r.address, r.status, r.missing]), [
    ['0000:06:00.0', 'unavailable', 0], ['0000:06:00.1', 'allocated', 0], ['0000:06:00.2', 'allocated', 0], ['0000:06:00.3', 'available', 0],
  ]);
  assert.deepEqual(news(), ['h1']);

  // The doctor's status fix.
  const id = Number((await sql<{ id: number }>`select id from pci_devices where address = '0000:06:00.3'`.execute(store.db)).rows[0]!.id);
  await store.transact((trx) => applyRepair(trx, {
    kind: 'set-device-status', id, host: 'h1', address: '0000:06:00.3', from: 'available', to: 'unavailable',
  }));
  await everyRowKeepsItsRoom(store, "the doctor's fix");
  assert.deepEqual(news(), ['h1']);

  await store.transact(async (trx) => {
    await releaseConsumer(trx, VM);
    await releaseConsumer(trx, OTHER);
  });
  all = await everyRowKeepsItsRoom(store, 'releasing everything');
  assert.deepEqual(all.map((r) => r.consumer), [null, null, null, null]);
  assert.deepEqual(heard, [['h1']], 'one transaction, one delivery, each host once');
}

describe('device writes', () => {
  test('only src/storage/devices/deviceWrites.ts writes pci_devices and pci_pools (migrations aside)', { timeout: 300_000 }, () => {
    const write = /(updateTable|insertInto|deleteFrom)\(\s*['"`]pci_(devices|pools)\b|\b(update|insert\s+into|delete\s+from)\s+pci_(devices|pools)\b/i;
    const writers = sourcesUnder(join(ROOT, 'src')).map((f) => relative(ROOT, f))
      .filter((f) => !f.startsWith('src/storage/migrations/') && write.test(readFileSync(join(ROOT, f), 'utf8')));
    assert.deepEqual(writers, ['src/storage/devices/deviceWrites.ts']);
  });

  test('SQLite: a device keeps its room through every write, and the feed tells committed changes only', { timeout: 300_000 }, async () => {
    const store = await openStore(':memory:');
    try {
      await everyPath(store);
    } finally {
      await store.close();
    }
  });

  test('PostgreSQL: the same', { timeout: 300_000 }, async () => {
    await withPostgresDatabase(async (url) => {
      const store = await openStore(url);
      try {
        await everyPath(store);
      } finally {
        await store.close();
      }
    });
  });
});
