/**
 * In-place operations on a guest with a NUMA topology, with the real
 * `openstack` client: an attached interface gets a device its PCI NUMA
 * affinity policy allows, relative to the cells the guest holds (Nova claims
 * the attached port's device with the instance's NUMA topology), and the
 * guest keeps its pins; a rebuild with an image asking for another topology
 * is refused (Nova's ImageNUMATopologyRebuildConflict).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { freeCount, startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { domainXml, until } from '../helpers/e2eFixtures.js';
import { assertValidDomainXml } from '../helpers/domainXmlSchema.js';

const GIB_PAGE = '1048576';

describe('NFV guests in place: interface attach with PCI NUMA affinity, rebuild', { timeout: 600_000 }, () => {
  let aio: AllInOneProcess;
  let serverId: string;
  before(async () => {
    // The pages are on cell 1 only, the NIC on cell 0: a 1 GiB-page guest runs away from every device.
    aio = await startAllInOneProcess({ hosts: [{
      ...vdpaHost('compute-0'),
      numa_cells: [
        { id: 0, socket: 0, cpus: '0-15', memory_mb: 65536 },
        { id: 1, socket: 1, cpus: '16-31', memory_mb: 65536, hugepages: { [GIB_PAGE]: 16 } },
      ],
    }] });
    const created = await aio.openstack(['flavor', 'create', '--vcpus', '2', '--ram', '2048', '--disk', '1',
      '--property', 'hw:cpu_policy=dedicated', '--property', 'hw:mem_page_size=1GB',
      '--property', 'hw:pci_numa_affinity_policy=preferred', 'nfv.preferred']);
    assert.equal(created.code, 0, created.stderr);
    const port = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', 'first-port']);
    serverId = (await aio.openstackJson(['server', 'create', '--flavor', 'nfv.preferred', '--image', 'cirros', '--port', port.id, 'attach-vm'])).id;
    assert.equal((await aio.waitForServer(serverId, ['ACTIVE', 'ERROR'], 60_000)).status, 'ACTIVE');
  });
  after(async () => { await aio?.stop(); });

  const settled = () => until('the server ACTIVE and idle', async () => {
    const s = (await aio.api('GET', `/compute/v2.1/servers/${serverId}`)).body.server;
    return s.status === 'ACTIVE' && s['OS-EXT-STS:task_state'] === null ? s : null;
  }, 60_000);

  test('a port whose own policy is required cannot get a device away from the guest\'s cell: 400, nothing claimed', { timeout: 300_000 }, async () => {
    const free = freeCount(await aio.pci('compute-0'));
    const strict = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', '--numa-policy-required', 'strict-port']);
    const r = await aio.openstack(['server', 'add', 'port', 'attach-vm', strict.id]);
    assert.notEqual(r.code, 0);
    // The client's SDK-style error: the status, then the compute API's message.
    assert.match(r.stderr, new RegExp(`^BadRequestException: 400: .*Failed to claim PCI device for ${serverId} during interface attach: host compute-0 `
      + `has no free vdpa device on physical network physnet0 that its PCI NUMA affinity policy \\(required\\) allows for port ${strict.id}\\.$`, 'm'));
    assert.equal(freeCount(await aio.pci('compute-0')), free);
    assert.equal((await aio.openstackJson(['port', 'show', strict.id])).device_id, '');
    assert.equal((await settled())['OS-EXT-STS:task_state'], null);
  });

  test('a port without a policy takes the flavor\'s preferred: attached from the other cell, the guest still pinned to cell 1', { timeout: 300_000 }, async () => {
    const port = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', 'second-port']);
    const r = await aio.openstack(['server', 'add', 'port', 'attach-vm', port.id]);
    assert.equal(r.code, 0, r.stderr);
    await settled();
    const xml = await until('the new NIC in the domain XML', async () => {
      const x = (await domainXml(aio, serverId)).domain_xml;
      return x.includes(`<mac address="${port.mac_address}"/>`) ? x : null;
    });
    assert.ok(xml.includes('<vcpupin vcpu="0" cpuset="16"/>'), xml);
    assert.ok(xml.includes('<vcpupin vcpu="1" cpuset="17"/>'), xml);
    assert.ok(xml.includes('<memnode cellid="0" mode="strict" nodeset="1"/>'), xml);
    assertValidDomainXml(xml, 'after the attach');
    const devices = (await aio.pci('compute-0')).filter((d: any) => d.instance_uuid === serverId);
    assert.deepEqual(devices.map((d: any) => d.numa_node), [0, 0]);
  });

  test('a rebuild with an image asking for another NUMA topology is Nova\'s 400 and changes nothing', { timeout: 300_000 }, async () => {
    const data = resolve(import.meta.dirname, '../../../test/fixtures/libvirt/vdpa-host.xml');
    const image = await aio.openstack(['image', 'create', '--disk-format', 'qcow2', '--container-format', 'bare', '--file', data,
      '--property', 'hw_numa_nodes=2', 'two-nodes']);
    assert.equal(image.code, 0, image.stderr);
    const r = await aio.openstack(['server', 'rebuild', '--image', 'two-nodes', 'attach-vm']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /An instance's NUMA topology cannot be changed as part of a rebuild\. The image provided is invalid for this instance\. \(HTTP 400\)/);
    const server = await settled();
    assert.equal(server.image.id, (await aio.openstackJson(['image', 'show', 'cirros'])).id);
    const ok = await aio.openstack(['server', 'rebuild', '--image', 'cirros', 'attach-vm']);
    assert.equal(ok.code, 0, ok.stderr);
    await settled();
    assert.ok((await domainXml(aio, serverId)).domain_xml.includes('<vcpupin vcpu="1" cpuset="17"/>'));
  });

  test('the image\'s hw_numa_nodes counts at create: two guest cells need pages on both host cells, which this host has not', { timeout: 300_000 }, async () => {
    const port = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', 'two-port']);
    const created = await aio.openstackJson(['server', 'create', '--flavor', 'nfv.preferred', '--image', 'two-nodes', '--port', port.id, 'two-vm']);
    const server = await aio.waitForServer(created.id, ['ACTIVE', 'ERROR'], 60_000);
    assert.equal(server.status, 'ERROR');
    assert.equal(server.fault.message, 'No valid host was found.');
  });
});
