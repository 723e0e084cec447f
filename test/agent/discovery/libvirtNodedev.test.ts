import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { NodeDeviceXmlError, parseNodeDevices } from '../../../src/agent/discovery/libvirtNodedev.js';
import { discoverFromSysfs } from '../../../src/agent/discovery/sysfs.js';
import { nodeDeviceXml } from './nodedevFixture.js';
import { buildSysfs, STANDARD_HOST } from './sysfsFixture.js';

const fixtures = new URL('../../../../test/fixtures/libvirt/', import.meta.url);
const sample = (name: string) => readFile(new URL(name, fixtures), 'utf8');

test('the reference host file plus vDPA node devices: PF, two vdpa VFs, two plain VFs', { timeout: 300_000 }, async () => {
  const docs = await Promise.all(['vdpa-host.xml', 'nodedev-vdpa_vdpa0.xml', 'nodedev-vdpa_vdpa1.xml'].map(sample));
  const fns = parseNodeDevices(docs);
  assert.deepEqual(fns.map((f) => [f.address, f.devType, f.vdpaChardev]), [
    ['0000:06:00.0', 'type-PF', null],
    ['0000:06:00.1', 'vdpa', '/dev/vhost-vdpa-0'],
    ['0000:06:00.2', 'vdpa', '/dev/vhost-vdpa-1'],
    ['0000:06:00.3', 'type-VF', null],
    ['0000:06:00.4', 'type-VF', null],
  ]);
  assert.deepEqual(fns[0], {
    address: '0000:06:00.0', vendorId: '15b3', productId: '101d', devType: 'type-PF', parentAddr: null,
    numaNode: 0, devname: 'enp6s0f0np0', vdpaName: null, vdpaChardev: null,
  });
  assert.equal(fns[1]!.vdpaName, 'vdpa0');
  assert.equal(fns[1]!.parentAddr, '0000:06:00.0');
});

test('without the vDPA node devices every VF of the reference host is a plain VF', { timeout: 300_000 }, async () => {
  const fns = parseNodeDevices([await sample('vdpa-host.xml')]);
  assert.deepEqual(fns.filter((f) => f.devType === 'type-VF').length, 4);
});

test('node device XML and sysfs describe the same host identically', { timeout: 300_000 }, async (t) => {
  const root = await buildSysfs(STANDARD_HOST);
  t.after(() => rm(root, { recursive: true, force: true }));
  for (const trackSoftwareVdpa of [false, true]) {
    const fromSysfs = await discoverFromSysfs(root, { trackSoftwareVdpa });
    const fromLibvirt = parseNodeDevices(nodeDeviceXml(STANDARD_HOST), { trackSoftwareVdpa });
    assert.deepEqual(fromLibvirt, fromSysfs);
  }
});

test('a vDPA node device whose parent is not a PCI VF is software, reported only on request', { timeout: 300_000 }, () => {
  const docs = nodeDeviceXml({
    functions: [{ address: '0000:00:19.0', vendor: '8086', device: '15b8' }],
    softwareVdpa: [{ name: 'vdpa0', chardev: 0 }],
  });
  assert.deepEqual(parseNodeDevices(docs).map((f) => f.address), ['0000:00:19.0']);
  const sim = parseNodeDevices(docs, { trackSoftwareVdpa: true }).find((f) => f.devType === 'vdpa-sim');
  assert.deepEqual(sim, {
    address: 'vdpa:vdpa0', vendorId: '0000', productId: '0000', devType: 'vdpa-sim', parentAddr: null,
    numaNode: null, devname: null, vdpaName: 'vdpa0', vdpaChardev: '/dev/vhost-vdpa-0',
  });
});

test('a vDPA node device without a chardev leaves its VF out, with a warning', { timeout: 300_000 }, () => {
  const warnings: string[] = [];
  const fns = parseNodeDevices(nodeDeviceXml({
    functions: [
      { address: '0000:06:00.0', vendor: '15b3', device: '101d', totalVfs: 4 },
      { address: '0000:06:00.1', vendor: '15b3', device: '101e', physfn: '0000:06:00.0', vdpa: { name: 'vdpa0', chardev: null } },
    ],
  }), { warn: (m) => warnings.push(m) });
  assert.deepEqual(fns.map((f) => f.address), ['0000:06:00.0']);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /VF 0000:06:00\.1 is left out/);
});

test('a vDPA device whose parent VF is missing from the documents is left out with a warning', { timeout: 300_000 }, async () => {
  const warnings: string[] = [];
  const fns = parseNodeDevices([await sample('nodedev-vdpa_vdpa0.xml')], { warn: (m) => warnings.push(m) });
  assert.deepEqual(fns, []);
  assert.match(warnings[0]!, /vdpa0 is left out: its parent 0000:06:00\.1 is not a PCI function of this host/);
});

test('malformed XML is an error naming the document', { timeout: 300_000 }, () => {
  assert.throws(() => parseNodeDevices(['<device><name>x</name></device>', "<device a=1/>"]),
    (e: unknown) => e instanceof NodeDeviceXmlError && /node device document 1: not valid XML/.test(e.message));
  assert.throws(() => parseNodeDevices(['']),
    (e: unknown) => e instanceof NodeDeviceXmlError && /node device document 0: not valid XML/.test(e.message));
});

test('a pci capability without an address is an error naming the node device', { timeout: 300_000 }, () => {
  assert.throws(() => parseNodeDevices(["<device><name>pci_x</name><capability type='pci'><bus>6</bus></capability></device>"]),
    (e: unknown) => e instanceof NodeDeviceXmlError && /pci_x: pci capability has no valid <domain>/.test(e.message));
});
