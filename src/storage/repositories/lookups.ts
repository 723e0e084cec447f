import type { Kysely, Selectable } from 'kysely';
import type { Database, ImageTable } from '../schema.js';
import type { FlavorSnapshot } from './instances.js';
import type { Session } from '../unit.js';
import { dbOf } from '../internal/handles.js';

/**
 * Every server create reads its flavor and image, which almost never change:
 * this process keeps what it read for CATALOG_TTL_MS, and forgets all of it
 * at once when it changes a flavor or image itself (catalogChanged). Another
 * controller process's change is seen within the TTL, the same window a
 * create already has in Nova between its flavor/image checks and their use.
 */
export const CATALOG_TTL_MS = 1000;

let catalogGeneration = 0;
type Cached<T> = { value: T; at: number; generation: number };
const catalogs = new WeakMap<Kysely<Database>, Map<string, Cached<unknown>>>();

/** A flavor or image was written by this process: cached catalog entries of every store are stale. */
export function catalogChanged(): void {
  catalogGeneration += 1;
}

async function cachedLookup<T>(db: Kysely<Database>, key: string, read: () => Promise<T | null | undefined>): Promise<T | null> {
  // Inside a transaction the caller wants the database's answer.
  if (db.isTransaction) return (await read()) ?? null;
  let cache = catalogs.get(db);
  if (!cache) catalogs.set(db, (cache = new Map()));
  const hit = cache.get(key) as Cached<T> | undefined;
  const now = Date.now();
  if (hit && hit.generation === catalogGeneration && now - hit.at < CATALOG_TTL_MS) return hit.value;
  const generation = catalogGeneration;
  const value = (await read()) ?? null;
  // Only what exists is kept: something created elsewhere a moment ago is found at once.
  if (value !== null && generation === catalogGeneration) {
    if (cache.size > 1000) cache.clear();
    cache.set(key, { value, at: now, generation });
  } else {
    cache.delete(key);
  }
  return value;
}

/** A flavor as servers embed it (with its extra specs), by id or, failing that, by name. */
export async function flavorSnapshot(session: Session, ref: string): Promise<FlavorSnapshot | null> {
  return (await catalogFlavor(session, ref))?.snapshot ?? null;
}

/** A flavor by id (not name) with whether it is public, for a create's access check; one cached read with the snapshot. */
export async function flavorWithAccess(session: Session, id: string): Promise<{ snapshot: FlavorSnapshot; isPublic: boolean } | null> {
  const found = await catalogFlavor(session, id);
  return found && found.snapshot.id === id ? found : null;
}

function catalogFlavor(session: Session, ref: string): Promise<{ snapshot: FlavorSnapshot; isPublic: boolean } | null> {
  const db = dbOf(session);
  return cachedLookup(db, `flavor:${ref}`, () => readFlavorSnapshot(db, ref));
}

async function readFlavorSnapshot(db: Kysely<Database>, ref: string): Promise<{ snapshot: FlavorSnapshot; isPublic: boolean } | null> {
  const row = (await db.selectFrom('flavors').selectAll().where('id', '=', ref).executeTakeFirst())
    ?? (await db.selectFrom('flavors').selectAll().where('name', '=', ref).executeTakeFirst());
  if (!row) return null;
  const specs = await db.selectFrom('flavor_extra_specs').select(['key', 'value']).where('flavor_id', '=', row.id).execute();
  return {
    snapshot: {
      id: row.id, name: row.name, vcpus: row.vcpus, ram: row.ram, disk: row.disk, ephemeral: row.ephemeral, swap: row.swap,
      extra_specs: Object.fromEntries(specs.map((s) => [s.key, s.value])),
    },
    isPublic: row.is_public === 1,
  };
}

export async function imageById(session: Session, id: string): Promise<Selectable<ImageTable> | undefined> {
  const db = dbOf(session);
  return (await cachedLookup(db, `image:${id}`, () => db.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirst())) ?? undefined;
}
