import { sql } from 'kysely';
import type { InstanceUsage } from '../../domain/quotas/resources.js';
import { dbOf, onPostgres } from '../internal/handles.js';
import { deferWrite, type UnlessOneRow } from '../pipelining.js';
import type { Session, Unit } from '../unit.js';
import type { InstanceRecord } from './instances.js';
import { nowIso, toJson } from './json.js';

/** A project's limits that differ from the defaults, by resource. */
export async function projectLimits(session: Session, projectId: string): Promise<Record<string, number>> {
  const db = dbOf(session);
  const rows = await db.selectFrom('quota_limits').select(['resource', 'hard_limit']).where('project_id', '=', projectId).execute();
  return Object.fromEntries(rows.map((r) => [r.resource, r.hard_limit]));
}

/** Sets limits (null: back to the default). */
export async function setProjectLimits(unit: Unit, projectId: string, limits: Record<string, number | null>): Promise<void> {
  const db = dbOf(unit);
  for (const [resource, limit] of Object.entries(limits)) {
    await db.deleteFrom('quota_limits').where('project_id', '=', projectId).where('resource', '=', resource).execute();
    if (limit !== null) await db.insertInto('quota_limits').values({ project_id: projectId, resource, hard_limit: limit }).execute();
  }
}

export async function clearProjectLimits(unit: Unit, projectId: string, resources: readonly string[]): Promise<void> {
  const db = dbOf(unit);
  if (resources.length === 0) return;
  await db.deleteFrom('quota_limits').where('project_id', '=', projectId).where('resource', 'in', [...resources]).execute();
}

export async function projectUsage(session: Session, projectId: string): Promise<InstanceUsage> {
  const db = dbOf(session);
  const row = await db.selectFrom('quota_usages').select(['instances', 'cores', 'ram']).where('project_id', '=', projectId).executeTakeFirst();
  return row ?? { instances: 0, cores: 0, ram: 0 };
}

const limitOf = (resource: string, projectId: string, fallback: number) =>
  sql<number>`coalesce((select hard_limit from quota_limits where project_id = ${projectId} and resource = ${resource}), ${fallback})`;

/**
 * Takes `delta` of the project's instances, cores and ram if every resource
 * it adds to stays within its limit (the project's, else `defaults`), in
 * ONE conditional write on the project's usage row: concurrent creates take
 * turns on that row (PostgreSQL re-checks the condition on the row a
 * concurrent commit left), so no two can pass a limit together. Deferred
 * (pipelining.ts): on PostgreSQL it rides with the transaction's next round
 * trip, and fails it with `exceeded()` when the condition does not hold.
 */
export async function takeInstanceQuota(
  unit: Unit, projectId: string, delta: InstanceUsage, defaults: InstanceUsage, exceeded: UnlessOneRow,
): Promise<void> {
  const trx = dbOf(unit);
  const resources = (['instances', 'cores', 'ram'] as const).filter((r) => delta[r] > 0);
  // A project's first server makes its row: the same limits, checked against no usage.
  const firstRowWithin = resources.length === 0 ? sql<boolean>`1 = 1` : sql<boolean>`${sql.join(resources.map((r) => {
    const limit = limitOf(r, projectId, defaults[r]);
    return sql`(${limit} < 0 or ${delta[r]} <= ${limit})`;
  }), sql` and `)}`;
  const first = trx.selectNoFrom([
    sql<string>`cast(${projectId} as text)`.as('project_id'),
    sql<number>`cast(${delta.instances} as integer)`.as('instances'),
    sql<number>`cast(${delta.cores} as integer)`.as('cores'),
    sql<number>`cast(${delta.ram} as integer)`.as('ram'),
  ]).where(firstRowWithin);
  const query = trx.insertInto('quota_usages').columns(['project_id', 'instances', 'cores', 'ram']).expression(first)
    .onConflict((oc) => {
      let update = oc.column('project_id').doUpdateSet((eb) => ({
        instances: eb('quota_usages.instances', '+', delta.instances),
        cores: eb('quota_usages.cores', '+', delta.cores),
        ram: eb('quota_usages.ram', '+', delta.ram),
      }));
      for (const r of resources) {
        const limit = limitOf(r, projectId, defaults[r]);
        update = update.where(sql<boolean>`(${limit} < 0 or ${sql.ref(`quota_usages.${r}`)} + ${delta[r]} <= ${limit})`);
      }
      return update;
    });
  // One statement whichever way: a row written (made or moved) is within every limit; none, and a limit would pass.
  await deferWrite(trx, query.compile(), exceeded);
}

