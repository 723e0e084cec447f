import { randomUUID } from 'node:crypto';
import { sql, type Selectable } from 'kysely';
import type { HostRegistration } from '../../protocol/agentProtocol.js';
import type { ComputeNodeTable, ServiceTable } from '../schema.js';
import { nowIso, toJson } from './json.js';
import type { Unit, Session } from '../unit.js';
import { dbOf } from '../internal/handles.js';

export const COMPUTE_BINARY = 'nova-compute';
export type ServiceRow = Selectable<ServiceTable>;
export type ComputeNodeRow = Selectable<ComputeNodeTable>;

/** "7.2.0" → 7002000, as Nova encodes hypervisor versions. */
export function encodeVersion(v: string): number {
  const [a = 0, b = 0, c = 0] = v.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  return a * 1_000_000 + b * 1_000 + c;
}

export async function registerHost(unit: Unit, reg: HostRegistration, ratios: { cpu: number; ram: number; disk: number }): Promise<void> {
  const trx = dbOf(unit);
  const now = nowIso();
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
    numa_topology: reg.numaTopology ? toJson(reg.numaTopology) : null,
    updated_at: now,
  };
  if (node) {
    await trx.updateTable('compute_nodes').set(values).where('id', '=', node.id).execute();
  } else {
    await trx.insertInto('compute_nodes').values({
      ...values, uuid: randomUUID(), host: reg.host, vcpus_used: 0, memory_mb_used: 0, local_gb_used: 0,
      running_vms: 0, numa_usage: null, created_at: now,
    }).execute();
  }
}

export async function heartbeat(unit: Unit, host: string): Promise<boolean> {
  const db = dbOf(unit);
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

export async function listServices(session: Session, filter: { host?: string; binary?: string } = {}): Promise<ServiceRow[]> {
  const db = dbOf(session);
  let q = db.selectFrom('services').selectAll().orderBy('host');
  if (filter.host) q = q.where('host', '=', filter.host);
  if (filter.binary) q = q.where('binary', '=', filter.binary);
  return q.execute();
}

export async function computeNodes(session: Session): Promise<ComputeNodeRow[]> {
  const db = dbOf(session);
  return db.selectFrom('compute_nodes').selectAll().orderBy('id').execute();
}

export async function computeNodeOf(session: Session, host: string): Promise<ComputeNodeRow | undefined> {
  const db = dbOf(session);
  return db.selectFrom('compute_nodes').selectAll().where('host', '=', host).executeTakeFirst();
}

/** The lowest service version among compute services: what gates vDPA operations in a rolling upgrade. */
export async function minimumComputeVersion(session: Session): Promise<number | null> {
  const db = dbOf(session);
  const r = await db.selectFrom('services').select((eb) => eb.fn.min<number>('version').as('v'))
    .where('binary', '=', COMPUTE_BINARY).executeTakeFirst();
  return r?.v ?? null;
}

/** True while an operator has forced the host's compute service down (it is fenced: it gets no work). */
export async function serviceForcedDown(session: Session, host: string): Promise<boolean> {
  const db = dbOf(session);
  const s = await db.selectFrom('services').select('forced_down').where('host', '=', host)
    .where('binary', '=', COMPUTE_BINARY).executeTakeFirst();
  return s?.forced_down === 1;
}

export async function getService(session: Session, id: string): Promise<ServiceRow | undefined> {
  const db = dbOf(session);
  return db.selectFrom('services').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Writes a service's status columns and gives back the row as it is now. */
export async function updateService(
  unit: Unit, id: string, set: Partial<Pick<ServiceRow, 'disabled' | 'disabled_reason' | 'forced_down' | 'updated_at'>>,
): Promise<ServiceRow> {
  const db = dbOf(unit);
  await db.updateTable('services').set(set).where('id', '=', id).execute();
  return (await getService(unit, id))!;
}
