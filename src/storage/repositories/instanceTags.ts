import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { Unit, Session } from '../unit.js';
import { dbOf } from '../internal/handles.js';

/** Server tags (Nova's `tags` table), one row per (server, tag); listed in the order Nova gives them (by tag). */

export async function tagsOf(session: Session, instanceUuid: string): Promise<string[]> {
  const db = dbOf(session);
  const rows = await db.selectFrom('instance_tags').select('tag').where('instance_uuid', '=', instanceUuid).orderBy('tag').execute();
  return rows.map((r) => r.tag);
}

/** The tags of several servers at once (server lists), by server uuid. */
export async function tagsOfMany(session: Session, instanceUuids: string[]): Promise<Map<string, string[]>> {
  const db = dbOf(session);
  const out = new Map<string, string[]>();
  if (instanceUuids.length === 0) return out;
  const rows = await db.selectFrom('instance_tags').select(['instance_uuid', 'tag'])
    .where('instance_uuid', 'in', instanceUuids).orderBy('tag').execute();
  for (const r of rows) {
    const list = out.get(r.instance_uuid) ?? [];
    list.push(r.tag);
    out.set(r.instance_uuid, list);
  }
  return out;
}

export async function addTag(unit: Unit, instanceUuid: string, tag: string): Promise<void> {
  const db = dbOf(unit);
  await db.insertInto('instance_tags').values({ instance_uuid: instanceUuid, tag })
    .onConflict((oc) => oc.columns(['instance_uuid', 'tag']).doNothing()).execute();
}

/** Whether a tag was there to remove. */
export async function removeTag(unit: Unit, instanceUuid: string, tag: string): Promise<boolean> {
  const db = dbOf(unit);
  const r = await db.deleteFrom('instance_tags').where('instance_uuid', '=', instanceUuid).where('tag', '=', tag).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** Replaces every tag of the server (`tags` already deduplicated). */
export async function replaceTags(unit: Unit, instanceUuid: string, tags: string[]): Promise<void> {
  const db = dbOf(unit);
  await db.deleteFrom('instance_tags').where('instance_uuid', '=', instanceUuid).execute();
  if (tags.length > 0) await db.insertInto('instance_tags').values(tags.map((tag) => ({ instance_uuid: instanceUuid, tag }))).execute();
}
