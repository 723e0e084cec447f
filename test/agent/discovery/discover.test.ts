import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DiscoverError, runDiscover } from '../../../src/cli/discover.js';
import { DeviceSpecError } from '../../../src/domain/pci/deviceSpec.js';
import { buildSysfs, STANDARD_HOST } from './sysfsFixture.js';

const libvirtFixtures = fileURLToPath(new URL('../../../../test/fixtures/libvirt/', import.meta.url));

async function specFile(t: { after(fn: () => Promise<void>): void }, content: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vdpa-spec-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'spec.yaml');
  await writeFile(file, content);
  return file;
}

test('discover reports the vdpa VFs and PF the spec lists, with physnet, tags and chardev', { timeout: 300_000 }, async (t) => {
  const root = await buildSysfs(STANDARD_HOST);
  t.after(() => rm(root, { recursive: true, force: true }));
  const spec = await specFile(t, `
- {vendor_id: "15b3", product_id: "101d", physical_network: physnet0}
- {vendor_id: "15b3", product_id: "101e", physical_network: physnet0, trusted: "true", rack: r12}
`);
  const devices = await runDiscover({ sysfsRoot: root, deviceSpecFile: spec });
  assert.deepEqual(devices.map((d) => [d.address, d.dev_type]), [
    ['0000:06:00.0', 'type-PF'],
    ['0000:06:00.1', 'vdpa'], ['0000:06:00.2', 'vdpa'], ['0000:06:00.3', 'vdpa'], ['0000:06:00.4', 'vdpa'],
    ['0000:06:00.5', 'type-VF'],
  ]);
  assert.deepEqual(devices[2], {
    address: '0000:06:00.2', vendor_id: '15b3', product_id: '101e', dev_type: 'vdpa', parent_addr: '0000:06:00.0',
    numa_node: 0, physical_network: 'physnet0', vdpa_chardev: '/dev/vhost-vdpa-1',
    tags: { physical_network: 'physnet0', trusted: 'true', rack: 'r12' },
  });
  assert.equal('vdpa_chardev' in devices[0]!, false, 'only vDPA devices carry a chardev');
  assert.equal(devices[5]!.vdpa_chardev, undefined);
});

test('devices no spec matches are not reported; devname and address specs work', { timeout: 300_000 }, async (t) => {
  const root = await buildSysfs(STANDARD_HOST);
  t.after(() => rm(root, { recursive: true, force: true }));
  const spec = await specFile(t, JSON.stringify([
    { devname: 'ens81f0v1', physical_network: 'physnet1' },
    { address: '0000:06:00.3', physical_network: 'physnet0' },
  ]));
  const devices = await runDiscover({ sysfsRoot: root, deviceSpecFile: spec });
  assert.deepEqual(devices.map((d) => [d.address, d.dev_type, d.numa_node, d.physical_network]), [
    ['0000:06:00.3', 'vdpa', 0, 'physnet0'],
    ['0000:81:01.1', 'type-VF', 1, 'physnet1'],
  ]);
});

test('software vDPA is reported only with trackSoftwareVdpa', { timeout: 300_000 }, async (t) => {
  const root = await buildSysfs(STANDARD_HOST);
  t.after(() => rm(root, { recursive: true, force: true }));
  const spec = await specFile(t, '[{vendor_id: "0000", product_id: "0000", physical_network: lab}]');
  assert.deepEqual(await runDiscover({ sysfsRoot: root, deviceSpecFile: spec }), []);
  const devices = await runDiscover({ sysfsRoot: root, deviceSpecFile: spec, trackSoftwareVdpa: true });
  assert.deepEqual(devices, [{
    address: 'vdpa:vdpa9', vendor_id: '0000', product_id: '0000', dev_type: 'vdpa-sim', parent_addr: null,
    numa_node: null, physical_network: 'lab', vdpa_chardev: '/dev/vhost-vdpa-9', tags: { physical_network: 'lab' },
  }]);
});

test('--source libvirt reads a directory of node device XML', { timeout: 300_000 }, async (t) => {
  const spec = await specFile(t, 'device_spec:\n  - {vendor_id: "15b3", physical_network: physnet0}\n');
  const devices = await runDiscover({ source: 'libvirt', nodedevDir: libvirtFixtures, deviceSpecFile: spec });
  assert.deepEqual(devices.map((d) => [d.address, d.dev_type, d.vdpa_chardev]), [
    ['0000:06:00.0', 'type-PF', undefined],
    ['0000:06:00.1', 'vdpa', '/dev/vhost-vdpa-0'],
    ['0000:06:00.2', 'vdpa', '/dev/vhost-vdpa-1'],
    ['0000:06:00.3', 'type-VF', undefined],
    ['0000:06:00.4', 'type-VF', undefined],
  ]);
});

test('--source libvirt without a node device directory uses the supplied libvirt reader, or says it has none', { timeout: 300_000 }, async (t) => {
  const spec = await specFile(t, '[{vendor_id: "15b3"}]');
  await assert.rejects(runDiscover({ source: 'libvirt', deviceSpecFile: spec }), DiscoverError);
  const seen: Array<string | undefined> = [];
  const devices = await runDiscover({
    source: 'libvirt', libvirtUri: 'test:///x', deviceSpecFile: spec,
    readNodeDeviceXml: async (uri) => {
      seen.push(uri);
      return [`<device><name>pci_0000_06_00_0</name><capability type='pci'><class>0x020000</class><domain>0</domain><bus>6</bus><slot>0</slot><function>0</function><product id='0x101d'/><vendor id='0x15b3'/></capability></device>`];
    },
  });
  assert.deepEqual(seen, ['test:///x']);
  assert.deepEqual(devices.map((d) => d.address), ['0000:06:00.0']);
});

test('a malformed device_spec fails before discovery, naming the entry', { timeout: 300_000 }, async (t) => {
  const spec = await specFile(t, '[{vendor_id: "15b3"}, {vendor_id: "15b3", product_id: "10g1"}]');
  await assert.rejects(runDiscover({ sysfsRoot: '/nonexistent', deviceSpecFile: spec }),
    (e: unknown) => e instanceof DeviceSpecError && /device_spec entry 1 .*"product_id" must be 4 hex digits/.test(e.message));
  const notAList = await specFile(t, 'vendor_id: "15b3"\n');
  await assert.rejects(runDiscover({ sysfsRoot: '/nonexistent', deviceSpecFile: notAList }), /expected a list of device_spec entries/);
  await assert.rejects(runDiscover({ sysfsRoot: '/nonexistent', deviceSpecFile: '/nonexistent/spec.yaml' }), DiscoverError);
});
