import { randomUUID } from 'node:crypto';
import { BadRequest, Conflict } from '../../domain/errors.js';
import { flavorNamed, getFlavor, insertFlavor, listFlavorRows } from '../../storage/repositories/flavors.js';
import type { FlavorTable } from '../../storage/schema.js';
import type { AuthContext } from '../context.js';
import type { Session, Unit } from '../../storage/unit.js';

/** Flavors: Nova's rules (unique ids and names, private ones for admins, paging); the SQL is in storage/repositories/flavors.ts. */
export { flavorExtraSpecs, setExtraSpecs } from '../../storage/repositories/flavors.js';

export interface FlavorInput {
  id?: string;
  name: string;
  vcpus: number;
  ram: number;
  disk: number;
  ephemeral?: number;
  swap?: number;
  isPublic?: boolean;
  rxtxFactor?: number;
  description?: string | null;
}

export async function createFlavor(db: Unit, input: FlavorInput): Promise<FlavorTable> {
  const id = input.id ?? randomUUID();
  if (await getFlavor(db, id)) {
    throw new Conflict(`Flavor with ID ${id} already exists.`);
  }
  if (await flavorNamed(db, input.name)) {
    throw new Conflict(`Flavor with name ${input.name} already exists.`);
  }
  const row: FlavorTable = {
    id, name: input.name, vcpus: input.vcpus, ram: input.ram, disk: input.disk, ephemeral: input.ephemeral ?? 0,
    swap: input.swap ?? 0, is_public: input.isPublic === false ? 0 : 1, rxtx_factor: input.rxtxFactor ?? 1.0,
    description: input.description ?? null, created_at: new Date().toISOString(),
  };
  await insertFlavor(db, row);
  return row;
}

/** Private flavors are visible to admins only (there is no per-project flavor access here). */
export async function findVisibleFlavor(db: Session, id: string, auth: AuthContext): Promise<FlavorTable | undefined> {
  const row = await getFlavor(db, id);
  return row && (row.is_public === 1 || auth.isAdmin) ? row : undefined;
}

export interface FlavorListQuery {
  isPublic: boolean | null;
  minRam?: number;
  minDisk?: number;
  limit?: number;
  marker?: string;
}

/** A page of flavors by id; `next` is the marker of the next page when there is one. */
export async function listFlavors(db: Session, auth: AuthContext, q: FlavorListQuery): Promise<{ rows: FlavorTable[]; next?: string }> {
  let afterId: string | undefined;
  if (q.marker !== undefined) {
    const m = await findVisibleFlavor(db, q.marker, auth);
    if (!m) throw new BadRequest(`marker [${q.marker}] not found`);
    afterId = m.id;
  }
  const rows = await listFlavorRows(db, {
    isPublic: q.isPublic ?? undefined, minRam: q.minRam, minDisk: q.minDisk, afterId, limit: q.limit !== undefined ? q.limit + 1 : undefined,
  });
  if (q.limit !== undefined && rows.length > q.limit) {
    rows.length = q.limit;
    return { rows, next: rows.at(-1)?.id };
  }
  return { rows };
}
