/**
 * Every write to `pci_devices` and `pci_pools` (test/storage/deviceWrites.test.ts
 * checks that no other file under src/ has one): a claim's and a release's
 * device moves, a relabel of who holds them, the inventory an agent reports,
 * and the doctor's status fix. Each write that sets a row's status,
 * instance_uuid or consumer sets its reserved room with them (rowRoom.ts),
 * and each one that changes what a host has free tells the store's feed
 * (changeFeed.ts), which delivers it after the commit.
 */
import { sql, type Kysely } from 'kysely';
import { ClaimConflict } from '../../domain/errors.js';
import type { HostDevice, TrackedDevice } from '../../domain/pci/device.js';
import { poolDeltas, summarizePools, type Pool, type PoolDelta } from '../../domain/pci/pools.js';
import type { DeviceChange } from '../../domain/pci/tracker.js';
import type { Database } from '../schema.js';
import { deferWrite } from '../pipelining.js';
import { precompiled } from '../precompiled.js';
import { deviceFromRow } from '../repositories/pciDevices.js';
import { nowIso, toJson } from '../repositories/json.js';
import { noteHostChanged } from './changeFeed.js';
import { reservedRoom, reservedRoomForConsumerSql } from './rowRoom.js';
import type { Unit } from '../unit.js';
import { dbOf } from '../internal/handles.js';

// The statements every claim and release runs, built once (precompiled.ts).
const moveDevice = precompiled<{ id: number; from: string; to: string; instanceUuid: string | null; consumer: string | null; reserved: string | null; now: string }>((db, p) =>
  db.updateTable('pci_devices')
    .set({ status: p.to, instance_uuid: p.instanceUuid, consumer: p.consumer, reserved: p.reserved, updated_at: p.now })
    .where('id', '=', p.id).where('status', '=', p.from));

const movePoolFree = precompiled<{ host: string; devType: string; physicalNetwork: string; vendorId: string; productId: string; delta: number }>((db, p) =>
  db.updateTable('pci_pools').set({ free: sql`free + ${p.delta}` })
    .where('host', '=', p.host).where('dev_type', '=', p.devType).where('physical_network', '=', p.physicalNetwork)
    .where('vendor_id', '=', p.vendorId).where('product_id', '=', p.productId));

/**
 * Writes the tracker's device changes (domain/pci/tracker.ts) of one host and
 * the free counts of the pools they move, each write conditional on the
 * status it read (a lost race is a ClaimConflict). The changes are the
 * host's news on the store's feed, unless the caller passes `settledBy`: it
 * then gets the exact pool changes and counts them itself (the scheduler's
 * candidate index settles its reservation with them; scheduler.ts).
 */
export async function applyDeviceChanges(
  unit: Unit, host: string, known: HostDevice[], changes: DeviceChange[], consumer: string | null, now: string,
  settledBy?: PoolDelta[],
): Promise<void> {
  const trx = dbOf(unit);
  for (const c of changes) {
    const holder = c.to === 'claimed' || c.to === 'allocated' ? consumer : null;
    await deferWrite(trx, moveDevice.compile(trx, {
      id: c.id, from: c.from, to: c.to, instanceUuid: c.instanceUuid, consumer: holder, reserved: reservedRoom(c.to, c.instanceUuid, holder), now,
    }), () => new ClaimConflict(`device ${c.address} on ${host} changed under us`));
  }
  const byId = new Map(known.map((d) => [d.id, d]));
  for (const delta of poolDeltas(byId, changes)) {
    settledBy?.push(delta);
    await deferWrite(trx, movePoolFree.compile(trx, { host, ...delta.key, delta: delta.freeDelta }));
  }
  if (settledBy === undefined && changes.length > 0) noteHostChanged(trx, host);
}

/**
 * Hands the devices a consumer holds on a host to another consumer (who holds
 * a claim, not what is free: nothing for the feed). Each row's room is
 * recomputed for the new label, whatever its length.
 */
export async function transferDevices(unit: Unit, from: string, to: string, host: string): Promise<void> {
  const trx = dbOf(unit);
  await trx.updateTable('pci_devices').set({ consumer: to, reserved: reservedRoomForConsumerSql(to) })
    .where('consumer', '=', from).where('host', '=', host).execute();
}

/**
 * The doctor's fix of a free device's status (no server, no consumer), as
 * long as the row still has the status the audit saw.
 */
export async function setFreeDeviceStatus(
  unit: Unit, d: { id: number; host: string; address: string; from: string; to: string },
): Promise<void> {
  const trx = dbOf(unit);
  const done = await trx.updateTable('pci_devices')
    .set({ status: d.to, instance_uuid: null, consumer: null, reserved: reservedRoom(d.to, null, null), updated_at: nowIso() })
    .where('id', '=', d.id).where('status', '=', d.from).executeTakeFirst();
  if (Number(done.numUpdatedRows) !== 1) throw new Error(`device ${d.host}/${d.address} changed while the doctor fixed it; run it again`);
  noteHostChanged(trx, d.host);
}

