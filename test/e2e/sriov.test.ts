import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freeCount, startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { cirrosImageId, createPort } from '../helpers/e2eFixtures.js';
import { assertValidDomainXml } from '../helpers/domainXmlSchema.js';

/**
 * A host with a ConnectX (VFs carrying vDPA devices) and an Intel X710 whose
 * VFs are plain SR-IOV VFs, both wired to physnet0. The ConnectX PF is not
 * listed, so a direct-physical port can only get the Intel PF.
 */
function sriovHost(name: string) {
  return {
    ...vdpaHost(name),
    device_spec: [
      { vendor_id: '15b3', product_id: '101e', physical_network: 'physnet0' },
      { vendor_id: '8086', product_id: '1572', physical_network: 'physnet0' },
      { vendor_id: '8086', product_id: '154c', physical_network: 'physnet0' },
    ],
    nics: [
      { pf: '0000:06:00.0', vendor_id: '15b3', product_id: '101d', numa_node: 0, vfs: 4, vf_product_id: '101e', vdpa: true },
      { pf: '0000:81:00.0', vendor_id: '8086', product_id: '1572', numa_node: 0, vfs: 4, vf_product_id: '154c', vdpa: false },
    ],
  };
}

const ALIASES = [
  { name: 'intel-vf', vendor_id: '8086', product_id: '154c', device_type: 'type-VF' },
  // Same IDs as the vdpa VFs: a type-VF request must still never get one.
  { name: 'cx-vf', vendor_id: '15b3', product_id: '101e', device_type: 'type-VF' },
];

async function flavorWithAlias(aio: AllInOneProcess, name: string, alias: string): Promise<string> {
  const f = await aio.api('POST', '/compute/v2.1/flavors', { flavor: { name, ram: 512, vcpus: 1, disk: 1 } });
  assert.equal(f.status, 200, JSON.stringify(f.body));
  const id = f.body.flavor.id;
  const e = await aio.api('POST', `/compute/v2.1/flavors/${id}/os-extra_specs`, { extra_specs: { 'pci_passthrough:alias': alias } });
  assert.equal(e.status, 200, JSON.stringify(e.body));
  return id;
}

