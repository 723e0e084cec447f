import type { FlavorTable } from '../schema.js';
import { catalogChanged } from './lookups.js';
import type { Unit, Session } from '../unit.js';
import { dbOf } from '../internal/handles.js';

/** Flavors and their extra specs. Every write tells the catalog cache (lookups.ts). */

export async function getFlavor(session: Session, id: string): Promise<FlavorTable | undefined> {
  const db = dbOf(session);
  return db.selectFrom('flavors').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function flavorNamed(session: Session, name: string): Promise<FlavorTable | undefined> {
  const db = dbOf(session);
  return db.selectFrom('flavors').selectAll().where('name', '=', name).executeTakeFirst();
}

export async function insertFlavor(unit: Unit, row: FlavorTable): Promise<void> {
  const db = dbOf(unit);
  await db.insertInto('flavors').values(row).execute();
  catalogChanged();
}

/** A flavor and its extra specs, in the caller's transaction (who calls catalogChanged after its commit). */
export async function deleteFlavor(unit: Unit, id: string): Promise<void> {
  const trx = dbOf(unit);
  await trx.deleteFrom('flavor_extra_specs').where('flavor_id', '=', id).execute();
  await trx.deleteFrom('flavors').where('id', '=', id).execute();
}

export interface FlavorRowQuery {
  isPublic?: boolean;
  minRam?: number;
  minDisk?: number;
  /** Rows with a greater id. */
  afterId?: string;
  limit?: number;
}

/** By id. */
export async function listFlavorRows(session: Session, q: FlavorRowQuery): Promise<FlavorTable[]> {
  const db = dbOf(session);
  let sel = db.selectFrom('flavors').selectAll();
  if (q.isPublic !== undefined) sel = sel.where('is_public', '=', q.isPublic ? 1 : 0);
  if (q.minRam !== undefined) sel = sel.where('ram', '>=', q.minRam);
  if (q.minDisk !== undefined) sel = sel.where('disk', '>=', q.minDisk);
  if (q.afterId !== undefined) sel = sel.where('id', '>', q.afterId);
  sel = sel.orderBy('id');
  if (q.limit !== undefined) sel = sel.limit(q.limit);
  return sel.execute();
}

export async function flavorExtraSpecs(session: Session, flavorId: string): Promise<Record<string, string>> {
  const db = dbOf(session);
  const rows = await db.selectFrom('flavor_extra_specs').select(['key', 'value'])
    .where('flavor_id', '=', flavorId).orderBy('key').execute();
  return Object.fromEntries(rows.map((r) => [r.key, r.value]));
}

export async function setExtraSpecs(unit: Unit, flavorId: string, specs: Record<string, string>): Promise<void> {
  // The unit is the transaction already (a nested one is refused by Kysely).
  const db = dbOf(unit);
  for (const [key, value] of Object.entries(specs)) {
    await db.deleteFrom('flavor_extra_specs').where('flavor_id', '=', flavorId).where('key', '=', key).execute();
    await db.insertInto('flavor_extra_specs').values({ flavor_id: flavorId, key, value }).execute();
  }
  catalogChanged();
}

/** Whether the key was there. */
export async function deleteExtraSpec(unit: Unit, flavorId: string, key: string): Promise<boolean> {
  const db = dbOf(unit);
  const res = await db.deleteFrom('flavor_extra_specs').where('flavor_id', '=', flavorId).where('key', '=', key).executeTakeFirst();
  catalogChanged();
  return Number(res.numDeletedRows) > 0;
}
