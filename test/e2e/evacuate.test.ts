import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { freeCount, startAllInOneProcess, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { bootWithClient, twoVdpaHosts } from '../helpers/e2eFixtures.js';
import { assertValidDomainXml } from '../helpers/domainXmlSchema.js';

/** Evacuate with `nova evacuate` (2.92) after `openstack compute service set --down`, then the source comes back. */
describe('evacuate', () => {
  let aio: AllInOneProcess;
  before(async () => { aio = await startAllInOneProcess({ hosts: twoVdpaHosts() }); });
  after(async () => { await aio?.stop(); });

  /** novaclient reads no clouds.yaml: the admin cloud's entry as OS_* variables. */
  async function nova(args: string[]) {
    const clouds = parse(await readFile(join(aio.dataDir, 'clouds.yaml'), 'utf8'));
    const c = clouds.clouds['vdpa-compute'];
    return aio.nova(args, { env: {
      OS_AUTH_URL: c.auth.auth_url, OS_USERNAME: c.auth.username, OS_PASSWORD: c.auth.password,
      OS_PROJECT_NAME: c.auth.project_name, OS_USER_DOMAIN_NAME: 'Default', OS_PROJECT_DOMAIN_NAME: 'Default',
      OS_REGION_NAME: c.region_name, OS_IDENTITY_API_VERSION: '3',
    } });
  }

  function migrationsOf(serverId: string): { migration_type: string; status: string; source_compute: string; dest_compute: string }[] {
    const db = new Database(join(aio.dataDir, 'vdpa-compute.sqlite'), { readonly: true, fileMustExist: true });
    try {
      return db.prepare('SELECT migration_type, status, source_compute, dest_compute FROM migrations WHERE instance_uuid = ? ORDER BY id').all(serverId) as any;
    } finally {
      db.close();
    }
  }

  async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`timed out waiting for ${what}`);
  }

  test('refused while the source is up; rebuilt on the other host when it is forced down; source freed when it is up', { timeout: 300_000 }, async () => {
    const { port, server, host: source } = await bootWithClient(aio, 'evac-vm', { portName: 'evac-port' });
    const dest = source === 'compute-0' ? 'compute-1' : 'compute-0';

    // The source's service is up: Nova's 400, nothing changes.
    const early = await nova(['evacuate', 'evac-vm']);
    assert.notEqual(early.code, 0);
    assert.match(early.stderr, new RegExp(`Compute service of ${source} is still in use. \\(HTTP 400\\)`));
    assert.equal((await aio.api('GET', `/compute/v2.1/servers/${server.id}`)).body.server['OS-EXT-STS:task_state'], null);
    assert.deepEqual(migrationsOf(server.id), []);

    const down = await aio.openstack(['compute', 'service', 'set', '--down', source, 'nova-compute']);
    assert.equal(down.code, 0, down.stderr);
    const services = await aio.openstackJson(['compute', 'service', 'list']);
    assert.equal(services.find((s: any) => s.Host === source).State, 'down');

    // Not admin: refused.
    const demo = await aio.api('POST', `/compute/v2.1/servers/${server.id}/action`, { evacuate: {} }, {
      user: 'demo', headers: { 'OpenStack-API-Version': 'compute 2.92' },
    });
    // The server is admin's: Nova looks it up in the member's project before any policy check, so 404.
    assert.equal(demo.status, 404, JSON.stringify(demo.body));
    assert.match(demo.body.itemNotFound.message, /^Instance [0-9a-f-]+ could not be found\.$/);

    const evac = await nova(['evacuate', 'evac-vm']);
    assert.equal(evac.code, 0, evac.stderr);
    await waitFor('the server to run on the destination', async () => {
      const s = (await aio.api('GET', `/compute/v2.1/servers/${server.id}`)).body.server;
      return s['OS-EXT-SRV-ATTR:host'] === dest && s.status === 'ACTIVE' && s['OS-EXT-STS:task_state'] === null;
    });
    assert.equal(freeCount(await aio.pci(dest)), 3);
    assert.equal(freeCount(await aio.pci(source)), 3, 'the source keeps its claims while it is down');
    const bound = await aio.openstackJson(['port', 'show', port.id]);
    assert.equal(bound.binding_host_id, dest);
    const destDevice = (await aio.pci(dest)).find((d: any) => d.status === 'allocated');
    assert.equal(bound.binding_profile.pci_slot, destDevice.address);
    const xml = await aio.api('GET', `/compute/v2.1/servers/${server.id}/domain-xml`);
    assert.equal(xml.body.host, dest);
    assert.ok(xml.body.domain_xml.includes(`<source dev="${destDevice.vdpa_chardev}"/>`));
    assertValidDomainXml(xml.body.domain_xml, 'the domain after evacuation');
    assert.deepEqual(migrationsOf(server.id).map((m) => [m.migration_type, m.status, m.source_compute, m.dest_compute]),
      [['evacuation', 'done', source, dest]]);

    // The fenced source gets no work: its claims stay, even after a while.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(freeCount(await aio.pci(source)), 3);

    const up = await aio.openstack(['compute', 'service', 'set', '--up', source, 'nova-compute']);
    assert.equal(up.code, 0, up.stderr);
    await waitFor('the source to free its devices', async () => freeCount(await aio.pci(source)) === 5, 10_000);
    await waitFor('the migration to complete', async () => migrationsOf(server.id)[0]?.status === 'completed', 5000);
    assert.equal(freeCount(await aio.pci(dest)), 3);
    const after = (await aio.api('GET', `/compute/v2.1/servers/${server.id}`)).body.server;
    assert.equal(after.status, 'ACTIVE');
    assert.equal(after['OS-EXT-SRV-ATTR:host'], dest);
    const actions = (await aio.api('GET', `/compute/v2.1/servers/${server.id}/os-instance-actions`)).body.instanceActions;
    assert.deepEqual(actions.map((a: any) => `${a.action}:${a.result}`), ['evacuate:Success', 'create:Success']);

    // The evacuated server can be deleted normally and everything is free.
    assert.equal((await aio.api('DELETE', `/compute/v2.1/servers/${server.id}`)).status, 204);
    await aio.waitForServer(server.id, ['DELETED']);
    assert.equal(freeCount(await aio.pci('compute-0')), 5);
    assert.equal(freeCount(await aio.pci('compute-1')), 5);
  });

  test('2.1 body needs onSharedStorage and answers adminPass; a named target must exist and differ', { timeout: 300_000 }, async () => {
    const { server, host: source } = await bootWithClient(aio, 'evac2-vm', { portName: 'evac2-port', flavor: 'm1.tiny' });
    const dest = source === 'compute-0' ? 'compute-1' : 'compute-0';
    const path = `/compute/v2.1/servers/${server.id}/action`;
    assert.equal((await aio.api('POST', path, { evacuate: {} })).status, 400, 'onSharedStorage is required at 2.1');
    const v229 = { headers: { 'OpenStack-API-Version': 'compute 2.29' } };
    assert.equal((await aio.api('POST', path, { evacuate: { host: 'nowhere' } }, v229)).status, 404);
    const same = await aio.api('POST', path, { evacuate: { host: source } }, v229);
    assert.equal(same.status, 400);
    assert.equal(same.body.badRequest.message, "The target host can't be the same one.");
    assert.deepEqual(migrationsOf(server.id), []);

    await aio.api('PUT', `/compute/v2.1/os-services/${(await aio.api('GET', `/compute/v2.1/os-services?host=${source}`)).body.services[0].id}`,
      { forced_down: true }, { headers: { 'OpenStack-API-Version': 'compute 2.53' } });
    try {
      const r = await aio.api('POST', path, { evacuate: { host: dest, onSharedStorage: false } });
      assert.equal(r.status, 200);
      assert.equal(typeof r.body.adminPass, 'string');
      await waitFor('the server to run on the destination', async () => {
        const s = (await aio.api('GET', `/compute/v2.1/servers/${server.id}`)).body.server;
        return s['OS-EXT-SRV-ATTR:host'] === dest && s.status === 'ACTIVE';
      });
    } finally {
      await aio.openstack(['compute', 'service', 'set', '--up', source, 'nova-compute']);
    }
    await waitFor('the source to free its devices', async () => freeCount(await aio.pci(source)) === 5, 10_000);
    assert.equal(migrationsOf(server.id)[0]!.status, 'completed');
    assert.equal((await aio.api('DELETE', `/compute/v2.1/servers/${server.id}`)).status, 204);
    await aio.waitForServer(server.id, ['DELETED']);
  });
});
