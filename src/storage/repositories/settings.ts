import { dbOf } from '../internal/handles.js';
import type { Session, Unit } from '../unit.js';

/** A stored operator-level value (generated passwords kept across starts). */
export async function getSetting(session: Session, key: string): Promise<string | undefined> {
  const row = await dbOf(session).selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
  return row?.value;
}

export async function putSetting(unit: Unit, key: string, value: string): Promise<void> {
  await dbOf(unit).insertInto('settings').values({ key, value })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value })).execute();
}
