/**
 * Image data, as Glance keeps it: an upload is streamed to a file under the
 * image directory (`image_dir`, default `<data dir>/images`) while its size,
 * MD5 checksum and SHA-512 multihash are computed, never held in memory
 * whole; the image goes queued → saving → active. A download streams the
 * file back. Records without data (the bootstrap's `cirros`) have no file.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Conflict } from '../../domain/errors.js';
import type { Storage } from '../../storage/db.js';
import { updateImageInStatus } from '../../storage/repositories/images.js';
import type { ImageTable } from '../../storage/schema.js';
import { glanceTime, imageExtras, type ImageExtras } from './images.js';

export function imageDataPath(imageDir: string, id: string): string {
  return join(imageDir, id);
}

/** Whether the image has data here (an upload finished). */
export function hasImageData(row: ImageTable): boolean {
  return imageExtras(row).stored === true;
}

/**
 * Streams `body` into the image's file and records it. Only a queued image
 * takes data (Glance: 409 otherwise); a failed upload leaves it queued again.
 */
export async function storeImageData(store: Storage, imageDir: string, row: ImageTable, body: Readable): Promise<void> {
  const moveFrom = (status: string, changes: Partial<ImageTable>) => store.transact((u) => updateImageInStatus(u, row.id, status, changes));
  if (!(await moveFrom('queued', { status: 'saving', updated_at: glanceTime() }))) {
    throw new Conflict(`Image status transition from ${row.status} to saving is not allowed`);
  }
  await mkdir(imageDir, { recursive: true });
  const partial = `${imageDataPath(imageDir, row.id)}.part`;
  const md5 = createHash('md5');
  const sha512 = createHash('sha512');
  let size = 0;
  const digest = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      md5.update(chunk);
      sha512.update(chunk);
      done(null, chunk);
    },
  });
  try {
    const file = await open(partial, 'w', 0o644);
    await pipeline(body, digest, file.createWriteStream());
    await rename(partial, imageDataPath(imageDir, row.id));
  } catch (e) {
    await rm(partial, { force: true });
    await moveFrom('saving', { status: 'queued', updated_at: glanceTime() });
    throw e;
  }
  const extras: ImageExtras = {
    ...imageExtras(row), checksum: md5.digest('hex'), osHashValue: sha512.digest('hex'), stored: true,
  };
  await moveFrom('saving', {
    status: 'active', size, properties: JSON.stringify(extras), updated_at: glanceTime(),
  });
}

/** The image's data as a stream with its size and MD5, or null when it has none. */
export async function readImageData(imageDir: string, row: ImageTable): Promise<{ stream: Readable; size: number; checksum: string } | null> {
  if (!hasImageData(row)) return null;
  const path = imageDataPath(imageDir, row.id);
  const { size } = await stat(path);
  return { stream: createReadStream(path), size, checksum: imageExtras(row).checksum ?? '' };
}

export async function removeImageData(imageDir: string, id: string): Promise<void> {
  await rm(imageDataPath(imageDir, id), { force: true });
}