/** Gives back what a server held (a delete, the end of a resize); never checked. */
export async function returnInstanceQuota(unit: Unit, projectId: string, delta: InstanceUsage): Promise<void> {
  const trx = dbOf(unit);
  if (delta.instances === 0 && delta.cores === 0 && delta.ram === 0) return;
  await deferWrite(trx, trx.updateTable('quota_usages').set((eb) => ({
    instances: eb('instances', '-', delta.instances),
    cores: eb('cores', '-', delta.cores),
    ram: eb('ram', '-', delta.ram),
  })).where('project_id', '=', projectId).compile());
}

/**
 * Removes a deleted server's row, gives back its quota and keeps what
 * os-simple-tenant-usage needs of it, all only if this write removed the row
 * (a delete finished twice gives back once). On PostgreSQL one deferred
 * statement; on SQLite (one writer, no round trips) three.
 */
export async function removeInstanceRow(unit: Unit, instance: InstanceRecord, held: InstanceUsage): Promise<void> {
  const trx = dbOf(unit);
  const now = nowIso();
  const flavor = toJson(instance.flavor);
  // A deleted server leaves its server group (Nova lists only members that are not deleted).
  await deferWrite(trx, trx.deleteFrom('server_group_members').where('instance_uuid', '=', instance.uuid).compile());
  if (onPostgres(unit)) {
    await deferWrite(trx, sql`with gone as (delete from instances where uuid = ${instance.uuid} returning uuid, name, project_id, launched_at),
      usage as (update quota_usages set instances = instances - ${held.instances}, cores = cores - ${held.cores}, ram = ram - ${held.ram}
        where project_id = ${instance.projectId} and exists (select 1 from gone))
      insert into terminated_instances (uuid, name, project_id, flavor, launched_at, terminated_at)
        select uuid, name, project_id, ${flavor}, launched_at, ${now} from gone
        on conflict (uuid) do nothing`.compile(trx));
    return;
  }
  const r = await trx.deleteFrom('instances').where('uuid', '=', instance.uuid).executeTakeFirst();
  if (Number(r.numDeletedRows) !== 1) return;
  await returnInstanceQuota(unit, instance.projectId, held);
  await trx.insertInto('terminated_instances').values({
    uuid: instance.uuid, name: instance.name, project_id: instance.projectId, flavor, launched_at: instance.launchedAt, terminated_at: now,
  }).onConflict((oc) => oc.column('uuid').doNothing()).execute();
}

/** Deleted servers of a project (or every project) that ran at some time in [start, end). */
export async function terminatedInstances(session: Session, f: { projectId?: string; start: string }) {
  const db = dbOf(session);
  let q = db.selectFrom('terminated_instances').selectAll().where('terminated_at', '>=', f.start);
  if (f.projectId) q = q.where('project_id', '=', f.projectId);
  return q.orderBy('terminated_at').execute();
}

/** A project's count of rows in a networking table (Neutron's quota usage). */
export async function countOwned(session: Session, table: 'ports' | 'networks' | 'subnets', projectId: string): Promise<number> {
  const db = dbOf(session);
  const row = await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).where('project_id', '=', projectId).executeTakeFirst();
  return Number(row?.n ?? 0);
}

/**
 * A networking resource's limit for a project and, only when it is limited,
 * how many the project has: one statement (the count runs only for a limit).
 */
export async function networkQuotaState(
  session: Session, table: 'ports' | 'networks' | 'subnets', resource: string, projectId: string, fallback: number,
): Promise<{ limit: number; used: number }> {
  const db = dbOf(session);
  const limit = limitOf(resource, projectId, fallback);
  const { rows } = await sql<{ lim: number; used: number }>`select ${limit} as lim,
    case when ${limit} < 0 then 0 else (select count(*) from ${sql.table(table)} where project_id = ${projectId}) end as used`.execute(db);
  return { limit: Number(rows[0]!.lim), used: Number(rows[0]!.used) };
}

/** Projects with a limit of their own (Neutron's quota list). */
export async function projectsWithLimits(session: Session): Promise<string[]> {
  const rows = await dbOf(session).selectFrom('quota_limits').select('project_id').distinct().orderBy('project_id').execute();
  return rows.map((r) => r.project_id);
}
