import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freeCount, startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { bootWithPorts, computeVersion, createPort, domainXml, showPort, until } from '../helpers/e2eFixtures.js';
import { assertValidDomainXml } from '../helpers/domainXmlSchema.js';

const ATTACH_HEADERS = computeVersion('2.70');

/** `openstack server add/remove port` on a running vDPA server: claim on its host, hot-plug, free on detach. */
describe('interface attach and detach of vdpa ports', () => {
  let aio: AllInOneProcess;
  let serverId: string;
  let first: any;
  before(async () => {
    aio = await startAllInOneProcess({ hosts: [vdpaHost('compute-0')] });
    first = await createPort(aio, 'vdpa-port');
    serverId = (await bootWithPorts(aio, 'vdpa-vm', [first])).id;
  });
  after(async () => { await aio?.stop(); });

  test('server add port: a second vdpa device is claimed on the same host, bound and hot-plugged', { timeout: 300_000 }, async () => {
    assert.equal(freeCount(await aio.pci('compute-0')), 3);
    const second = await createPort(aio, 'vdpa-port-2');
    const r = await aio.openstack(['server', 'add', 'port', 'vdpa-vm', 'vdpa-port-2']);
    assert.equal(r.code, 0, r.stderr);

    const devices = await aio.pci('compute-0');
    assert.equal(freeCount(devices), 2);
    const allocated = devices.filter((d) => d.status === 'allocated');
    assert.equal(allocated.length, 2);
    assert.ok(allocated.every((d) => d.dev_type === 'vdpa' && d.instance_uuid === serverId));

    const bound = await showPort(aio, second.id);
    assert.equal(bound.device_id, serverId);
    assert.equal(bound.binding_host_id ?? bound['binding:host_id'], 'compute-0');
    assert.equal(bound['binding:vif_type'], 'ovs');
    assert.equal(bound.status, 'ACTIVE');
    const firstBound = await showPort(aio, first.id);
    const slots = [firstBound['binding:profile'].pci_slot, bound['binding:profile'].pci_slot];
    assert.notEqual(slots[0], slots[1]);
    assert.deepEqual(allocated.map((d) => d.address).sort(), [...slots].sort());
    assert.equal(bound['binding:profile'].pci_vendor_info, '15b3:101e');

    const xml = (await domainXml(aio, serverId)).domain_xml;
    assertValidDomainXml(xml, 'the domain after an interface attach');
    const chardevs = [...xml.matchAll(/<interface type="vdpa">[\s\S]*?<source dev="([^"]+)"\/>/g)].map((m) => m[1]);
    assert.equal(chardevs.length, 2);
    assert.notEqual(chardevs[0], chardevs[1]);
    assert.deepEqual([...chardevs].sort(), allocated.map((d) => d.vdpa_chardev).sort());
    assert.ok(xml.includes(`<mac address="${second.mac_address}"/>`));

    const list = await aio.api('GET', `/compute/v2.1/servers/${serverId}/os-interface`, undefined, { headers: ATTACH_HEADERS });
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.interfaceAttachments.map((a: any) => a.port_id), [first.id, second.id]);
    const show = await aio.api('GET', `/compute/v2.1/servers/${serverId}/os-interface/${second.id}`, undefined, { headers: ATTACH_HEADERS });
    assert.equal(show.body.interfaceAttachment.mac_addr, second.mac_address);
    assert.equal(show.body.interfaceAttachment.port_state, 'ACTIVE');
    assert.equal(show.body.interfaceAttachment.tag, null);
  });

  test('a port already in use is refused with 409 and changes nothing', { timeout: 300_000 }, async () => {
    const r = await aio.api('POST', `/compute/v2.1/servers/${serverId}/os-interface`, { interfaceAttachment: { port_id: first.id } }, { headers: ATTACH_HEADERS });
    assert.equal(r.status, 409);
    assert.equal(r.body.conflictingRequest.message, `Port ${first.id} is still in use.`);
  });

  test('with no free device the command fails with a clear message and nothing changes', { timeout: 300_000 }, async () => {
    // Fill the last two VFs through the API, then ask for a fifth device with the client.
    for (const name of ['vdpa-port-3', 'vdpa-port-4']) {
      const p = await createPort(aio, name);
      const r = await aio.api('POST', `/compute/v2.1/servers/${serverId}/os-interface`, { interfaceAttachment: { port_id: p.id } }, { headers: ATTACH_HEADERS });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.interfaceAttachment.port_id, p.id);
      assert.equal(r.body.interfaceAttachment.port_state, 'ACTIVE');
    }
    assert.equal(freeCount(await aio.pci('compute-0')), 0);
    const before = await aio.pci('compute-0');
    const xmlBefore = (await domainXml(aio, serverId)).domain_xml;

    const extra = await createPort(aio, 'vdpa-port-5');
    const r = await aio.openstack(['server', 'add', 'port', 'vdpa-vm', 'vdpa-port-5']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /BadRequestException: 400/);
    assert.match(r.stderr, /Failed to claim PCI device for .* during interface attach: host compute-0 has no free vdpa device on physical network physnet0/);

    assert.deepEqual(await aio.pci('compute-0'), before);
    const untouched = await showPort(aio, extra.id);
    assert.equal(untouched.device_id, '');
    assert.deepEqual(untouched['binding:profile'], {});
    assert.equal(untouched['binding:vif_type'], 'unbound');
    const server = (await aio.api('GET', `/compute/v2.1/servers/${serverId}`)).body.server;
    assert.equal(server.status, 'ACTIVE');
    assert.equal(server['OS-EXT-STS:task_state'], null);
    const list = await aio.api('GET', `/compute/v2.1/servers/${serverId}/os-interface`);
    assert.equal(list.body.interfaceAttachments.length, 4);
    assert.equal((await domainXml(aio, serverId)).domain_xml, xmlBefore);
  });

  test('server remove port: the NIC is unplugged, the device freed, the port unbound', { timeout: 300_000 }, async () => {
    const second = (await aio.api('GET', '/network/v2.0/ports?name=vdpa-port-2')).body.ports[0];
    const slot = second['binding:profile'].pci_slot;
    const r = await aio.openstack(['server', 'remove', 'port', 'vdpa-vm', 'vdpa-port-2']);
    assert.equal(r.code, 0, r.stderr);

    const freed = await until('the port to be unbound', async () => {
      const p = await showPort(aio, second.id);
      return p.device_id === '' ? p : null;
    });
    assert.deepEqual(freed['binding:profile'], {});
    assert.equal(freed['binding:host_id'], '');
    assert.equal(freed['binding:vif_type'], 'unbound');
    const devices = await aio.pci('compute-0');
    assert.equal(devices.find((d) => d.address === slot).status, 'available');
    assert.equal(freeCount(devices), 1);
    const xml = (await domainXml(aio, serverId)).domain_xml;
    assertValidDomainXml(xml, 'the domain after an interface detach');
    assert.ok(!xml.includes(second.mac_address), 'the detached NIC left the domain');
    assert.equal([...xml.matchAll(/<interface type="vdpa">/g)].length, 3);
    const server = await aio.waitForServer(serverId, ['ACTIVE']);
    assert.equal(server['OS-EXT-STS:task_state'], null);

    // The freed device is usable again: the port re-attaches.
    const again = await aio.openstack(['server', 'add', 'port', 'vdpa-vm', 'vdpa-port-2']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(freeCount(await aio.pci('compute-0')), 0);
  });

  test('detaching a port the server does not have is 404; attaching by network only is 400', { timeout: 300_000 }, async () => {
    const stray = await createPort(aio, 'stray');
    const r = await aio.api('DELETE', `/compute/v2.1/servers/${serverId}/os-interface/${stray.id}`, undefined, { headers: ATTACH_HEADERS });
    assert.equal(r.status, 404);
    const byNet = await aio.api('POST', `/compute/v2.1/servers/${serverId}/os-interface`, { interfaceAttachment: { net_id: stray.network_id } }, { headers: ATTACH_HEADERS });
    assert.equal(byNet.status, 400);
  });

  test('deleting the server frees every attached device', { timeout: 300_000 }, async () => {
    const r = await aio.api('DELETE', `/compute/v2.1/servers/${serverId}`);
    assert.equal(r.status, 204);
    await aio.waitForServer(serverId, ['DELETED']);
    assert.equal(freeCount(await aio.pci('compute-0')), 5);
  });
});
