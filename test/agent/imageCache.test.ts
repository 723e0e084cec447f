/**
 * The agent's image cache: an image is downloaded once, however many guests
 * ask for it at the same time or later, and an image without data is
 * refused with a message that says what to do.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ImageCache, ImageWithoutData, type ImageSource } from '../../src/agent/imageCache.js';

describe('image cache', { timeout: 10_000 }, () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'vdpa-imagecache-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  const source = (downloads: string[]): ImageSource => ({
    async downloadImage(id, file) {
      downloads.push(id);
      if (id === 'no-data') throw new ImageWithoutData(id, 'cirros');
      await new Promise((r) => setTimeout(r, 50));
      await writeFile(file, `data of ${id}`);
      return { diskFormat: 'raw', checksum: null, size: 12 };
    },
  });

  test('fetches an image once for guests asking at the same time, and never again', { timeout: 120_000 }, async () => {
    const downloads: string[] = [];
    const cache = new ImageCache(join(dir, 'cache'), source(downloads));
    const got = await Promise.all([cache.ensure('img-1'), cache.ensure('img-1'), cache.ensure('img-1')]);
    assert.deepEqual(downloads, ['img-1']);
    assert.deepEqual(got[0], { path: join(dir, 'cache', 'img-1'), format: 'raw' });
    assert.equal(await readFile(got[0]!.path, 'utf8'), 'data of img-1');
    assert.equal((await stat(join(dir, 'cache'))).mode & 0o777, 0o755, 'QEMU\'s user can reach it');
    // A new cache on the same directory (an agent restart) finds it there.
    const again = new ImageCache(join(dir, 'cache'), source(downloads));
    assert.deepEqual(await again.ensure('img-1'), got[0]);
    assert.deepEqual(downloads, ['img-1']);
  });

  test('an image without data is refused, naming it and what to do; nothing is left behind', { timeout: 120_000 }, async () => {
    const downloads: string[] = [];
    const cache = new ImageCache(join(dir, 'cache2'), source(downloads));
    await assert.rejects(cache.ensure('no-data'), /Image no-data \(cirros\) has no data: .*openstack image create --file/);
    await assert.rejects(stat(join(dir, 'cache2', 'no-data.part')), { code: 'ENOENT' });
    await assert.rejects(cache.ensure('../etc'), /invalid image id/);
  });
});
