/**
 * The doctor's reads and repairs: a snapshot of the audited tables read in
 * one transaction (repeatable read on PostgreSQL, so every table shows the
 * same moment), and the repairs --fix makes, through the same repository
 * functions the engine uses.
 */
import { type Kysely } from 'kysely';
import { auditSnapshot } from '../../domain/audit/audit.js';
import { REPAIR_STAGES, type Finding, type Repair } from '../../domain/audit/findings.js';
import type { AuditOptions, AuditSnapshot } from '../../domain/audit/snapshot.js';
import type { PciRequest } from '../../domain/pci/request.js';
import type { Storage } from '../db.js';
import { noteHostChanged } from '../devices/changeFeed.js';
import { recountPools, setFreeDeviceStatus } from '../devices/deviceWrites.js';
import type { Database } from '../schema.js';
import { releaseConsumer } from './claims.js';
import { deleteGuest } from './guests.js';
import { fromJson, nowIso } from './json.js';
import { deviceFromRow } from './pciDevices.js';
import { unbindPort } from './ports.js';
import type { Unit, Session } from '../unit.js';
import { dbOf } from '../internal/handles.js';

function pciSlotOf(profile: string): string | null {
  const slot = fromJson<Record<string, unknown> | null>(profile, null)?.['pci_slot'];
  return typeof slot === 'string' && slot !== '' ? slot : null;
}

export async function readAuditSnapshot(session: Session): Promise<AuditSnapshot> {
  const db = dbOf(session);
  const instances = await db.selectFrom('instances')
    .select(['uuid', 'vm_state', 'task_state', 'host', 'task_changed_at', 'updated_at', 'network_requests', 'pci_requests']).orderBy('uuid').execute();
  const migrations = await db.selectFrom('migrations')
    .select(['uuid', 'instance_uuid', 'migration_type', 'status', 'source_compute', 'dest_compute']).orderBy('id').execute();
  const devices = await db.selectFrom('pci_devices').selectAll().orderBy('host').orderBy('address').execute();
  const pools = await db.selectFrom('pci_pools').selectAll().orderBy('host').execute();
  const nodes = await db.selectFrom('compute_nodes')
    .select(['host', 'vcpus_used', 'memory_mb_used', 'local_gb_used', 'running_vms']).orderBy('host').execute();
  const allocations = await db.selectFrom('allocations').selectAll().orderBy('consumer').orderBy('host').execute();
  const ports = await db.selectFrom('ports').select(['id', 'device_id', 'device_owner', 'host_id', 'profile']).orderBy('id').execute();
  const guests = await db.selectFrom('guests').select(['instance_uuid', 'host']).orderBy('instance_uuid').orderBy('host').execute();
  return {
    instances: instances.map((r) => {
      const requests = fromJson<PciRequest[]>(r.pci_requests, []);
      return {
        uuid: r.uuid, vmState: r.vm_state, taskState: r.task_state, host: r.host,
        taskChangedAt: r.task_changed_at, updatedAt: r.updated_at, portIds: fromJson<string[]>(r.network_requests, []),
        devicePortIds: requests.flatMap((q) => (q.source?.kind === 'port' ? [q.source.portId] : [])),
        aliasDeviceCount: requests.reduce((n, q) => n + (q.source?.kind === 'alias' ? q.count : 0), 0),
      };
    }),
    migrations: migrations.map((m) => ({
      uuid: m.uuid, instanceUuid: m.instance_uuid, migrationType: m.migration_type, status: m.status,
      sourceCompute: m.source_compute, destCompute: m.dest_compute,
    })),
    devices: devices.map(deviceFromRow),
    pools: pools.map((p) => ({
      host: p.host, devType: p.dev_type, physicalNetwork: p.physical_network, vendorId: p.vendor_id, productId: p.product_id,
      free: p.free, total: p.total,
    })),
    computeNodes: nodes.map((n) => ({
      host: n.host, vcpusUsed: n.vcpus_used, memoryMbUsed: n.memory_mb_used, localGbUsed: n.local_gb_used, runningVms: n.running_vms,
    })),
    allocations: allocations.map((a) => ({ consumer: a.consumer, host: a.host, vcpus: a.vcpus, memoryMb: a.memory_mb, diskGb: a.disk_gb })),
    ports: ports.map((p) => ({ id: p.id, deviceId: p.device_id, deviceOwner: p.device_owner, hostId: p.host_id, pciSlot: pciSlotOf(p.profile) })),
    guests: guests.map((g) => ({ instanceUuid: g.instance_uuid, host: g.host })),
  };
}

/** A transaction that sees one moment of the whole database (SQLite transactions always do). */
function consistently<T>(store: Storage, work: (unit: Unit) => Promise<T>): Promise<T> {
  return store.transact(work, { consistentSnapshot: true });
}

export async function auditDatabase(store: Storage, opts: AuditOptions): Promise<Finding[]> {
  return consistently(store, async (trx) => auditSnapshot(await readAuditSnapshot(trx), opts));
}

async function recountUsage(trx: Kysely<Database>, host: string): Promise<void> {
  const rows = await trx.selectFrom('allocations').selectAll().where('host', '=', host).execute();
  const sum = (f: (r: (typeof rows)[number]) => number) => rows.reduce((n, r) => n + f(r), 0);
  await trx.updateTable('compute_nodes').set({
    vcpus_used: sum((r) => r.vcpus), memory_mb_used: sum((r) => r.memory_mb), local_gb_used: sum((r) => r.disk_gb),
    running_vms: rows.length, updated_at: nowIso(),
  }).where('host', '=', host).execute();
  noteHostChanged(trx, host);
}

export async function applyRepair(unit: Unit, r: Repair): Promise<void> {
  switch (r.kind) {
    case 'release-consumer': await releaseConsumer(unit, r.consumer); return;
    case 'unbind-port': await unbindPort(unit, r.portId); return;
    case 'delete-guest': await deleteGuest(unit, r.instanceUuid, r.host); return;
    case 'set-device-status': await setFreeDeviceStatus(unit, r); return;
    case 'recount-pools': await recountPools(unit, r.host); return;
    case 'recount-usage': await recountUsage(dbOf(unit), r.host); return;
  }
}

export interface RepairOutcome {
  /** What the first audit found. */
  found: Finding[];
  /** The findings whose repair was made (a later stage may repair what an earlier one left). */
  repaired: Finding[];
}

/**
 * Audits and repairs what is safe, in one transaction: stage by stage
 * (REPAIR_STAGES), each on a fresh audit of the rows as the previous stage
 * left them. Findings without a repair (a live server's claims, a stuck
 * task) are left alone.
 */
export async function repairDatabase(store: Storage, opts: AuditOptions): Promise<RepairOutcome> {
  return consistently(store, async (trx) => {
    let found: Finding[] | null = null;
    const repaired: Finding[] = [];
    for (const stage of REPAIR_STAGES) {
      const findings = auditSnapshot(await readAuditSnapshot(trx), opts);
      found ??= findings;
      const due = findings.filter((f) => f.repair !== null && stage.includes(f.repair.kind));
      const done = new Set<string>();
      for (const f of due) {
        const key = JSON.stringify(f.repair);
        if (!done.has(key)) await applyRepair(trx, f.repair!);
        done.add(key);
      }
      repaired.push(...due);
    }
    return { found: found ?? [], repaired };
  });
}
