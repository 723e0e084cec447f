import { dbOf } from '../internal/handles.js';
import type { Session, Unit } from '../unit.js';
import { nowIso } from './json.js';

export interface AggregateRecord {
  id: number;
  uuid: string;
  name: string;
  hosts: string[];
  metadata: Record<string, string>;
  createdAt: string;
  updatedAt: string | null;
}

/** Every aggregate with its hosts and metadata (three reads; aggregates are few). */
export async function listAggregates(session: Session): Promise<AggregateRecord[]> {
  const db = dbOf(session);
  const [rows, hosts, metadata] = await Promise.all([
    db.selectFrom('aggregates').selectAll().orderBy('id').execute(),
    db.selectFrom('aggregate_hosts').selectAll().orderBy('host').execute(),
    db.selectFrom('aggregate_metadata').selectAll().orderBy('key').execute(),
  ]);
  const byId = new Map<number, AggregateRecord>(rows.map((r) => [r.id, {
    id: r.id, uuid: r.uuid, name: r.name, hosts: [], metadata: {}, createdAt: r.created_at, updatedAt: r.updated_at,
  }]));
  for (const h of hosts) byId.get(h.aggregate_id)?.hosts.push(h.host);
  for (const m of metadata) {
    const a = byId.get(m.aggregate_id);
    if (a) a.metadata[m.key] = m.value;
  }
  return [...byId.values()];
}

export async function getAggregate(session: Session, id: number): Promise<AggregateRecord | null> {
  const db = dbOf(session);
  const row = await db.selectFrom('aggregates').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) return null;
  const [hosts, metadata] = await Promise.all([
    db.selectFrom('aggregate_hosts').select('host').where('aggregate_id', '=', id).orderBy('host').execute(),
    db.selectFrom('aggregate_metadata').select(['key', 'value']).where('aggregate_id', '=', id).orderBy('key').execute(),
  ]);
  return {
    id: row.id, uuid: row.uuid, name: row.name, hosts: hosts.map((h) => h.host),
    metadata: Object.fromEntries(metadata.map((m) => [m.key, m.value])), createdAt: row.created_at, updatedAt: row.updated_at,
  };
}

export async function aggregateNameTaken(session: Session, name: string, exceptId?: number): Promise<boolean> {
  const db = dbOf(session);
  let q = db.selectFrom('aggregates').select('id').where('name', '=', name);
  if (exceptId !== undefined) q = q.where('id', '!=', exceptId);
  return (await q.executeTakeFirst()) !== undefined;
}

export async function insertAggregate(unit: Unit, a: { uuid: string; name: string }): Promise<number> {
  const db = dbOf(unit);
  const row = await db.insertInto('aggregates').values({ uuid: a.uuid, name: a.name, created_at: nowIso(), updated_at: null })
    .returning('id').executeTakeFirstOrThrow();
  return row.id;
}

export async function renameAggregate(unit: Unit, id: number, name: string): Promise<void> {
  const db = dbOf(unit);
  await db.updateTable('aggregates').set({ name, updated_at: nowIso() }).where('id', '=', id).execute();
}

export async function touchAggregate(unit: Unit, id: number): Promise<void> {
  const db = dbOf(unit);
  await db.updateTable('aggregates').set({ updated_at: nowIso() }).where('id', '=', id).execute();
}

/** Sets (value) or removes (null) metadata keys. */
export async function setAggregateMetadata(unit: Unit, id: number, changes: Record<string, string | null>): Promise<void> {
  const db = dbOf(unit);
  for (const [key, value] of Object.entries(changes)) {
    await db.deleteFrom('aggregate_metadata').where('aggregate_id', '=', id).where('key', '=', key).execute();
    if (value !== null) await db.insertInto('aggregate_metadata').values({ aggregate_id: id, key, value }).execute();
  }
}

export async function addAggregateHost(unit: Unit, id: number, host: string): Promise<void> {
  const db = dbOf(unit);
  await db.insertInto('aggregate_hosts').values({ aggregate_id: id, host }).execute();
}

export async function removeAggregateHost(unit: Unit, id: number, host: string): Promise<boolean> {
  const db = dbOf(unit);
  const r = await db.deleteFrom('aggregate_hosts').where('aggregate_id', '=', id).where('host', '=', host).executeTakeFirst();
  return Number(r.numDeletedRows) === 1;
}

export async function deleteAggregate(unit: Unit, id: number): Promise<void> {
  const db = dbOf(unit);
  await db.deleteFrom('aggregate_metadata').where('aggregate_id', '=', id).execute();
  await db.deleteFrom('aggregate_hosts').where('aggregate_id', '=', id).execute();
  await db.deleteFrom('aggregates').where('id', '=', id).execute();
}

/** Whether any server of these hosts is in a zone other than `zone` (Nova refuses to move such hosts between zones). */
export async function hostsHaveServers(session: Session, hosts: string[]): Promise<boolean> {
  const db = dbOf(session);
  if (hosts.length === 0) return false;
  const row = await db.selectFrom('instances').select('uuid').where('host', 'in', hosts).limit(1).executeTakeFirst();
  return row !== undefined;
}
