import { deferWrite } from '../pipelining.js';
import { guestsOfInstance, type GuestRow } from './guests.js';
import { getInstance, type InstanceRecord } from './instances.js';
import { isoAfter, nowIso } from './json.js';
import type { MigrationRow } from './migrations.js';
import type { Unit, Session } from '../unit.js';
import { dbOf } from '../internal/handles.js';

/**
 * What the operation engine reads and writes about the work in progress:
 * per-server leases (which controller process advances a server now),
 * cluster leases (which process runs a singleton periodic job), the servers
 * a resync looks at, and instance action events.
 */

/**
 * Takes (or renews) the server's lease for `owner` unless another process
 * holds one that has not expired. False when the server is busy elsewhere or gone.
 */
export async function acquireServerLease(unit: Unit, uuid: string, owner: string, seconds: number): Promise<boolean> {
  const db = dbOf(unit);
  const now = nowIso();
  const r = await db.updateTable('instances').set({ lease_owner: owner, lease_expires_at: isoAfter(seconds * 1000) })
    .where('uuid', '=', uuid)
    .where((eb) => eb.or([eb('lease_owner', 'is', null), eb('lease_owner', '=', owner), eb('lease_expires_at', '<', now)]))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Gives the lease up (only if `owner` still holds it), so another process may advance the server at once. */
export async function releaseServerLease(unit: Unit, uuid: string, owner: string): Promise<void> {
  const db = dbOf(unit);
  await db.updateTable('instances').set({ lease_owner: null, lease_expires_at: null })
    .where('uuid', '=', uuid).where('lease_owner', '=', owner).execute();
}

/**
 * Servers a resync must look at: a lease that expired (its process died
 * mid-step) and, with `staleMs`, a task state that has not moved for that
 * long (events usually advance them sooner). Read through the index
 * instances_task.
 */
export async function serversToResync(session: Session, staleMs: number | null): Promise<string[]> {
  const db = dbOf(session);
  const now = nowIso();
  const rows = await db.selectFrom('instances').select('uuid')
    .where('task_state', 'is not', null)
    .where((eb) => {
      const expired = eb.and([eb('lease_owner', 'is not', null), eb('lease_expires_at', '<', now)]);
      if (staleMs === null) return expired;
      const staleBefore = new Date(Date.now() - staleMs).toISOString();
      return eb.or([eb('task_changed_at', 'is', null), eb('task_changed_at', '<', staleBefore), expired]);
    })
    .execute();
  return rows.map((r) => r.uuid);
}

/** Every server lease given up (a SQLite database has one process: what a killed one held is nobody's). */
export async function releaseAllServerLeases(unit: Unit): Promise<void> {
  const db = dbOf(unit);
  await db.updateTable('instances').set({ lease_owner: null, lease_expires_at: null }).where('lease_owner', 'is not', null).execute();
}

/** Every server with an operation in progress (start-up: nothing may wait for an event that will not come). */
export async function serversInProgress(session: Session): Promise<string[]> {
  const db = dbOf(session);
  const rows = await db.selectFrom('instances').select('uuid').where('task_state', 'is not', null).execute();
  return rows.map((r) => r.uuid);
}

/**
 * Takes or renews the cluster lease `name` for `owner`: true while this
 * process holds it. One upsert whose update applies only to its own or an
 * expired lease, so two processes can never both hold it.
 */
export async function holdClusterLease(unit: Unit, name: string, owner: string, seconds: number): Promise<boolean> {
  const db = dbOf(unit);
  const now = nowIso();
  const expires = isoAfter(seconds * 1000);
  await db.insertInto('cluster_leases').values({ name, owner, expires_at: expires })
    .onConflict((oc) => oc.column('name').doUpdateSet({ owner, expires_at: expires })
      .where((eb) => eb.or([eb('cluster_leases.owner', '=', owner), eb('cluster_leases.expires_at', '<', now)])))
    .execute();
  const row = await db.selectFrom('cluster_leases').select('owner').where('name', '=', name).executeTakeFirst();
  return row?.owner === owner;
}

export async function dropClusterLease(unit: Unit, name: string, owner: string): Promise<void> {
  const db = dbOf(unit);
  await db.deleteFrom('cluster_leases').where('name', '=', name).where('owner', '=', owner).execute();
}

export interface ServerSnapshotRows {
  instance: InstanceRecord;
  guests: GuestRow[];
  /** The server's newest migration of any type and status. */
  migration: MigrationRow | null;
}

/** Everything a reconcile step decides from: the server, its guests on every host, its newest migration. */
export async function readServerSnapshot(session: Session, uuid: string): Promise<ServerSnapshotRows | null> {
  const db = dbOf(session);
  const instance = await getInstance(session, uuid);
  if (!instance) return null;
  const [guests, migration] = await Promise.all([
    guestsOfInstance(session, uuid),
    db.selectFrom('migrations').selectAll().where('instance_uuid', '=', uuid).orderBy('id', 'desc').limit(1).executeTakeFirst(),
  ]);
  return { instance, guests: guests.map(({ domain_xml: _xml, ...g }) => g), migration: migration ?? null };
}

export interface ActionEvent {
  event: string;
  host: string | null;
  result: 'Success' | 'Error' | null;
  details?: string | null;
}

/** Records one step of an instance action (e.g. a build attempt on a host), finished or not. */
export async function recordActionEvent(unit: Unit, instanceUuid: string, action: string, e: ActionEvent): Promise<void> {
  const db = dbOf(unit);
  const now = nowIso();
  await deferWrite(db, db.insertInto('instance_action_events').values({
    instance_uuid: instanceUuid, action, event: e.event, host: e.host, start_time: now,
    finish_time: e.result ? now : null, result: e.result, details: e.details ?? null,
  }).compile());
}

/** Finishes the newest open event of that name on the server (an attempt's outcome). */
export async function finishActionEvent(
  unit: Unit, instanceUuid: string, event: string, result: 'Success' | 'Error', details: string | null = null,
): Promise<void> {
  const db = dbOf(unit);
  await deferWrite(db, db.updateTable('instance_action_events').set({ finish_time: nowIso(), result, details })
    .where('id', '=', (eb) => eb.selectFrom('instance_action_events as open').select('open.id')
      .where('open.instance_uuid', '=', instanceUuid).where('open.event', '=', event)
      .where('open.finish_time', 'is', null).orderBy('open.id', 'desc').limit(1))
    .compile());
}

export interface ActionEventRow {
  action: string; event: string; host: string | null; start_time: string; finish_time: string | null;
  result: string | null; details: string | null;
}

export async function actionEventsOf(session: Session, instanceUuid: string): Promise<ActionEventRow[]> {
  const db = dbOf(session);
  return db.selectFrom('instance_action_events')
    .select(['action', 'event', 'host', 'start_time', 'finish_time', 'result', 'details'])
    .where('instance_uuid', '=', instanceUuid).orderBy('id').execute();
}

export async function serverExists(session: Session, uuid: string): Promise<boolean> {
  return (await dbOf(session).selectFrom('instances').select('uuid').where('uuid', '=', uuid).executeTakeFirst()) !== undefined;
}
