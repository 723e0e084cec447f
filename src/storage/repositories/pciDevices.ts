import type { Kysely, Selectable } from 'kysely';
import type { DeviceStatus, HostDevice, TrackedDeviceType } from '../../domain/pci/device.js';
import type { Database, PciDeviceTable } from '../schema.js';
import { execute } from '../inTransaction.js';
import { runTogether } from '../pipelining.js';
import { precompiled } from '../precompiled.js';
import { fromJson } from './json.js';
import type { Session } from '../unit.js';
import { dbOf } from '../internal/handles.js';

export type PciDeviceRow = Selectable<PciDeviceTable>;

export function deviceFromRow(r: PciDeviceRow): HostDevice & { consumer: string | null } {
  return {
    id: r.id,
    host: r.host,
    address: r.address,
    vendorId: r.vendor_id,
    productId: r.product_id,
    devType: r.dev_type as TrackedDeviceType,
    status: r.status as DeviceStatus,
    parentAddr: r.parent_addr,
    numaNode: r.numa_node,
    physicalNetwork: r.physical_network,
    devname: r.devname,
    vdpaName: r.vdpa_name,
    vdpaChardev: r.vdpa_chardev,
    tags: fromJson<Record<string, string>>(r.tags, {}),
    instanceUuid: r.instance_uuid,
    consumer: r.consumer,
    missing: r.missing === 1,
  };
}

export async function devicesOfHost(session: Session, host: string): Promise<ReturnType<typeof deviceFromRow>[]> {
  const db = dbOf(session);
  const rows = await db.selectFrom('pci_devices').selectAll().where('host', '=', host).orderBy('address').execute();
  return rows.map(deviceFromRow);
}

export async function devicesOfConsumer(session: Session, consumer: string): Promise<ReturnType<typeof deviceFromRow>[]> {
  const db = dbOf(session);
  const rows = await db.selectFrom('pci_devices').selectAll().where('consumer', '=', consumer).orderBy('address').execute();
  return rows.map(deviceFromRow);
}

const deviceAtQuery = (db: Kysely<Database>, p: { host: string; address: string }) =>
  db.selectFrom('pci_devices').selectAll().where('host', '=', p.host).where('address', '=', p.address);
const deviceAt = precompiled<{ host: string; address: string }, PciDeviceRow>(deviceAtQuery);
const deviceAtLocking = precompiled<{ host: string; address: string }, PciDeviceRow>((db, p) => deviceAtQuery(db, p).forUpdate());

/**
 * A device's parent PF and every tracked child of that PF (or of the device,
 * when it is a PF). With `siblings: 'in-use'` a VF's family holds only the
 * children that are claimed or allocated: all the tracker looks at to claim
 * or free a VF, and a few rows instead of the whole NIC. With `'none'` a
 * VF's family is its PF alone (enough to claim a VF).
 */
export async function familyOf(
  session: Session, device: HostDevice, lock: boolean, siblings: 'all' | 'in-use' | 'none' = 'all',
): Promise<HostDevice[]> {
  const db = dbOf(session);
  const pfAddr = device.parentAddr ?? device.address;
  // Locking the PF row first serialises every claim and free within one NIC on PostgreSQL.
  const parentQuery = (lock ? deviceAtLocking : deviceAt).compile(db, { host: device.host, address: pfAddr });
  if (siblings === 'none' && device.parentAddr !== null) {
    const [parent] = (await execute(db, parentQuery)).rows;
    return parent ? [deviceFromRow(parent)] : [];
  }
  let childQuery = db.selectFrom('pci_devices').selectAll()
    .where('host', '=', device.host).where('parent_addr', '=', pfAddr);
  if (siblings === 'in-use' && device.parentAddr !== null) childQuery = childQuery.where('status', 'in', ['claimed', 'allocated']);
  // In that order, in one round trip (pipelining.ts): the PF's lock is still taken first.
  const [parents, children] = await runTogether(db, [parentQuery, childQuery.compile()]);
  return [...(parents!.rows as PciDeviceRow[]), ...(children!.rows as PciDeviceRow[])].map(deviceFromRow);
}

/** Every tracked device of every host, by host and address. */
export async function allDevices(session: Session): Promise<ReturnType<typeof deviceFromRow>[]> {
  const db = dbOf(session);
  return (await db.selectFrom('pci_devices').selectAll().orderBy('host').orderBy('address').execute()).map(deviceFromRow);
}