const INSERT_CHUNK = 400;

/**
 * Makes the recorded devices of a host match what its agent discovered: new
 * devices become available, vanished free ones are dropped, vanished claimed or
 * allocated ones are flagged missing (never handed out again, still visible
 * with their server), and the host's pools are recounted; when they changed,
 * the host is news on the store's feed once the unit commits.
 */
export async function syncInventory(unit: Unit, host: string, devices: TrackedDevice[]): Promise<{ added: number; removed: number; flagged: number }> {
  const trx = dbOf(unit);
  const now = nowIso();
  const existingRows = await trx.selectFrom('pci_devices').selectAll().where('host', '=', host).execute();
  const existing = new Map(existingRows.map((r) => [r.address, r]));
  const reported = new Map(devices.map((d) => [d.address, d]));
  const inUse = (status: string) => status === 'claimed' || status === 'allocated';
  let added = 0;
  let removed = 0;
  let flagged = 0;

  const inserts = [];
  for (const d of devices) {
    const row = existing.get(d.address);
    const attrs = {
      vendor_id: d.vendorId, product_id: d.productId, dev_type: d.devType, parent_addr: d.parentAddr,
      numa_node: d.numaNode, physical_network: d.physicalNetwork, devname: d.devname, vdpa_name: d.vdpaName,
      vdpa_chardev: d.vdpaChardev, tags: toJson(d.tags), updated_at: now,
    };
    if (!row) {
      const parent = d.parentAddr ? existing.get(d.parentAddr) : undefined;
      const childInUse = existingRows.some((r) => r.parent_addr === d.address && inUse(r.status));
      const blocked = (parent && parent.status === 'allocated') || childInUse;
      const status = blocked ? 'unavailable' : 'available';
      inserts.push({ ...attrs, host, address: d.address, status, instance_uuid: null, consumer: null, missing: 0, reserved: reservedRoom(status, null, null) });
      added += 1;
      continue;
    }
    // An allocated VF that lost its vDPA device (or got another chardev) is, for its server, a vanished
    // device: keep what the server was given and flag it, never rewrite it under the guest.
    const changedUnderGuest = inUse(row.status) && (row.dev_type !== d.devType || row.vdpa_chardev !== d.vdpaChardev);
    if (changedUnderGuest) {
      if (row.missing === 0) {
        await trx.updateTable('pci_devices').set({ missing: 1, updated_at: now }).where('id', '=', row.id).execute();
        flagged += 1;
      }
      continue;
    }
    await trx.updateTable('pci_devices').set({
      ...attrs, missing: 0, ...(row.status === 'removed' ? { status: 'available', reserved: reservedRoom('available', row.instance_uuid, row.consumer) } : {}),
    }).where('id', '=', row.id).execute();
  }
  for (let i = 0; i < inserts.length; i += INSERT_CHUNK) {
    await trx.insertInto('pci_devices').values(inserts.slice(i, i + INSERT_CHUNK)).execute();
  }
  for (const row of existingRows) {
    if (reported.has(row.address)) continue;
    if (inUse(row.status)) {
      if (row.missing === 0) {
        await trx.updateTable('pci_devices').set({ missing: 1, updated_at: now }).where('id', '=', row.id).execute();
        flagged += 1;
      }
    } else {
      await trx.deleteFrom('pci_devices').where('id', '=', row.id).execute();
      removed += 1;
    }
  }
  const before = summarizePools(existingRows.map(deviceFromRow));
  const after = await writePools(trx, host);
  if (!samePools(before, after)) noteHostChanged(trx, host);
  return { added, removed, flagged };
}

/** Rebuilds a host's pool rows from its devices (inventory changes, the doctor; claims adjust counts in place). */
export async function recountPools(unit: Unit, host: string): Promise<void> {
  const db = dbOf(unit);
  await writePools(db, host);
  noteHostChanged(db, host);
}

async function writePools(db: Kysely<Database>, host: string): Promise<Pool[]> {
  const rows = await db.selectFrom('pci_devices').selectAll().where('host', '=', host).execute();
  const pools = summarizePools(rows.map(deviceFromRow));
  await db.deleteFrom('pci_pools').where('host', '=', host).execute();
  if (pools.length === 0) return pools;
  await db.insertInto('pci_pools').values(pools.map((p) => ({
    host, dev_type: p.devType, physical_network: p.physicalNetwork, vendor_id: p.vendorId,
    product_id: p.productId, free: p.free, total: p.total,
  }))).execute();
  return pools;
}

function samePools(a: Pool[], b: Pool[]): boolean {
  return a.length === b.length && a.every((p, i) => {
    const q = b[i]!;
    return p.devType === q.devType && p.physicalNetwork === q.physicalNetwork && p.vendorId === q.vendorId
      && p.productId === q.productId && p.free === q.free && p.total === q.total;
  });
}
