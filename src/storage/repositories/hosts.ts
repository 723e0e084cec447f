import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Selectable } from 'kysely';
import type { TrackedDevice } from '../../domain/pci/device.js';
import { summarizePools } from '../../domain/pci/pools.js';
import type { HostRegistration } from '../../protocol/agentProtocol.js';
import type { ComputeNodeTable, Database, ServiceTable } from '../schema.js';
import { reservedRoom } from '../deviceRowRoom.js';
import { deviceFromRow } from './pciDevices.js';
import { nowIso, toJson } from './json.js';

export const COMPUTE_BINARY = 'nova-compute';
export type ServiceRow = Selectable<ServiceTable>;
export type ComputeNodeRow = Selectable<ComputeNodeTable>;

/** "7.2.0" → 7002000, as Nova encodes hypervisor versions. */
export function encodeVersion(v: string): number {
  const [a = 0, b = 0, c = 0] = v.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  return a * 1_000_000 + b * 1_000 + c;
}

export async function registerHost(db: Kysely<Database>, reg: HostRegistration, ratios: { cpu: number; ram: number; disk: number }): Promise<void> {
  const now = nowIso();
  await db.transaction().execute(async (trx) => {
    const service = await trx.selectFrom('services').select(['id']).where('host', '=', reg.host)
      .where('binary', '=', COMPUTE_BINARY).executeTakeFirst();
    if (service) {
      await trx.updateTable('services').set({ version: reg.serviceVersion, last_seen_up: now, updated_at: now })
        .where('id', '=', service.id).execute();
    } else {
      await trx.insertInto('services').values({
        id: randomUUID(), host: reg.host, binary: COMPUTE_BINARY, topic: 'compute', zone: 'nova', disabled: 0,
        disabled_reason: null, forced_down: 0, last_seen_up: now, version: reg.serviceVersion, report_count: 1,
        created_at: now, updated_at: now,
      }).execute();
    }
    const node = await trx.selectFrom('compute_nodes').select(['id']).where('host', '=', reg.host).executeTakeFirst();
    const values = {
      hypervisor_type: reg.hypervisorType, hypervisor_version: encodeVersion(reg.versions.qemu),
      vcpus: reg.vcpus, memory_mb: reg.memoryMb, local_gb: reg.diskGb, host_ip: reg.hostIp,
      versions: toJson(reg.versions), vdpa_unsupported_reason: reg.vdpaUnsupportedReason,
      cpu_allocation_ratio: ratios.cpu, ram_allocation_ratio: ratios.ram, disk_allocation_ratio: ratios.disk,
      updated_at: now,
    };
    if (node) {
      await trx.updateTable('compute_nodes').set(values).where('id', '=', node.id).execute();
    } else {
      await trx.insertInto('compute_nodes').values({
        ...values, uuid: randomUUID(), host: reg.host, vcpus_used: 0, memory_mb_used: 0, local_gb_used: 0,
        running_vms: 0, created_at: now,
      }).execute();
    }
  });
}

export async function heartbeat(db: Kysely<Database>, host: string): Promise<boolean> {
  const now = nowIso();
  const r = await db.updateTable('services')
    .set({ last_seen_up: now, updated_at: now, report_count: sql`report_count + 1` })
    .where('host', '=', host).where('binary', '=', COMPUTE_BINARY).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export function serviceIsUp(s: Pick<ServiceRow, 'forced_down' | 'last_seen_up'>, downAfterSeconds: number, now = Date.now()): boolean {
  if (s.forced_down) return false;
  if (!s.last_seen_up) return false;
  return now - Date.parse(s.last_seen_up) <= downAfterSeconds * 1000;
}

const INSERT_CHUNK = 400;

/**
 * Makes the recorded devices of a host match what its agent discovered: new
 * devices become available, vanished free ones are dropped, vanished claimed or
 * allocated ones are flagged missing (never handed out again, still visible
 * with their server), and the host's pools are recounted.
 */
export async function syncInventory(db: Kysely<Database>, host: string, devices: TrackedDevice[]): Promise<{ added: number; removed: number; flagged: number }> {
  const now = nowIso();
  return db.transaction().execute(async (trx) => {
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
    await recountPools(trx, host);
    return { added, removed, flagged };
  });
}

/** Rebuilds a host's pool rows from its devices (inventory changes only; claims adjust counts in place). */
export async function recountPools(db: Kysely<Database>, host: string): Promise<void> {
  const rows = await db.selectFrom('pci_devices').selectAll().where('host', '=', host).execute();
  const pools = summarizePools(rows.map(deviceFromRow));
  await db.deleteFrom('pci_pools').where('host', '=', host).execute();
  if (pools.length === 0) return;
  await db.insertInto('pci_pools').values(pools.map((p) => ({
    host, dev_type: p.devType, physical_network: p.physicalNetwork, vendor_id: p.vendorId,
    product_id: p.productId, free: p.free, total: p.total,
  }))).execute();
}

export async function listServices(db: Kysely<Database>, filter: { host?: string; binary?: string } = {}): Promise<ServiceRow[]> {
  let q = db.selectFrom('services').selectAll().orderBy('host');
  if (filter.host) q = q.where('host', '=', filter.host);
  if (filter.binary) q = q.where('binary', '=', filter.binary);
  return q.execute();
}

export async function computeNodes(db: Kysely<Database>): Promise<ComputeNodeRow[]> {
  return db.selectFrom('compute_nodes').selectAll().orderBy('id').execute();
}

export async function computeNodeOf(db: Kysely<Database>, host: string): Promise<ComputeNodeRow | undefined> {
  return db.selectFrom('compute_nodes').selectAll().where('host', '=', host).executeTakeFirst();
}

/** The lowest service version among compute services: what gates vDPA operations in a rolling upgrade. */
export async function minimumComputeVersion(db: Kysely<Database>): Promise<number | null> {
  const r = await db.selectFrom('services').select((eb) => eb.fn.min<number>('version').as('v'))
    .where('binary', '=', COMPUTE_BINARY).executeTakeFirst();
  return r?.v ?? null;
}

/** True while an operator has forced the host's compute service down (it is fenced: it gets no work). */
export async function serviceForcedDown(db: Kysely<Database>, host: string): Promise<boolean> {
  const s = await db.selectFrom('services').select('forced_down').where('host', '=', host)
    .where('binary', '=', COMPUTE_BINARY).executeTakeFirst();
  return s?.forced_down === 1;
}

export async function getService(db: Kysely<Database>, id: string): Promise<ServiceRow | undefined> {
  return db.selectFrom('services').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Writes a service's status columns and gives back the row as it is now. */
export async function updateService(
  db: Kysely<Database>, id: string, set: Partial<Pick<ServiceRow, 'disabled' | 'disabled_reason' | 'forced_down' | 'updated_at'>>,
): Promise<ServiceRow> {
  await db.updateTable('services').set(set).where('id', '=', id).execute();
  return (await getService(db, id))!;
}
