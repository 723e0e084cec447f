import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freeCount, startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { bootWithPorts, cirrosImageId, createPort, domainXml, showPort } from '../helpers/e2eFixtures.js';
import { assertValidDomainXml } from '../helpers/domainXmlSchema.js';

/** Waits for the migration to end: task_state back to null. */
async function settled(aio: AllInOneProcess, id: string): Promise<any> {
  const end = Date.now() + 20_000;
  for (;;) {
    const s = (await aio.api('GET', `/compute/v2.1/servers/${id}`)).body.server;
    if (s['OS-EXT-STS:task_state'] === null && s.status !== 'MIGRATING') return s;
    if (Date.now() > end) throw new Error(`server ${id} still migrating: ${JSON.stringify(s).slice(0, 400)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Where the server is and what it holds, as the API shows it. */
async function placement(aio: AllInOneProcess, serverId: string, portId: string) {
  const server = (await aio.api('GET', `/compute/v2.1/servers/${serverId}`)).body.server;
  const host: string = server['OS-EXT-SRV-ATTR:host'];
  const p = await showPort(aio, portId);
  const devices = await aio.pci(host);
  const device = devices.find((d: any) => d.address === p['binding:profile'].pci_slot);
  return { server, host, port: p, device, xml: await domainXml(aio, serverId) };
}

/** `openstack server migrate --live-migration`: unplug on the source, move, plug the destination's VF. */
describe('hot-plug live migration of a vdpa server', () => {
  let aio: AllInOneProcess;
  let serverId: string;
  let vdpaPort: any;
  const other = (h: string) => (h === 'compute-0' ? 'compute-1' : 'compute-0');
  before(async () => {
    aio = await startAllInOneProcess({ hosts: [vdpaHost('compute-0'), vdpaHost('compute-1'), vdpaHost('empty-2', { vfs: 0 })] });
    vdpaPort = await createPort(aio, 'vdpa-port');
    serverId = (await bootWithPorts(aio, 'vdpa-vm', [vdpaPort])).id;
  });
  after(async () => { await aio?.stop(); });

  test('the server ends ACTIVE on the other host: source freed (5), destination 3, port bound to the destination VF', { timeout: 300_000 }, async () => {
    const before = await placement(aio, serverId, vdpaPort.id);
    const source = before.host;
    const dest = other(source);
    assert.equal(freeCount(await aio.pci(source)), 3);
    assert.equal(freeCount(await aio.pci(dest)), 5);

    const r = await aio.openstack(['server', 'migrate', '--live-migration', 'vdpa-vm']);
    assert.equal(r.code, 0, r.stderr);
    const server = await settled(aio, serverId);
    assert.equal(server.status, 'ACTIVE');
    assert.equal(server['OS-EXT-SRV-ATTR:host'], dest);

    assert.equal(freeCount(await aio.pci(source)), 5);
    assert.equal(freeCount(await aio.pci(dest)), 3);
    const after = await placement(aio, serverId, vdpaPort.id);
    assert.equal(after.port['binding:host_id'], dest);
    assert.equal(after.port.device_id, serverId);
    assert.equal(after.port.status, 'ACTIVE');
    assert.equal(after.device.status, 'allocated');
    assert.equal(after.device.dev_type, 'vdpa');
    assert.equal(after.device.instance_uuid, serverId);
    assert.equal(after.xml.host, dest);
    assert.ok(after.xml.domain_xml.includes(`<source dev="${after.device.vdpa_chardev}"/>`));
    assertValidDomainXml(after.xml.domain_xml, 'the domain after a live migration');
    assert.ok(after.xml.domain_xml.includes(`<mac address="${vdpaPort.mac_address}"/>`));

    const actions = (await aio.api('GET', `/compute/v2.1/servers/${serverId}/os-instance-actions`)).body.instanceActions;
    assert.equal(actions[0].action, 'live-migration');
    assert.equal(actions[0].result, 'Success');
  });

  test('--os-compute-api-version 2.30 --host names the destination', { timeout: 300_000 }, async () => {
    const source = (await placement(aio, serverId, vdpaPort.id)).host;
    const dest = other(source);
    const r = await aio.openstack(['--os-compute-api-version', '2.30', 'server', 'migrate', '--live-migration', '--host', dest, 'vdpa-vm']);
    assert.equal(r.code, 0, r.stderr);
    const server = await settled(aio, serverId);
    assert.equal(server.status, 'ACTIVE');
    assert.equal(server['OS-EXT-SRV-ATTR:host'], dest);
    assert.equal(freeCount(await aio.pci(source)), 5);
    assert.equal(freeCount(await aio.pci(dest)), 3);
    const after = await placement(aio, serverId, vdpaPort.id);
    assert.equal(after.port['binding:host_id'], dest);
    assert.ok(after.xml.domain_xml.includes(`<source dev="${after.device.vdpa_chardev}"/>`));
    assertValidDomainXml(after.xml.domain_xml, 'the domain after a live migration to a chosen host');
  });

  test('a destination with no free device: the server stays ACTIVE on its source with its original device', { timeout: 300_000 }, async () => {
    const before = await placement(aio, serverId, vdpaPort.id);
    const r = await aio.openstack(['--os-compute-api-version', '2.30', 'server', 'migrate', '--live-migration', '--host', 'empty-2', 'vdpa-vm']);
    assert.equal(r.code, 0, r.stderr);
    const server = await settled(aio, serverId);
    assert.equal(server.status, 'ACTIVE');
    assert.equal(server['OS-EXT-SRV-ATTR:host'], before.host);
    const after = await placement(aio, serverId, vdpaPort.id);
    assert.deepEqual(after.port['binding:profile'], before.port['binding:profile']);
    assert.equal(after.port['binding:host_id'], before.host);
    assert.equal(after.device.status, 'allocated');
    assert.equal(after.xml.domain_xml, before.xml.domain_xml);
    assert.equal(freeCount(await aio.pci(before.host)), 3);
    assert.equal(freeCount(await aio.pci(other(before.host))), 5);
    assert.equal(freeCount(await aio.pci('empty-2')), 1);
    const actions = (await aio.api('GET', `/compute/v2.1/servers/${serverId}/os-instance-actions`)).body.instanceActions;
    assert.equal(actions[0].action, 'live-migration');
    assert.equal(actions[0].result, 'Error');
    assert.match(actions[0].message, /No valid host was found/);
  });

  test('refusals: a member, who cannot see the admin\'s server (404), unknown host and the source itself (400), wrong state (409)', { timeout: 300_000 }, async () => {
    const body = { 'os-migrateLive': { block_migration: 'auto', host: null } };
    const headers = { 'openstack-api-version': 'compute 2.30' };
    const demo = await aio.api('POST', `/compute/v2.1/servers/${serverId}/action`, body, { user: 'demo', headers });
    // The server is admin's: Nova looks it up in the member's project before any policy check, so 404.
    assert.equal(demo.status, 404, JSON.stringify(demo.body));
    assert.match(demo.body.itemNotFound.message, /^Instance [0-9a-f-]+ could not be found\.$/);
    const source = (await placement(aio, serverId, vdpaPort.id)).host;
    const self = await aio.api('POST', `/compute/v2.1/servers/${serverId}/action`, { 'os-migrateLive': { block_migration: 'auto', host: source } }, { headers });
    assert.equal(self.status, 400);
    assert.match(self.body.badRequest.message, /to current host/);
    const nowhere = await aio.api('POST', `/compute/v2.1/servers/${serverId}/action`, { 'os-migrateLive': { block_migration: 'auto', host: 'nowhere' } }, { headers });
    assert.equal(nowhere.status, 400);
    assert.match(nowhere.body.badRequest.message, /Compute host nowhere could not be found/);
    const legacy = await aio.api('POST', `/compute/v2.1/servers/${serverId}/action`, { 'os-migrateLive': { block_migration: 'auto', host: null } });
    assert.equal(legacy.status, 400, 'at 2.1 block_migration is a boolean and disk_over_commit is required');

    // A server that never got a host (ERROR: five vdpa ports, no host has five free) cannot move.
    const ports = await Promise.all([1, 2, 3, 4, 5].map((n) => createPort(aio, `many-${n}`)));
    const image = await cirrosImageId(aio);
    const boot = await aio.api('POST', '/compute/v2.1/servers', {
      server: { name: 'too-many', imageRef: image, flavorRef: '1', networks: ports.map((p) => ({ port: p.id })) },
    });
    assert.equal(boot.status, 202);
    await aio.waitForServer(boot.body.server.id, ['ERROR']);
    const ok = { 'os-migrateLive': { block_migration: false, disk_over_commit: false, host: null } };
    const wrong = await aio.api('POST', `/compute/v2.1/servers/${boot.body.server.id}/action`, ok);
    assert.equal(wrong.status, 409);
    assert.equal(wrong.body.conflictingRequest.message, `Cannot 'os-migrateLive' instance ${boot.body.server.id} while it is in vm_state error`);
    // Nothing above changed the vdpa server.
    const server = await settled(aio, serverId);
    assert.equal(server['OS-EXT-SRV-ATTR:host'], source);
  });
});
