import type { ImageTable } from '../schema.js';
import { catalogChanged } from './lookups.js';
import type { Unit, Session } from '../unit.js';
import { dbOf } from '../internal/handles.js';

/** The image API's table. Every write tells the catalog cache (lookups.ts). */

export async function getImage(session: Session, id: string): Promise<ImageTable | undefined> {
  const db = dbOf(session);
  return db.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function insertImage(unit: Unit, row: ImageTable): Promise<void> {
  const db = dbOf(unit);
  await db.insertInto('images').values(row).execute();
  catalogChanged();
}

export async function updateImage(unit: Unit, id: string, changes: Partial<Omit<ImageTable, 'id'>>): Promise<void> {
  const db = dbOf(unit);
  await db.updateTable('images').set(changes).where('id', '=', id).execute();
  catalogChanged();
}

export async function deleteImage(unit: Unit, id: string): Promise<void> {
  const db = dbOf(unit);
  await db.deleteFrom('images').where('id', '=', id).execute();
  catalogChanged();
}

export interface ImageRowQuery {
  /** Private images of other projects are left out unless set (admins). */
  allProjects: boolean;
  projectId: string;
  name?: string;
  status?: string;
  visibility?: string;
  /** Rows after this one in the order (newest first, id breaking ties). */
  after?: Pick<ImageTable, 'created_at' | 'id'>;
  limit: number;
}

/** Newest first (Glance's default sort), id breaking ties so paging is stable. */
export async function listImageRows(session: Session, q: ImageRowQuery): Promise<ImageTable[]> {
  const db = dbOf(session);
  let sel = db.selectFrom('images').selectAll();
  if (!q.allProjects) {
    sel = sel.where((eb) => eb.or([eb('visibility', 'in', ['public', 'community']), eb('owner', '=', q.projectId)]));
  }
  if (q.name !== undefined) sel = sel.where('name', '=', q.name);
  if (q.status !== undefined) sel = sel.where('status', '=', q.status);
  if (q.visibility !== undefined) sel = sel.where('visibility', '=', q.visibility);
  const m = q.after;
  if (m !== undefined) {
    sel = sel.where((eb) => eb.or([
      eb('created_at', '<', m.created_at),
      eb.and([eb('created_at', '=', m.created_at), eb('id', '<', m.id)]),
    ]));
  }
  return sel.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(q.limit).execute();
}

/** Changes the image only while it is in `status`; false when it was not (another upload won, or it is gone). */
export async function updateImageInStatus(
  unit: Unit, id: string, status: string, changes: Partial<Omit<ImageTable, 'id'>>,
): Promise<boolean> {
  const db = dbOf(unit);
  const res = await db.updateTable('images').set(changes).where('id', '=', id).where('status', '=', status).executeTakeFirst();
  catalogChanged();
  return Number(res.numUpdatedRows) === 1;
}
