import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freeCount, startAllInOneProcess, type AllInOneProcess } from '../helpers/allInOneProcess.js';

const run = promisify(execFile);

/** The seed document's two commands, with the real openstack client, on the default inventory. */
describe('the seed: port create --vnic-type vdpa, then server create --port', () => {
  let aio: AllInOneProcess;
  before(async () => { aio = await startAllInOneProcess(); });
  after(async () => { await aio?.stop(); });

  test('boots an ACTIVE server on a free vDPA device, binds the port, and frees it on delete', { timeout: 300_000 }, async () => {
    const port = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', 'vdpa-port']);
    assert.equal(port.binding_vnic_type, 'vdpa');
    assert.equal(port.binding_vif_type, 'unbound');
    assert.equal(port.device_id, '');

    const server = await aio.openstackJson(['server', 'create', '--flavor', 'm1.small', '--image', 'cirros', '--port', port.id, '--wait', 'vdpa-vm']);
    assert.equal(server.status, 'ACTIVE');
    const host = server['OS-EXT-SRV-ATTR:host'];
    assert.match(host, /^compute-[01]$/);

    const bound = await aio.openstackJson(['port', 'show', 'vdpa-port']);
    assert.equal(bound.binding_host_id, host);
    assert.equal(bound.device_id, server.id);
    assert.equal(bound.device_owner, 'compute:nova');
    assert.equal(bound.binding_vif_type, 'ovs');
    assert.equal(bound.status, 'ACTIVE');
    assert.equal(bound.binding_profile.pci_vendor_info, '15b3:101e');
    assert.equal(bound.binding_profile.physical_network, 'physnet0');

    const devices = await aio.pci(host);
    assert.equal(devices.length, 5);
    assert.equal(freeCount(devices), 3);
    const allocated = devices.filter((d) => d.status === 'allocated');
    assert.equal(allocated.length, 1);
    assert.equal(allocated[0].dev_type, 'vdpa');
    assert.equal(allocated[0].instance_uuid, server.id);
    assert.equal(allocated[0].address, bound.binding_profile.pci_slot);
    const pf = devices.find((d) => d.dev_type === 'type-PF');
    assert.equal(pf.status, 'unavailable');

    const xml = await aio.api('GET', `/compute/v2.1/servers/${server.id}/domain-xml`);
    assert.equal(xml.status, 200);
    const domainXml: string = xml.body.domain_xml;
    assert.match(domainXml, /<interface type="vdpa">/);
    assert.ok(domainXml.includes(`<source dev="${allocated[0].vdpa_chardev}"/>`), 'the claimed VF\'s chardev is in the guest');
    assert.ok(domainXml.includes(`<mac address="${bound.mac_address}"/>`));
    assert.match(domainXml, /<locked\/>/);
    const dir = await mkdtemp(join(tmpdir(), 'vdpa-xml-'));
    await writeFile(join(dir, 'domain.xml'), domainXml);
    const validated = await run('virt-xml-validate', [join(dir, 'domain.xml'), 'domain']);
    assert.match(validated.stdout + validated.stderr, /validates/);

    const del = await aio.openstack(['server', 'delete', '--wait', 'vdpa-vm']);
    assert.equal(del.code, 0, del.stderr);
    assert.equal(freeCount(await aio.pci(host)), 5);
    const unbound = await aio.openstackJson(['port', 'show', 'vdpa-port']);
    assert.equal(unbound.device_id, '');
    assert.deepEqual(unbound.binding_profile, {});
    assert.equal(unbound.binding_host_id, '');

    // The freed port boots another server.
    const again = await aio.openstackJson(['server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros', '--port', port.id, '--wait', 'vdpa-vm-2']);
    assert.equal(again.status, 'ACTIVE');
    assert.equal((await aio.openstack(['server', 'delete', '--wait', 'vdpa-vm-2'])).code, 0);
  });

  test('a port already in use is refused with 409 and boots nothing', { timeout: 300_000 }, async () => {
    const port = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', 'busy-port']);
    const first = await aio.openstackJson(['server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros', '--port', port.id, '--wait', 'busy-1']);
    assert.equal(first.status, 'ACTIVE');
    const before = await aio.api('GET', '/compute/v2.1/servers');
    const second = await aio.openstack(['server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros', '--port', port.id, 'busy-2']);
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, new RegExp(`Port ${port.id} is still in use. \\(HTTP 409\\)`));
    const afterList = await aio.api('GET', '/compute/v2.1/servers');
    assert.equal(afterList.body.servers.length, before.body.servers.length);
    await aio.openstack(['server', 'delete', '--wait', 'busy-1']);
  });

  test('the openstack client lists what it needs: services, hypervisors, flavors, images, networks', { timeout: 300_000 }, async () => {
    const services = await aio.openstackJson(['compute', 'service', 'list']);
    assert.deepEqual(services.map((s: any) => s.Host).sort(), ['compute-0', 'compute-1']);
    assert.ok(services.every((s: any) => s.State === 'up' && s.Status === 'enabled'));
    const hypervisors = await aio.openstackJson(['hypervisor', 'list']);
    assert.equal(hypervisors.length, 2);
    const flavors = await aio.openstackJson(['flavor', 'list']);
    assert.deepEqual(flavors.map((f: any) => f.Name).sort(), ['m1.large', 'm1.medium', 'm1.small', 'm1.tiny', 'm1.xlarge']);
    const images = await aio.openstackJson(['image', 'list']);
    assert.ok(images.some((i: any) => i.Name === 'cirros'));
    const nets = await aio.openstackJson(['network', 'show', 'vdpa-net']);
    assert.equal(nets['provider:physical_network'], 'physnet0');
    assert.equal(nets['provider:network_type'], 'vlan');
    const list = await aio.openstack(['server', 'list']);
    assert.equal(list.code, 0, list.stderr);
  });
});