describe('the same device tracker serves SR-IOV: direct, direct-physical and flavor aliases, never a vdpa VF', () => {
  let aio: AllInOneProcess;
  let image: string;
  const byType = (devices: any[], type: string) => devices.filter((d) => d.dev_type === type);

  async function boot(name: string, ports: string[], flavorRef = '1'): Promise<string> {
    const r = await aio.api('POST', '/compute/v2.1/servers', { server: { name, imageRef: image, flavorRef, networks: ports.map((port) => ({ port })) } });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body.server.id;
  }
  async function remove(id: string): Promise<void> {
    await aio.api('DELETE', `/compute/v2.1/servers/${id}`);
    await aio.waitForServer(id, ['DELETED']);
  }
  async function vdpaUntouched(): Promise<void> {
    for (const host of ['sriov-0', 'vdpa-1']) {
      const vdpa = byType(await aio.pci(host), 'vdpa');
      assert.equal(vdpa.length, 4);
      assert.ok(vdpa.every((d) => d.status === 'available'), `${host}: a vdpa VF was handed out`);
    }
  }

  before(async () => {
    aio = await startAllInOneProcess({ hosts: [sriovHost('sriov-0'), vdpaHost('vdpa-1')], config: { pci: { alias: ALIASES } } });
    image = await cirrosImageId(aio);
  });
  after(async () => { await aio?.stop(); });

  test('a direct port boots with a type-VF of the Intel NIC, bound and passed through as a hostdev interface', { timeout: 300_000 }, async () => {
    const p = await createPort(aio, 'direct-port', 'direct');
    const server = await aio.openstackJson(['server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros', '--port', p.id, '--wait', 'sriov-vm']);
    assert.equal(server.status, 'ACTIVE');
    assert.equal(server['OS-EXT-SRV-ATTR:host'], 'sriov-0');
    const devices = await aio.pci('sriov-0');
    const allocated = devices.filter((d: any) => d.status === 'allocated');
    assert.equal(allocated.length, 1);
    assert.equal(allocated[0].dev_type, 'type-VF');
    assert.equal(`${allocated[0].vendor_id}:${allocated[0].product_id}`, '8086:154c');
    assert.equal(devices.find((d: any) => d.address === '0000:81:00.0').status, 'unavailable');
    await vdpaUntouched();
    const bound = (await aio.api('GET', `/network/v2.0/ports/${p.id}`)).body.port;
    assert.equal(bound['binding:profile'].pci_vendor_info, '8086:154c');
    assert.equal(bound['binding:profile'].pci_slot, allocated[0].address);
    const xml: string = (await aio.api('GET', `/compute/v2.1/servers/${server.id}/domain-xml`)).body.domain_xml;
    assertValidDomainXml(xml, 'the domain with an SR-IOV port');
    assert.match(xml, /<interface type="hostdev" managed="yes">/);
    assert.doesNotMatch(xml, /type="vdpa"/);
    const [, bus, slot, fn] = /^0000:(\w\w):(\w\w)\.(\d)$/.exec(allocated[0].address)!;
    assert.ok(xml.includes(`bus="0x${bus}" slot="0x${slot}" function="0x${fn}"`), xml);
    await remove(server.id);
    assert.equal(freeCount(await aio.pci('sriov-0')), 9);
  });

  test('a direct-physical port gets the Intel PF, and all its VFs become unavailable', { timeout: 300_000 }, async () => {
    const p = await createPort(aio, 'pf-port', 'direct-physical');
    const id = await boot('pf-vm', [p.id]);
    await aio.waitForServer(id, ['ACTIVE']);
    const devices = await aio.pci('sriov-0');
    const pf = devices.find((d: any) => d.address === '0000:81:00.0');
    assert.equal(pf.dev_type, 'type-PF');
    assert.equal(pf.status, 'allocated');
    assert.equal(pf.instance_uuid, id);
    const intelVfs = byType(devices, 'type-VF');
    assert.equal(intelVfs.length, 4);
    assert.ok(intelVfs.every((d) => d.status === 'unavailable'));
    await vdpaUntouched();
    await remove(id);
    assert.equal(freeCount(await aio.pci('sriov-0')), 9);
  });

  test('a flavor alias gets its devices next to a vdpa port; an alias for the vdpa VFs\' IDs finds no host', { timeout: 300_000 }, async () => {
    const flavor = await flavorWithAlias(aio, 'with-intel-vf', 'intel-vf:2');
    const vp = await createPort(aio, 'vdpa-port', 'vdpa');
    const id = await boot('alias-vm', [vp.id], flavor);
    const server = await aio.waitForServer(id, ['ACTIVE']);
    assert.equal(server['OS-EXT-SRV-ATTR:host'], 'sriov-0');
    const mine = (await aio.pci('sriov-0')).filter((d: any) => d.instance_uuid === id);
    assert.deepEqual(mine.map((d: any) => d.dev_type).sort(), ['type-VF', 'type-VF', 'vdpa']);
    const xml: string = (await aio.api('GET', `/compute/v2.1/servers/${id}/domain-xml`)).body.domain_xml;
    assertValidDomainXml(xml, 'the domain with an SR-IOV port');
    assert.equal([...xml.matchAll(/<hostdev mode="subsystem" type="pci" managed="yes">/g)].length, 2);
    assert.equal([...xml.matchAll(/<interface type="vdpa">/g)].length, 1);
    await remove(id);

    const cx = await flavorWithAlias(aio, 'with-cx-vf', 'cx-vf');
    const bad = await boot('cx-vm', [], cx);
    const failed = await aio.waitForServer(bad, ['ERROR']);
    assert.match(failed.fault.message, /No valid host was found/);
    await vdpaUntouched();
    await remove(bad);
  });

  test('direct ports use up the Intel VFs and then find no host, though eight vdpa VFs are free', { timeout: 300_000 }, async () => {
    const ports = await Promise.all([1, 2, 3, 4].map((n) => createPort(aio, `d${n}`, 'direct')));
    const id = await boot('four-vfs', ports.map((p) => p.id));
    await aio.waitForServer(id, ['ACTIVE']);
    assert.equal(byType(await aio.pci('sriov-0'), 'type-VF').filter((d) => d.status === 'allocated').length, 4);
    const fifth = await createPort(aio, 'd5', 'direct');
    const more = await boot('fifth-vf', [fifth.id]);
    const failed = await aio.waitForServer(more, ['ERROR']);
    assert.match(failed.fault.message, /No valid host was found/);
    await vdpaUntouched();
    const port = (await aio.api('GET', `/network/v2.0/ports/${fifth.id}`)).body.port;
    assert.equal(port['binding:host_id'], '');
    assert.deepEqual(port['binding:profile'], {});
  });
});

describe('a PCI alias asking for vdpa devices is a configuration error', () => {
  test('vdpa-compute serve exits non-zero and names the alias', { timeout: 300_000 }, async () => {
    const bad = [{ name: 'sneaky-vdpa', vendor_id: '15b3', product_id: '101e', device_type: 'vdpa' }];
    await assert.rejects(
      startAllInOneProcess({ hosts: [vdpaHost('compute-0')], config: { pci: { alias: bad } } }),
      (e: Error) => {
        const code = /exited \((\d+)\)/.exec(e.message);
        assert.ok(code && code[1] !== '0', e.message);
        assert.match(e.message, /PCI alias "sneaky-vdpa" asks for device_type "vdpa"/);
        return true;
      },
    );
  });
});
