import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { apiCaller, startControllerWithTokens } from '../../helpers/apiClient.js';
import type { TestController } from '../../helpers/testController.js';

type Image = Record<string, unknown> & { id: string; name: string; status: string; visibility: string };

describe('image v2', () => {
  let c: TestController;
  let admin: string;
  let demo: string;
  before(async () => { ({ c, admin, demo } = await startControllerWithTokens()); });
  after(async () => { await c.close(); });

  const call = apiCaller(() => c.url, '/image');

  it('answers version discovery with 300 and no token', { timeout: 120_000 }, async () => {
    const res = await call('GET', '', undefined);
    assert.equal(res.status, 300);
    assert.deepEqual(await res.json(), {
      versions: [{ id: 'v2.16', status: 'CURRENT', links: [{ rel: 'self', href: `${c.url}/image/v2/` }] }],
    });
  });

  it('needs a token for images', { timeout: 120_000 }, async () => {
    const res = await call('GET', '/v2/images', undefined);
    assert.equal(res.status, 401);
    const err = await res.json() as { code: number; title: string };
    assert.equal(err.code, 401);
  });

  it('lists the bootstrap cirros image with Glance fields and no next link', { timeout: 120_000 }, async () => {
    const res = await call('GET', '/v2/images', demo);
    assert.equal(res.status, 200);
    const body = await res.json() as { images: Image[]; next?: string };
    assert.equal('next' in body, false);
    const cirros = body.images.find((i) => i.name === 'cirros');
    assert.ok(cirros);
    assert.equal(cirros.status, 'active');
    assert.equal(cirros.visibility, 'public');
    assert.equal(cirros.disk_format, 'qcow2');
    assert.equal(cirros.container_format, 'bare');
    assert.equal(cirros.size, 16338944);
    assert.equal(cirros.checksum, null);
    assert.equal(cirros.protected, false);
    assert.deepEqual(cirros.tags, []);
    assert.equal(cirros.self, `/v2/images/${cirros.id}`);
    assert.equal(cirros.file, `/v2/images/${cirros.id}/file`);
    assert.equal(cirros.schema, '/v2/schemas/image');
    for (const k of ['owner', 'min_disk', 'min_ram', 'created_at', 'updated_at']) assert.ok(k in cirros, k);

    const shown = await call('GET', `/v2/images/${cirros.id}`, demo);
    assert.equal(shown.status, 200);
    assert.equal((await shown.json() as Image).name, 'cirros');
  });

  it('answers 404 for a name used as an id (the client then lists by name)', { timeout: 120_000 }, async () => {
    const res = await call('GET', '/v2/images/cirros', demo);
    assert.equal(res.status, 404);
    const byName = await call('GET', '/v2/images?name=cirros', demo);
    const images = (await byName.json() as { images: Image[] }).images;
    assert.deepEqual(images.map((i) => i.name), ['cirros']);
  });

  it('creates a queued record; a private image is seen only by its project and admins', { timeout: 120_000 }, async () => {
    const res = await call('POST', '/v2/images', demo, {
      name: 'mine', disk_format: 'raw', container_format: 'bare', visibility: 'private', tags: ['t1'], os_distro: 'cirros',
    });
    assert.equal(res.status, 201);
    const image = await res.json() as Image;
    assert.equal(image.status, 'queued');
    assert.equal(image.visibility, 'private');
    assert.deepEqual(image.tags, ['t1']);
    assert.equal(image.os_distro, 'cirros');
    assert.equal(image.size, null);

    const otherProject = await c.ctx.tokens.verify(demo);
    assert.equal(image.owner, otherProject!.projectId);

    // The admin project's private image is invisible to demo.
    const adminImage = await (await call('POST', '/v2/images', admin, { name: 'admin-only', visibility: 'private' })).json() as Image;
    assert.equal((await call('GET', `/v2/images/${adminImage.id}`, demo)).status, 404);
    const demoList = (await (await call('GET', '/v2/images', demo)).json() as { images: Image[] }).images.map((i) => i.name);
    assert.ok(demoList.includes('mine'));
    assert.ok(!demoList.includes('admin-only'));
    const adminList = (await (await call('GET', '/v2/images', admin)).json() as { images: Image[] }).images.map((i) => i.name);
    assert.ok(adminList.includes('mine') && adminList.includes('admin-only'));

    const filtered = (await (await call('GET', '/v2/images?visibility=private', admin)).json() as { images: Image[] }).images;
    assert.deepEqual(filtered.map((i) => i.name).sort(), ['admin-only', 'mine']);
    const queued = (await (await call('GET', '/v2/images?status=queued', demo)).json() as { images: Image[] }).images;
    assert.deepEqual(queued.map((i) => i.name), ['mine']);

    assert.equal((await call('DELETE', `/v2/images/${adminImage.id}`, demo)).status, 404);
    assert.equal((await call('DELETE', `/v2/images/${image.id}`, demo)).status, 204);
    assert.equal((await call('GET', `/v2/images/${image.id}`, demo)).status, 404);
  });

  it('takes an upload for its size and digests and makes the image active, once', { timeout: 120_000 }, async () => {
    const image = await (await call('POST', '/v2/images', demo, { name: 'upload', disk_format: 'raw', container_format: 'bare' })).json() as Image;
    const data = Buffer.from('not really a disk image');
    const put = () => fetch(`${c.url}/image/v2/images/${image.id}/file`, {
      method: 'PUT', headers: { 'x-auth-token': demo, 'content-type': 'application/octet-stream' }, body: data,
    });
    assert.equal((await put()).status, 204);
    const shown = await (await call('GET', `/v2/images/${image.id}`, demo)).json() as Image;
    assert.equal(shown.status, 'active');
    assert.equal(shown.size, data.length);
    assert.equal(shown.checksum, createHash('md5').update(data).digest('hex'));
    assert.equal(shown.os_hash_algo, 'sha512');
    assert.equal((await put()).status, 409);
  });

  it('keeps publishing public images to admins', { timeout: 120_000 }, async () => {
    const res = await call('POST', '/v2/images', demo, { name: 'pub', visibility: 'public' });
    assert.equal(res.status, 403);
  });

  it('pages with limit and marker, with next only while more remain', { timeout: 120_000 }, async () => {
    for (const n of ['p1', 'p2', 'p3']) {
      assert.equal((await call('POST', '/v2/images', admin, { name: n, visibility: 'public' })).status, 201);
    }
    const seen: string[] = [];
    let path: string | undefined = '/v2/images?limit=2';
    let pages = 0;
    while (path) {
      const body = await (await call('GET', path, admin)).json() as { images: Image[]; next?: string };
      assert.ok(body.images.length <= 2);
      seen.push(...body.images.map((i) => i.name));
      path = body.next;
      pages++;
    }
    const all = (await (await call('GET', '/v2/images', admin)).json() as { images: Image[] }).images.map((i) => i.name);
    assert.deepEqual(seen, all);
    assert.ok(pages >= 2);
    assert.equal(new Set(seen).size, seen.length);
    assert.ok(all.length >= 4);
  });

  it('answers a malformed JSON body with 400 in the image format', { timeout: 120_000 }, async () => {
    const res = await fetch(`${c.url}/image/v2/images`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-auth-token': admin }, body: '{nope',
    });
    assert.equal(res.status, 400);
    assert.equal((await res.json() as { code: number }).code, 400);
  });
});
