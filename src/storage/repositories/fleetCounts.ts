import { sql, type Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { COMPUTE_BINARY } from './hosts.js';
import type { Session } from '../unit.js';
import { dbOf } from '../internal/handles.js';

/**
 * Aggregate counts a metrics scrape reads (src/controller/services/metrics/):
 * one grouped query each, so every controller process on one database
 * reports the same numbers whatever it did itself.
 */

export interface DeviceCountRow {
  host: string;
  physical_network: string | null;
  dev_type: string;
  status: string;
  count: number;
}

/** Tracked devices per host, physical network, kind and status. */
export async function deviceCounts(session: Session): Promise<DeviceCountRow[]> {
  const db = dbOf(session);
  const rows = await db.selectFrom('pci_devices')
    .select(['host', 'physical_network', 'dev_type', 'status', sql<number>`count(*)`.as('count')])
    .groupBy(['host', 'physical_network', 'dev_type', 'status'])
    .execute();
  return rows.map((r) => ({ ...r, count: Number(r.count) }));
}

export interface ServerStateCountRow {
  vm_state: string;
  task_state: string | null;
  count: number;
}

/** Servers per vm state and task state (their API status is derived from both). */
export async function serverStateCounts(session: Session): Promise<ServerStateCountRow[]> {
  const db = dbOf(session);
  const rows = await db.selectFrom('instances')
    .select(['vm_state', 'task_state', sql<number>`count(*)`.as('count')])
    .groupBy(['vm_state', 'task_state'])
    .execute();
  return rows.map((r) => ({ ...r, count: Number(r.count) }));
}

export interface ComputeServiceHeartbeat {
  host: string;
  forced_down: number;
  last_seen_up: string | null;
}

/** Every compute service's last heartbeat and forced-down flag. */
export async function computeServiceHeartbeats(session: Session): Promise<ComputeServiceHeartbeat[]> {
  const db = dbOf(session);
  return db.selectFrom('services').select(['host', 'forced_down', 'last_seen_up'])
    .where('binary', '=', COMPUTE_BINARY).orderBy('host').execute();
}
