/**
 * The agent's image cache: each image a guest boots from is fetched once from
 * the controller's image API into the cache directory (`<id>`, with its disk
 * format beside it in `<id>.json`), and every instance disk on the host is a
 * qcow2 overlay on that file (drivers/libvirt/instanceDisks.ts). Downloads
 * of one image are shared by the guests that ask for it meanwhile.
 */
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface CachedImage {
  path: string;
  /** Glance's disk_format: qcow2, raw, … (qemu-img's -F). */
  format: string;
}

export interface DownloadedImage {
  diskFormat: string;
  checksum: string | null;
  size: number;
}

/** Where the bytes come from: the controller's image API (HttpControllerLink.downloadImage). */
export interface ImageSource {
  /** Streams the image's data into `file`. Rejects with ImageWithoutData when the image has none. */
  downloadImage(imageId: string, file: string): Promise<DownloadedImage>;
}

/** The image is a record without data (the bootstrap's cirros): nothing to build a disk from. */
export class ImageWithoutData extends Error {
  constructor(imageId: string, name: string) {
    super(`Image ${imageId} (${name}) has no data: a libvirt host builds the instance's disk from the image's data; `
      + 'upload it with `openstack image create --file FILE --disk-format qcow2|raw NAME` and boot from that image');
    this.name = 'ImageWithoutData';
  }
}

const SAFE_ID = /^[A-Za-z0-9_.-]+$/;

export class ImageCache {
  private readonly fetching = new Map<string, Promise<CachedImage>>();

  constructor(readonly dir: string, private readonly source: ImageSource) {}

  /** The image's file in the cache, downloaded first if it is not there. */
  ensure(imageId: string): Promise<CachedImage> {
    if (!SAFE_ID.test(imageId)) return Promise.reject(new Error(`invalid image id ${JSON.stringify(imageId)}`));
    let pending = this.fetching.get(imageId);
    if (!pending) {
      pending = this.load(imageId).finally(() => this.fetching.delete(imageId));
      this.fetching.set(imageId, pending);
    }
    return pending;
  }

  private async load(imageId: string): Promise<CachedImage> {
    const path = join(this.dir, imageId);
    const meta = `${path}.json`;
    try {
      const { format } = JSON.parse(await readFile(meta, 'utf8')) as { format: string };
      return { path, format };
    } catch { /* not cached yet */ }
    // QEMU runs as its own user: it must be able to reach and read the base image.
    await mkdir(this.dir, { recursive: true });
    await chmod(this.dir, 0o755);
    const partial = `${path}.part`;
    try {
      const got = await this.source.downloadImage(imageId, partial);
      await chmod(partial, 0o644);
      await rename(partial, path);
      await writeFile(meta, JSON.stringify({ format: got.diskFormat, checksum: got.checksum, size: got.size }));
      return { path, format: got.diskFormat };
    } finally {
      await rm(partial, { force: true });
    }
  }
}
