import { dbOf } from '../internal/handles.js';
import type { Session } from '../unit.js';

/** Bootstrap's existence checks: a row it would create is there by id or by name. */
export async function flavorExists(session: Session, id: string, name: string): Promise<boolean> {
  const row = await dbOf(session).selectFrom('flavors').select('id')
    .where((eb) => eb.or([eb('id', '=', id), eb('name', '=', name)])).executeTakeFirst();
  return row !== undefined;
}

export async function imageIdNamed(session: Session, name: string): Promise<string | undefined> {
  return (await dbOf(session).selectFrom('images').select('id').where('name', '=', name).executeTakeFirst())?.id;
}

export async function networkIdNamed(session: Session, name: string): Promise<string | undefined> {
  return (await dbOf(session).selectFrom('networks').select('id').where('name', '=', name).executeTakeFirst())?.id;
}

export async function subnetIdNamed(session: Session, name: string): Promise<string | undefined> {
  return (await dbOf(session).selectFrom('subnets').select('id').where('name', '=', name).executeTakeFirst())?.id;
}
