import type { Selectable } from 'kysely';
import type { MigrationTable } from '../schema.js';
import { nowIso } from './json.js';
import type { Unit, Session } from '../unit.js';
import { dbOf } from '../internal/handles.js';

export type MigrationRow = Selectable<MigrationTable>;

/** Nova's migration_type values. */
export type MigrationType = 'migration' | 'resize' | 'live-migration' | 'evacuation';

/**
 * Statuses after which a migration no longer holds anything (Nova's
 * "not in progress" set); everything else counts as in progress.
 */
export const FINISHED_MIGRATION_STATUSES: readonly string[] = [
  'confirmed', 'reverted', 'error', 'failed', 'completed', 'cancelled', 'done',
];

export interface NewMigration {
  uuid: string;
  instanceUuid: string;
  migrationType: MigrationType;
  status: string;
  sourceCompute: string | null;
  sourceNode: string | null;
  destCompute?: string | null;
  destNode?: string | null;
  oldFlavorId: string | null;
  newFlavorId: string | null;
  projectId: string;
  userId: string;
  /** An evacuation that skips the scheduler's filters for its requested host. */
  forced?: boolean;
}

export async function insertMigration(unit: Unit, m: NewMigration): Promise<MigrationRow> {
  const db = dbOf(unit);
  const now = nowIso();
  await db.insertInto('migrations').values({
    uuid: m.uuid, instance_uuid: m.instanceUuid, migration_type: m.migrationType, status: m.status,
    source_compute: m.sourceCompute, source_node: m.sourceNode, dest_compute: m.destCompute ?? null,
    dest_node: m.destNode ?? null, old_flavor_id: m.oldFlavorId, new_flavor_id: m.newFlavorId,
    project_id: m.projectId, user_id: m.userId, created_at: now, updated_at: now, forced: m.forced ? 1 : 0,
  }).execute();
  return (await getMigration(unit, m.uuid))!;
}

export async function getMigration(session: Session, uuid: string): Promise<MigrationRow | undefined> {
  const db = dbOf(session);
  return db.selectFrom('migrations').selectAll().where('uuid', '=', uuid).executeTakeFirst();
}

export async function getMigrationById(session: Session, id: number): Promise<MigrationRow | undefined> {
  const db = dbOf(session);
  return db.selectFrom('migrations').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * Moves a migration to `status` (and records its destination when given),
 * only if it is still in one of `expect` — the same guard as updateInstance.
 */
export async function setMigrationStatus(
  unit: Unit, uuid: string, status: string,
  opts: { expect?: string[]; destCompute?: string | null; destNode?: string | null } = {},
): Promise<boolean> {
  const db = dbOf(unit);
  let q = db.updateTable('migrations').set({
    status, updated_at: nowIso(),
    ...(opts.destCompute !== undefined ? { dest_compute: opts.destCompute } : {}),
    ...(opts.destNode !== undefined ? { dest_node: opts.destNode } : {}),
  }).where('uuid', '=', uuid);
  if (opts.expect) q = q.where('status', 'in', opts.expect);
  const r = await q.executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** The newest migration of an instance in one of these statuses (and types, when given). */
export async function latestMigrationOf(
  session: Session, instanceUuid: string, statuses: string[], types?: MigrationType[],
): Promise<MigrationRow | undefined> {
  const db = dbOf(session);
  let q = db.selectFrom('migrations').selectAll().where('instance_uuid', '=', instanceUuid).where('status', 'in', statuses);
  if (types) q = q.where('migration_type', 'in', types);
  return q.orderBy('id', 'desc').executeTakeFirst();
}

export interface MigrationFilter {
  /** Matches the source or the destination compute. */
  host?: string;
  status?: string;
  instanceUuid?: string;
  migrationType?: string;
  /** Only migrations still in progress. */
  inProgress?: boolean;
  projectId?: string;
  limit?: number;
  /** Return rows older than this one (newest first ordering). */
  markerId?: number;
}

/** Newest first, as Nova lists them. */
export async function listMigrations(session: Session, f: MigrationFilter = {}): Promise<MigrationRow[]> {
  const db = dbOf(session);
  let q = db.selectFrom('migrations').selectAll();
  if (f.host) {
    const host = f.host;
    q = q.where((eb) => eb.or([eb('source_compute', '=', host), eb('dest_compute', '=', host)]));
  }
  if (f.status) q = q.where('status', '=', f.status);
  if (f.instanceUuid) q = q.where('instance_uuid', '=', f.instanceUuid);
  if (f.migrationType) q = q.where('migration_type', '=', f.migrationType);
  if (f.inProgress) q = q.where('status', 'not in', [...FINISHED_MIGRATION_STATUSES]);
  if (f.projectId) q = q.where('project_id', '=', f.projectId);
  if (f.markerId !== undefined) q = q.where('id', '<', f.markerId);
  q = q.orderBy('created_at', 'desc').orderBy('id', 'desc');
  if (f.limit !== undefined) q = q.limit(f.limit);
  return q.execute();
}

/** Evacuations away from `host` whose source side is still open (status in `pending`), oldest first. */
export async function openEvacuationsFrom(
  session: Session, host: string, pending: readonly string[], instanceUuid?: string,
): Promise<MigrationRow[]> {
  let q = dbOf(session).selectFrom('migrations').selectAll().where('migration_type', '=', 'evacuation')
    .where('source_compute', '=', host).where('status', 'in', pending);
  if (instanceUuid) q = q.where('instance_uuid', '=', instanceUuid);
  return q.orderBy('id').execute();
}

/** The source hosts of evacuations whose source side is still open. */
export async function hostsWithOpenEvacuations(session: Session, pending: readonly string[]): Promise<string[]> {
  const rows = await dbOf(session).selectFrom('migrations').select('source_compute').distinct()
    .where('migration_type', '=', 'evacuation').where('status', 'in', pending).execute();
  return rows.flatMap((r) => (r.source_compute ? [r.source_compute] : []));
}
