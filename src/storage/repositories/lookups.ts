import type { Kysely, Selectable } from 'kysely';
import type { Database, ImageTable } from '../schema.js';
import type { FlavorSnapshot } from './instances.js';

/** A flavor as servers embed it (with its extra specs), by id or, failing that, by name. */
export async function flavorSnapshot(db: Kysely<Database>, ref: string): Promise<FlavorSnapshot | null> {
  const row = (await db.selectFrom('flavors').selectAll().where('id', '=', ref).executeTakeFirst())
    ?? (await db.selectFrom('flavors').selectAll().where('name', '=', ref).executeTakeFirst());
  if (!row) return null;
  const specs = await db.selectFrom('flavor_extra_specs').select(['key', 'value']).where('flavor_id', '=', row.id).execute();
  return {
    id: row.id, name: row.name, vcpus: row.vcpus, ram: row.ram, disk: row.disk, ephemeral: row.ephemeral, swap: row.swap,
    extra_specs: Object.fromEntries(specs.map((s) => [s.key, s.value])),
  };
}

export async function imageById(db: Kysely<Database>, id: string): Promise<Selectable<ImageTable> | undefined> {
  return db.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirst();
}
