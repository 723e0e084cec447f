import { randomUUID } from 'node:crypto';
import { BadRequest, Conflict, Forbidden } from '../../domain/errors.js';
import type { AuthContext } from '../context.js';
import { getImage, insertImage, listImageRows, updateImage } from '../../storage/repositories/images.js';
import type { ImageTable } from '../../storage/schema.js';
import type { Session, Unit } from '../../storage/unit.js';

/** Images: Glance's rules (formats, visibility, paging); the SQL is in storage/repositories/images.ts. */

export const DISK_FORMATS = ['ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop'] as const;
export const CONTAINER_FORMATS = ['ami', 'ari', 'aki', 'bare', 'ovf', 'ova', 'docker', 'compressed'] as const;
export const VISIBILITIES = ['public', 'private', 'shared', 'community'] as const;
export type Visibility = (typeof VISIBILITIES)[number];

/** Extra properties and tags, kept in the `properties` JSON column. */
export interface ImageExtras {
  tags: string[];
  properties: Record<string, string>;
  /** Digests of uploaded data. */
  checksum?: string;
  osHashValue?: string;
  /** The data is in the image directory (services/imageData.ts); records without data have none. */
  stored?: boolean;
}

export function imageExtras(row: ImageTable): ImageExtras {
  const parsed = JSON.parse(row.properties || '{}') as Partial<ImageExtras>;
  return { ...parsed, tags: parsed.tags ?? [], properties: parsed.properties ?? {} };
}

