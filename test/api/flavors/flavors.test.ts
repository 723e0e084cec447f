import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sendJson, startControllerWithTokens } from '../../helpers/apiClient.js';
import type { TestController } from '../../helpers/testController.js';

type Flavor = Record<string, unknown> & { id: string; name: string };

describe('compute flavors', () => {
  let c: TestController;
  let admin: string;
  let demo: string;
  before(async () => { ({ c, admin, demo } = await startControllerWithTokens()); });
  after(async () => { await c.close(); });

  const call = (method: string, path: string, token: string, opts: { body?: unknown; version?: string } = {}) =>
    sendJson(method, `${c.url}/compute/v2.1${path}`, token, opts.body, opts.version ? { 'openstack-api-version': `compute ${opts.version}` } : {});

  it('lists the bootstrap flavors (ids and names) for a member', { timeout: 120_000 }, async () => {
    const res = await call('GET', '/flavors', demo);
    assert.equal(res.status, 200);
    const flavors = (await res.json() as { flavors: Flavor[] }).flavors;
    assert.deepEqual(flavors.map((f) => [f.id, f.name]), [
      ['1', 'm1.tiny'], ['2', 'm1.small'], ['3', 'm1.medium'], ['4', 'm1.large'], ['5', 'm1.xlarge'],
    ]);
    assert.equal('ram' in flavors[0]!, false);
    assert.deepEqual((flavors[1]!.links as Array<{ rel: string }>).map((l) => l.rel), ['self', 'bookmark']);
  });

  it('shows details as the SDK asks for them at 2.61 (extra_specs included)', { timeout: 120_000 }, async () => {
    const res = await call('GET', '/flavors/detail?is_public=True', demo, { version: '2.61' });
    assert.equal(res.status, 200);
    const small = (await res.json() as { flavors: Flavor[] }).flavors.find((f) => f.name === 'm1.small')!;
    assert.equal(small.vcpus, 1);
    assert.equal(small.ram, 2048);
    assert.equal(small.disk, 20);
    assert.equal(small['OS-FLV-EXT-DATA:ephemeral'], 0);
    assert.equal(small['OS-FLV-DISABLED:disabled'], false);
    assert.equal(small['os-flavor-access:is_public'], true);
    assert.deepEqual(small.extra_specs, {});
    assert.ok('description' in small);
  });

  it('leaves out description and extra_specs at 2.1, and shows a zero swap as ""', { timeout: 120_000 }, async () => {
    const res = await call('GET', '/flavors/2', demo);
    const f = (await res.json() as { flavor: Flavor }).flavor;
    assert.equal('extra_specs' in f, false);
    assert.equal('description' in f, false);
    assert.equal(f.swap, '');
  });

  it('filters by minRam and minDisk', { timeout: 120_000 }, async () => {
    const res = await call('GET', '/flavors/detail?minRam=4096&minDisk=80', demo);
    const names = (await res.json() as { flavors: Flavor[] }).flavors.map((f) => f.name);
    assert.deepEqual(names, ['m1.large', 'm1.xlarge']);
    assert.equal((await call('GET', '/flavors?minRam=abc', demo)).status, 400);
  });

  it('answers 404 in the compute format for a name used as an id', { timeout: 120_000 }, async () => {
    const res = await call('GET', '/flavors/m1.small', demo);
    assert.equal(res.status, 404);
    const body = await res.json() as { itemNotFound: { code: number; message: string } };
    assert.equal(body.itemNotFound.code, 404);
  });

  it('refuses flavor creation by a member with 403 in the compute format', { timeout: 120_000 }, async () => {
    const res = await call('POST', '/flavors', demo, { body: { flavor: { name: 'x', ram: 1, vcpus: 1, disk: 0 } } });
    assert.equal(res.status, 403);
    const body = await res.json() as { forbidden: { code: number; message: string } };
    assert.equal(body.forbidden.code, 403);
  });

  it('lets an admin create a private flavor, manage its extra specs, and delete it', { timeout: 120_000 }, async () => {
    const create = await call('POST', '/flavors', admin, {
      version: '2.61',
      body: { flavor: { name: 'vdpa.small', ram: 1024, vcpus: 2, disk: 10, id: 'vdpa-1', 'os-flavor-access:is_public': false, description: 'vdpa' } },
    });
    assert.equal(create.status, 200);
    const f = (await create.json() as { flavor: Flavor }).flavor;
    assert.equal(f.id, 'vdpa-1');
    assert.equal(f['os-flavor-access:is_public'], false);
    assert.equal(f.description, 'vdpa');

    assert.equal((await call('POST', '/flavors', admin, { body: { flavor: { name: 'vdpa.small', ram: 1, vcpus: 1, disk: 0 } } })).status, 409);

    // Private: hidden from members and from the default (public) list, shown to admins with is_public=None.
    assert.equal((await call('GET', '/flavors/vdpa-1', demo)).status, 404);
    const defaultList = (await (await call('GET', '/flavors', admin)).json() as { flavors: Flavor[] }).flavors.map((x) => x.id);
    assert.ok(!defaultList.includes('vdpa-1'));
    const all = (await (await call('GET', '/flavors?is_public=None', admin)).json() as { flavors: Flavor[] }).flavors.map((x) => x.id);
    assert.ok(all.includes('vdpa-1') && all.includes('2'));
    const privateOnly = (await (await call('GET', '/flavors?is_public=False', admin)).json() as { flavors: Flavor[] }).flavors.map((x) => x.id);
    assert.deepEqual(privateOnly, ['vdpa-1']);

    const set = await call('POST', '/flavors/vdpa-1/os-extra_specs', admin, { body: { extra_specs: { 'pci_passthrough:alias': 'vdpa:1', 'hw:mem_page_size': 'large' } } });
    assert.equal(set.status, 200);
    const specs = await call('GET', '/flavors/vdpa-1/os-extra_specs', admin);
    assert.deepEqual(await specs.json(), { extra_specs: { 'hw:mem_page_size': 'large', 'pci_passthrough:alias': 'vdpa:1' } });

    const one = await call('GET', '/flavors/vdpa-1/os-extra_specs/pci_passthrough:alias', admin);
    assert.deepEqual(await one.json(), { 'pci_passthrough:alias': 'vdpa:1' });
    const put = await call('PUT', '/flavors/vdpa-1/os-extra_specs/hw:mem_page_size', admin, { body: { 'hw:mem_page_size': 'small' } });
    assert.equal(put.status, 200);
    assert.equal((await call('PUT', '/flavors/vdpa-1/os-extra_specs/a', admin, { body: { b: '1' } })).status, 400);
    assert.equal((await call('DELETE', '/flavors/vdpa-1/os-extra_specs/hw:mem_page_size', admin)).status, 202);
    assert.equal((await call('GET', '/flavors/vdpa-1/os-extra_specs/hw:mem_page_size', admin)).status, 404);

    const detail = await call('GET', '/flavors/vdpa-1', admin, { version: '2.61' });
    assert.deepEqual((await detail.json() as { flavor: Flavor }).flavor.extra_specs, { 'pci_passthrough:alias': 'vdpa:1' });

    assert.equal((await call('POST', '/flavors/2/os-extra_specs', demo, { body: { extra_specs: { a: 'b' } } })).status, 403);
    assert.equal((await call('DELETE', '/flavors/vdpa-1', demo)).status, 403);
    assert.equal((await call('DELETE', '/flavors/vdpa-1', admin)).status, 202);
    assert.equal((await call('GET', '/flavors/vdpa-1', admin)).status, 404);
  });

  it('reads the microversion from either header and refuses one out of range with 406', { timeout: 120_000 }, async () => {
    const legacy = await fetch(`${c.url}/compute/v2.1/flavors/1`, { headers: { 'x-auth-token': demo, 'x-openstack-nova-api-version': '2.75' } });
    assert.equal((await legacy.json() as { flavor: Flavor }).flavor.swap, 0);
    const latest = await call('GET', '/flavors/1', demo, { version: 'latest' });
    assert.ok('extra_specs' in (await latest.json() as { flavor: Flavor }).flavor);
    const tooNew = await call('GET', '/flavors/1', demo, { version: '2.94' });
    assert.equal(tooNew.status, 406);
    const body = JSON.stringify(await tooNew.json());
    assert.match(body, /Version 2\.94 is not supported by the API\. Minimum is 2\.1 and maximum is 2\.93\./);
    assert.equal((await call('GET', '/flavors/1', demo, { version: 'x.y' })).status, 406);
  });

  it('pages the flavor list with limit and marker', { timeout: 120_000 }, async () => {
    const first = await (await call('GET', '/flavors?limit=2', demo)).json() as { flavors: Flavor[]; flavors_links?: Array<{ href: string }> };
    assert.deepEqual(first.flavors.map((f) => f.id), ['1', '2']);
    assert.ok(first.flavors_links?.[0]?.href.includes('marker=2'));
    const rest = await (await call('GET', '/flavors?marker=2', demo)).json() as { flavors: Flavor[]; flavors_links?: unknown };
    assert.deepEqual(rest.flavors.map((f) => f.id), ['3', '4', '5']);
    assert.equal(rest.flavors_links, undefined);
  });
});
