import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { freeCount, startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { cirrosImageId, createPort } from '../helpers/e2eFixtures.js';

/** The id of a new vdpa port created by `user` (createPort asserts the 201). */
async function newPortId(aio: AllInOneProcess, name: string, user: 'admin' | 'demo' = 'admin'): Promise<string> {
  return (await createPort(aio, name, 'vdpa', user)).id;
}

async function boot(aio: AllInOneProcess, name: string, portId: string, user: 'admin' | 'demo' = 'admin') {
  return aio.api('POST', '/compute/v2.1/servers', {
    server: { name, imageRef: await cirrosImageId(aio), flavorRef: '1', networks: [{ port: portId }] },
  }, { user });
}

describe('scheduling onto hosts with a free vDPA device', () => {
  let aio: AllInOneProcess;
  before(async () => { aio = await startAllInOneProcess({ hosts: [vdpaHost('small-0', { vfs: 1 }), vdpaHost('small-1', { vfs: 1 })] }); });
  after(async () => { await aio?.stop(); });

  test('a second server lands on the other host; with none free the server is ERROR "No valid host was found." and its port stays unbound', { timeout: 300_000 }, async () => {
    const p1 = await newPortId(aio, 'p1');
    const first = await aio.openstackJson(['server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros', '--port', p1, '--wait', 'first']);
    assert.equal(first.status, 'ACTIVE');
    const p2 = await newPortId(aio, 'p2');
    const second = await aio.openstackJson(['server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros', '--port', p2, '--wait', 'second']);
    assert.equal(second.status, 'ACTIVE');
    assert.notEqual(second['OS-EXT-SRV-ATTR:host'], first['OS-EXT-SRV-ATTR:host']);

    const p3 = await newPortId(aio, 'p3');
    const third = await aio.openstack(['server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros', '--port', p3, '--wait', 'third']);
    assert.equal(third.code, 0); // the client exits 0 on ERROR and prints why
    assert.match(third.stdout + third.stderr, /Error creating server/);
    const shown = await aio.openstackJson(['server', 'show', 'third']);
    assert.equal(shown.status, 'ERROR');
    assert.equal(shown.fault.message, 'No valid host was found.');
    const port = await aio.openstackJson(['port', 'show', p3]);
    assert.equal(port.binding_host_id, '');
    assert.equal(port.binding_vif_type, 'unbound');
    assert.deepEqual(port.binding_profile, {});
    assert.equal(port.device_id, '');
    for (const h of ['small-0', 'small-1']) assert.equal(freeCount(await aio.pci(h)), 0);

    // Deleting the ERROR server is clean; deleting a booted one frees a host for the next.
    assert.equal((await aio.openstack(['server', 'delete', '--wait', 'third'])).code, 0);
    assert.equal((await aio.openstack(['server', 'delete', '--wait', 'first'])).code, 0);
    const again = await aio.openstackJson(['server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros', '--port', p3, '--wait', 'third-again']);
    assert.equal(again.status, 'ACTIVE');
    assert.equal(again['OS-EXT-SRV-ATTR:host'], first['OS-EXT-SRV-ATTR:host']);
  });

  test('a disabled compute service takes no new servers', { timeout: 300_000 }, async () => {
    const list = await aio.api('GET', '/compute/v2.1/servers');
    for (const s of list.body.servers) await aio.api('DELETE', `/compute/v2.1/servers/${s.id}`);
    for (const s of list.body.servers) await aio.waitForServer(s.id, ['DELETED']);
    const dis = await aio.openstack(['compute', 'service', 'set', '--disable', 'small-0', 'nova-compute']);
    assert.equal(dis.code, 0, dis.stderr);
    const p = await newPortId(aio, 'p-dis');
    const s = await aio.openstackJson(['server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros', '--port', p, '--wait', 'on-enabled']);
    assert.equal(s['OS-EXT-SRV-ATTR:host'], 'small-1');
    assert.equal((await aio.openstack(['compute', 'service', 'set', '--enable', 'small-0', 'nova-compute'])).code, 0);
    await aio.openstack(['server', 'delete', '--wait', 'on-enabled']);
  });
});

describe('policy: projects are isolated', () => {
  let aio: AllInOneProcess;
  before(async () => { aio = await startAllInOneProcess(); });
  after(async () => { await aio?.stop(); });

  test('a member cannot boot with another project\'s port, see its servers, or read admin extensions', { timeout: 300_000 }, async () => {
    const adminPort = await newPortId(aio, 'admins');
    const r = await boot(aio, 'steal', adminPort, 'demo');
    // Nova: Neutron hides the port, and PortNotFound is a 400 on create.
    assert.equal(r.status, 400);
    assert.equal(r.body.badRequest.message, `Port id ${adminPort} could not be found.`);
    const demoServers = await aio.api('GET', '/compute/v2.1/servers', undefined, { user: 'demo' });
    assert.equal(demoServers.body.servers.length, 0);
    const adminServer = await boot(aio, 'mine', adminPort);
    assert.equal(adminServer.status, 202);
    const peek = await aio.api('GET', `/compute/v2.1/servers/${adminServer.body.server.id}`, undefined, { user: 'demo' });
    assert.equal(peek.status, 404);
    for (const path of ['/compute/v2.1/os-pci/detail?host=compute-0', '/compute/v2.1/os-services', '/compute/v2.1/os-hypervisors']) {
      const res = await aio.api('GET', path, undefined, { user: 'demo' });
      // Admin-only APIs: Nova's policy refuses a member before anything is looked up.
      assert.equal(res.status, 403, `${path} → ${res.status}`);
      assert.match(res.body.forbidden.message, /^Policy doesn't allow .+ to be performed\.$/);
    }
    // An admin-only route of a server: the server is looked up first, as Nova does, so another project's is not found.
    const xml = await aio.api('GET', `/compute/v2.1/servers/${adminServer.body.server.id}/domain-xml`, undefined, { user: 'demo' });
    assert.equal(xml.status, 404);
    assert.equal(xml.body.itemNotFound.message, `Instance ${adminServer.body.server.id} could not be found.`);
    // A member's own server hides the host fields.
    const demoPort = await newPortId(aio, 'demos', 'demo');
    const own = await boot(aio, 'demo-vm', demoPort, 'demo');
    assert.equal(own.status, 202);
    await aio.waitForServer(own.body.server.id, ['ACTIVE']);
    const shown = await aio.api('GET', `/compute/v2.1/servers/${own.body.server.id}`, undefined, { user: 'demo' });
    assert.equal(shown.body.server['OS-EXT-SRV-ATTR:host'], undefined);
    assert.equal(shown.body.server.status, 'ACTIVE');
  });

  test('malformed and invalid create requests are 400s in the compute format and create nothing', { timeout: 300_000 }, async () => {
    const token = await aio.token();
    const before = (await aio.api('GET', '/compute/v2.1/servers')).body.servers.length;
    const broken = await fetch(`${aio.url}/compute/v2.1/servers`, { method: 'POST', headers: { 'x-auth-token': token, 'content-type': 'application/json' }, body: '{"server": {' });
    assert.equal(broken.status, 400);
    assert.ok((await broken.json()).badRequest.message);
    const cases = [
      { server: { name: 'x', imageRef: await cirrosImageId(aio), flavorRef: 'nope', networks: 'none' } },
      { server: { name: 'x', imageRef: 'nope', flavorRef: '1', networks: 'none' } },
      { server: { imageRef: await cirrosImageId(aio), flavorRef: '1' } },
      { server: { name: 'x', imageRef: await cirrosImageId(aio), flavorRef: '1', networks: [{ port: 'not-a-port' }] } },
      { server: { name: 'x', imageRef: await cirrosImageId(aio), flavorRef: '1', networks: 42 } },
    ];
    for (const body of cases) {
      const res = await aio.api('POST', '/compute/v2.1/servers', body);
      // Nova: 400 for each, an unknown port included (PortNotFound is a bad request on create).
      assert.equal(res.status, 400, `${JSON.stringify(body)} → ${res.status}`);
      assert.ok(res.body.badRequest?.message, JSON.stringify(res.body));
    }
    assert.equal((await aio.api('GET', '/compute/v2.1/servers')).body.servers.length, before);
  });
});

/** 50 concurrent creates against 8 free vDPA devices: exactly 8 boot, no device goes to two servers. */
async function raceForDevices(aio: AllInOneProcess, controllers: AllInOneProcess[] = [aio]) {
  // 50 servers: more than Nova's default quota of 10 instances and 20 cores; the race is for devices, not quota.
  const project = (await aio.api('GET', '/identity/v3/projects?name=admin')).body.projects[0].id;
  const quota = await aio.api('PUT', `/compute/v2.1/os-quota-sets/${project}`, { quota_set: { instances: -1, cores: -1, ram: -1 } });
  assert.equal(quota.status, 200);
  const ports = await Promise.all(Array.from({ length: 50 }, (_, i) => newPortId(aio, `race-${i}`)));
  const image = await cirrosImageId(aio);
  // Requests alternate between the controller processes: their claims meet only in the database.
  const created = await Promise.all(ports.map((p, i) => controllers[i % controllers.length]!.api('POST', '/compute/v2.1/servers', {
    server: { name: `race-${i}`, imageRef: image, flavorRef: '1', networks: [{ port: p }] },
  })));
  assert.ok(created.every((c) => c.status === 202), JSON.stringify(created.find((c) => c.status !== 202)?.body));
  const finals = await Promise.all(created.map((c) => aio.waitForServer(c.body.server.id, ['ACTIVE', 'ERROR'], 60_000)));
  const active = finals.filter((s) => s.status === 'ACTIVE');
  const errors = finals.filter((s) => s.status === 'ERROR');
  assert.equal(active.length, 8);
  assert.equal(errors.length, 42);
  assert.ok(errors.every((s) => s.fault.message === 'No valid host was found.'));
  const devices = [...(await aio.pci('compute-0')), ...(await aio.pci('compute-1'))];
  const allocated = devices.filter((d) => d.status === 'allocated');
  assert.equal(allocated.length, 8);
  assert.equal(new Set(allocated.map((d) => d.instance_uuid)).size, 8);
  assert.deepEqual(new Set(allocated.map((d) => d.instance_uuid)), new Set(active.map((s) => s.id)));
}

describe('concurrent creates never share a device', () => {
  test('on SQLite', { timeout: 300_000 }, async () => {
    const aio = await startAllInOneProcess();
    try { await raceForDevices(aio); } finally { await aio.stop(); }
  });

  test('on PostgreSQL, with two controller processes', { timeout: 300_000 }, async () => {
    const name = `vdpa_race_${process.pid}_${Date.now()}`;
    const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const url = `postgres://postgres@127.0.0.1:5432/${name}`;
    const aio = await startAllInOneProcess({ databaseUrl: url });
    const second = await startAllInOneProcess({ databaseUrl: url, args: ['--no-simulated-hosts'] });
    try {
      await raceForDevices(aio, [aio, second]);
    } finally {
      await second.stop();
      await aio.stop();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });
});