/** Glance writes timestamps without fractions: 2024-01-01T00:00:00Z. */
export function glanceTime(d = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Who may see an image (Glance): public and community images everyone;
 * private and shared ones only their owner project (there are no image
 * members here, so a shared image is shared with nobody yet); admins and
 * compute agents see all.
 */
export function canSee(auth: AuthContext, image: Pick<ImageTable, 'visibility' | 'owner'>): boolean {
  // Compute agents fetch the image of any server they build, as Nova's computes do with the user's token.
  return auth.isAdmin || auth.isService || image.visibility === 'public' || image.visibility === 'community' || image.owner === auth.projectId;
}

export async function findVisibleImage(db: Session, id: string, auth: AuthContext): Promise<ImageTable | undefined> {
  const row = await getImage(db, id);
  return row && canSee(auth, row) ? row : undefined;
}

export interface ImageInput {
  id?: string;
  name: string;
  status?: string;
  visibility: Visibility;
  diskFormat?: string | null;
  containerFormat?: string | null;
  minDisk?: number;
  minRam?: number;
  size?: number | null;
  owner: string | null;
  protected?: boolean;
  tags?: string[];
  properties?: Record<string, string>;
}

export async function createImage(db: Unit, input: ImageInput): Promise<ImageTable> {
  const id = input.id ?? randomUUID();
  if (await getImage(db, id)) {
    throw new Conflict(`Image with identifier ${id} already exists!`);
  }
  if (input.diskFormat && !(DISK_FORMATS as readonly string[]).includes(input.diskFormat)) {
    throw new BadRequest(`Invalid disk format '${input.diskFormat}' for image.`);
  }
  if (input.containerFormat && !(CONTAINER_FORMATS as readonly string[]).includes(input.containerFormat)) {
    throw new BadRequest(`Invalid container format '${input.containerFormat}' for image.`);
  }
  const now = glanceTime();
  const row: ImageTable = {
    id,
    name: input.name,
    status: input.status ?? 'queued',
    visibility: input.visibility,
    disk_format: input.diskFormat ?? null,
    container_format: input.containerFormat ?? null,
    min_disk: input.minDisk ?? 0,
    min_ram: input.minRam ?? 0,
    size: input.size ?? null,
    owner: input.owner,
    protected: input.protected ? 1 : 0,
    properties: JSON.stringify({ tags: input.tags ?? [], properties: input.properties ?? {} } satisfies ImageExtras),
    created_at: now,
    updated_at: now,
  };
  await insertImage(db, row);
  return row;
}

export interface ImageListQuery {
  name?: string;
  status?: string;
  visibility?: string;
  limit: number;
  marker?: string;
}

/** Newest first (Glance's default sort), id breaking ties so paging is stable. */
export async function listImages(db: Session, auth: AuthContext, q: ImageListQuery): Promise<{ images: ImageTable[]; more: boolean }> {
  let after: ImageTable | undefined;
  if (q.marker !== undefined) {
    after = await findVisibleImage(db, q.marker, auth);
    if (!after) throw new BadRequest(`marker ${q.marker} could not be found.`);
  }
  const rows = await listImageRows(db, {
    allProjects: auth.isAdmin, projectId: auth.projectId, name: q.name, status: q.status,
    visibility: q.visibility !== undefined && q.visibility !== 'all' ? q.visibility : undefined, after, limit: q.limit + 1,
  });
  return { images: rows.slice(0, q.limit), more: rows.length > q.limit };
}

/** One operation of a Glance JSON patch, its path already a property name. */
export interface ImagePatchOp { op: 'add' | 'remove' | 'replace'; property: string; value?: unknown }

/** The properties a patch may change: the core ones, tags, and any custom one. */
export const PATCHABLE_CORE = ['name', 'visibility', 'protected', 'os_hidden', 'disk_format', 'container_format', 'min_disk', 'min_ram', 'tags'] as const;

/** The image as a patch sees it: its core properties and its custom ones side by side, as Glance shows them. */
export function patchableImage(row: ImageTable): Record<string, unknown> {
  const extras = imageExtras(row);
  return {
    ...extras.properties,
    name: row.name === '' ? null : row.name, visibility: row.visibility, protected: row.protected === 1, os_hidden: false,
    disk_format: row.disk_format, container_format: row.container_format, min_disk: row.min_disk, min_ram: row.min_ram,
    tags: extras.tags,
  };
}

/**
 * Applies a patch as Glance does: `add` and `replace` set a core property;
 * a custom one must be absent for `add` and present for `replace` and
 * `remove` (409 otherwise); core properties may not be removed (403).
 * Read-only ones are refused before this (the API's 403).
 */
export function applyImagePatch(image: Record<string, unknown>, ops: readonly ImagePatchOp[]): Record<string, unknown> {
  const out = { ...image };
  for (const { op, property, value } of ops) {
    const core = (PATCHABLE_CORE as readonly string[]).includes(property);
    if (op === 'remove') {
      if (core) throw new Forbidden(`Property ${property} may not be removed.`);
      if (!(property in out)) throw new Conflict(`Property ${property} does not exist.`);
      delete out[property];
      continue;
    }
    if (value === undefined) throw new BadRequest(`Operation objects must contain exactly one member named "value" for ${op}.`);
    if (!core && op === 'add' && property in out) throw new Conflict(`Property ${property} already present.`);
    if (!core && op === 'replace' && !(property in out)) throw new Conflict(`Property ${property} does not exist.`);
    out[property] = value;
  }
  return out;
}

/** Writes a patched image (already checked against the image schema) back, and returns the row as stored. */
export async function saveImagePatch(db: Unit, row: ImageTable, image: Record<string, unknown>, auth: AuthContext): Promise<ImageTable> {
  if (image.visibility === 'public' && row.visibility !== 'public' && !auth.isAdmin) {
    throw new Forbidden('You are not authorized to complete publicize_image action.');
  }
  for (const f of ['disk_format', 'container_format'] as const) {
    if (image[f] !== row[f] && row.status !== 'queued') throw new Forbidden(`Attribute ${f} can be only replaced for a queued image.`);
  }
  const { name, visibility, protected: isProtected, os_hidden: _hidden, disk_format, container_format, min_disk, min_ram, tags, ...properties } = image;
  const changes = {
    name: (name as string | null) ?? '', visibility: visibility as Visibility, protected: isProtected ? 1 : 0,
    disk_format: (disk_format as string | null) ?? null, container_format: (container_format as string | null) ?? null,
    min_disk: min_disk as number, min_ram: min_ram as number,
    properties: JSON.stringify({ ...imageExtras(row), tags: tags as string[], properties: properties as Record<string, string> } satisfies ImageExtras),
    updated_at: glanceTime(),
  };
  await updateImage(db, row.id, changes);
  return { ...row, ...changes };
}
