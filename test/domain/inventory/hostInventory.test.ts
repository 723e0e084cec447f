import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { stringify as toYaml } from 'yaml';
import {
  generateInventory, InventoryError, parseHostInventory, simulatedFunctions, type HostInventoryEntry,
} from '../../../src/domain/inventory/hostInventory.js';
import { HOST_INVENTORY_SCHEMA } from '../../../src/domain/inventory/hostInventorySchema.js';
import { CURRENT_SERVICE_VERSION } from '../../../src/domain/inventory/serviceVersion.js';
import { applyDeviceSpecs, parseDeviceSpecs } from '../../../src/domain/pci/deviceSpec.js';

const repo = new URL('../../../../', import.meta.url);

const host = (extra: Record<string, unknown> = {}) => ({
  name: 'h1', vcpus: 8, memory_mb: 16384, disk_gb: 100,
  versions: { kernel: '6.1.0-18-amd64', libvirt: '9.0.0', qemu: '7.2.0' }, ...extra,
});
const nic = (extra: Record<string, unknown> = {}) => ({
  pf: '0000:06:00.0', vendor_id: '15b3', product_id: '101d', numa_node: 0, vfs: 2, vf_product_id: '101e', vdpa: true, ...extra,
});
const problem = (doc: unknown) => {
  try {
    parseHostInventory(typeof doc === 'string' ? doc : JSON.stringify(doc), 'inv.json');
  } catch (e) {
    assert.ok(e instanceof InventoryError, `expected InventoryError, got ${e}`);
    return e.message;
  }
  return assert.fail('the inventory was accepted');
};

test('the default inventory: two hosts, each a ConnectX-6 Dx PF with 4 vDPA VFs, counting 5 devices', { timeout: 120_000 }, async () => {
  const hosts = parseHostInventory(await readFile(new URL('config/hosts.default.yaml', repo), 'utf8'), 'hosts.default.yaml');
  assert.deepEqual(hosts.map((h) => h.name), ['compute-0', 'compute-1']);
  for (const h of hosts) {
    assert.deepEqual([h.vcpus, h.memoryMb, h.diskGb], [32, 131072, 1000]);
    assert.deepEqual(h.versions, { kernel: '6.1.0', libvirt: '9.0.0', qemu: '7.2.0' });
    assert.equal(h.serviceVersion, CURRENT_SERVICE_VERSION);
    const tracked = applyDeviceSpecs(parseDeviceSpecs(h.deviceSpec), simulatedFunctions(h));
    assert.equal(tracked.length, 5, 'behaviour.md counting example: total 5');
    assert.deepEqual(tracked.map((d) => [d.address, d.devType, d.vdpaChardev, d.physicalNetwork]), [
      ['0000:06:00.0', 'type-PF', null, 'physnet0'],
      ['0000:06:00.1', 'vdpa', '/dev/vhost-vdpa-0', 'physnet0'],
      ['0000:06:00.2', 'vdpa', '/dev/vhost-vdpa-1', 'physnet0'],
      ['0000:06:00.3', 'vdpa', '/dev/vhost-vdpa-2', 'physnet0'],
      ['0000:06:00.4', 'vdpa', '/dev/vhost-vdpa-3', 'physnet0'],
    ]);
  }
});

test('JSON and YAML, wrapped or as a bare list, give the same hosts', { timeout: 120_000 }, () => {
  const doc = [host({ nics: [nic()], device_spec: [{ vendor_id: '15b3', physical_network: 'p' }] })];
  const fromJson = parseHostInventory(JSON.stringify({ hosts: doc }), 'a.json');
  assert.deepEqual(parseHostInventory(JSON.stringify(doc), 'a.json'), fromJson);
  assert.deepEqual(parseHostInventory(toYaml({ hosts: doc }), 'a.yaml'), fromJson);
  assert.deepEqual(parseHostInventory(toYaml(doc), 'a.yaml'), fromJson);
});

test('optional fields take their defaults', { timeout: 120_000 }, () => {
  const [h] = parseHostInventory(JSON.stringify([host()]), 'x');
  assert.deepEqual(h, {
    name: 'h1', vcpus: 8, memoryMb: 16384, diskGb: 100,
    versions: { kernel: '6.1.0-18-amd64', libvirt: '9.0.0', qemu: '7.2.0' },
    serviceVersion: 66, deviceSpec: [], hostIp: '127.0.0.1', nics: [],
  } satisfies HostInventoryEntry);
  const [old] = parseHostInventory(JSON.stringify([host({ service_version: 61, host_ip: '192.0.2.7' })]), 'x');
  assert.equal(old!.serviceVersion, 61);
  assert.equal(old!.hostIp, '192.0.2.7');
});

test('errors name the field at fault', { timeout: 120_000 }, () => {
  assert.equal(problem({ hosts: [host({ nics: [nic(), nic({ pf: '0000:07:00.0', vfs: 'x' })] })] }),
    'inv.json: hosts[0].nics[1].vfs: must be integer');
  assert.equal(problem([host({ vcpus: undefined })]), 'inv.json: hosts[0].vcpus: is required');
  assert.equal(problem([host(), host({ name: 'h2', versions: { kernel: '6.1', qemu: '7.2' } })]),
    'inv.json: hosts[1].versions.libvirt: is required');
  assert.equal(problem([host({ memory: 5 })]), 'inv.json: hosts[0].memory: is not a known field');
  assert.match(problem([host({ nics: [nic({ pf: '06:00.0' })] })]), /^inv\.json: hosts\[0\]\.nics\[0\]\.pf: must match pattern .*\(got "06:00\.0"\)$/);
  assert.equal(problem([host({ nics: [nic({ vf_product_id: undefined })] })]), 'inv.json: hosts[0].nics[0].vf_product_id: is required');
  assert.match(problem('hosts:\n  - name: h1\n    vcpus: 1\n    memory_mb: 1\n    disk_gb: 1\n    versions: {kernel: a, libvirt: b, qemu: c}\n    nics: [{pf: "0000:06:00.0", vendor_id: 8086, product_id: "1593", vfs: 0}]\n'),
    /hosts\[0\]\.nics\[0\]\.vendor_id: must be string \(quote hex ids in YAML/);
  assert.equal(problem({ hosts: 3 }), 'inv.json: hosts: must be array');
  assert.equal(problem({ host: [] }), 'inv.json: hosts: is required');
  assert.match(problem('{"hosts": ['), /^inv\.json: \(file\): not valid YAML or JSON/);
  assert.match(problem(''), /^inv\.json: \(file\): is empty/);
});

test('duplicate host names are rejected, naming both entries', { timeout: 120_000 }, () => {
  assert.equal(problem([host(), host({ name: 'h2' }), host()]), 'inv.json: hosts[2].name: duplicate host name "h1" (also hosts[0])');
});

test('a malformed device_spec is rejected naming the host and the entry', { timeout: 120_000 }, () => {
  const msg = problem([host({ device_spec: [{ vendor_id: '15b3' }, '{"address": "0000:06:00.1", "devname": "eth0"}'] })]);
  assert.match(msg, /^inv\.json: hosts\[0\]\.device_spec \(host h1\): device_spec entry 1 .*"address" and "devname" cannot both be given/);
});

test('device_spec entries may be JSON strings, as in Nova configuration', { timeout: 120_000 }, () => {
  const [h] = parseHostInventory(JSON.stringify([host({
    nics: [nic()], device_spec: ['{"vendor_id": "15b3", "product_id": "101e", "physical_network": "physnet4"}'],
  })]), 'x');
  const tracked = applyDeviceSpecs(parseDeviceSpecs(h!.deviceSpec), simulatedFunctions(h!));
  assert.deepEqual(tracked.map((d) => [d.address, d.physicalNetwork]), [['0000:06:00.1', 'physnet4'], ['0000:06:00.2', 'physnet4']]);
});

test('NICs whose functions overlap are rejected', { timeout: 120_000 }, () => {
  assert.equal(problem([host({ nics: [nic({ vfs: 9 }), nic({ pf: '0000:06:01.0', vfs: 0 })] })]),
    'inv.json: hosts[0].nics[1] (host h1): function 0000:06:01.0 already belongs to nics[0]');
  assert.match(problem([host({ nics: [nic({ pf: '0000:ff:1f.0', vfs: 8 })] })]), /nics\[0\] \(host h1\): VF 8 of 0000:ff:1f\.0 would lie past bus ff/);
});

test('simulated functions: VFs follow the PF by routing id, vDPA numbering runs across NICs', { timeout: 120_000 }, () => {
  const [h] = parseHostInventory(JSON.stringify([host({
    nics: [
      nic({ vfs: 9, devname: 'enp6s0f0np0' }),
      nic({ pf: '0000:81:00.0', vendor_id: '8086', product_id: '1593', vf_product_id: '1889', numa_node: 1, vfs: 2, vdpa: false }),
      nic({ pf: '0000:0A:00.0', vfs: 1, numa_node: null }),
    ],
  })]), 'x');
  const fns = simulatedFunctions(h!);
  assert.deepEqual(fns.map((f) => [f.address, f.devType, f.vdpaName, f.vdpaChardev]), [
    ['0000:06:00.0', 'type-PF', null, null],
    ...[1, 2, 3, 4, 5, 6, 7].map((fn) => [`0000:06:00.${fn}`, 'vdpa', `vdpa${fn - 1}`, `/dev/vhost-vdpa-${fn - 1}`]),
    ['0000:06:01.0', 'vdpa', 'vdpa7', '/dev/vhost-vdpa-7'],
    ['0000:06:01.1', 'vdpa', 'vdpa8', '/dev/vhost-vdpa-8'],
    ['0000:81:00.0', 'type-PF', null, null],
    ['0000:81:00.1', 'type-VF', null, null],
    ['0000:81:00.2', 'type-VF', null, null],
    ['0000:0a:00.0', 'type-PF', null, null],
    ['0000:0a:00.1', 'vdpa', 'vdpa9', '/dev/vhost-vdpa-9'],
  ]);
  const e810vf = fns.find((f) => f.address === '0000:81:00.2')!;
  assert.deepEqual(e810vf, {
    address: '0000:81:00.2', vendorId: '8086', productId: '1889', devType: 'type-VF', parentAddr: '0000:81:00.0',
    numaNode: 1, devname: null, vdpaName: null, vdpaChardev: null,
  });
  assert.equal(fns[0]!.devname, 'enp6s0f0np0');
  assert.equal(fns.at(-1)!.numaNode, null);
});

test('generateInventory builds H hosts of V vdpa VFs each on one physnet, which parse back unchanged', { timeout: 120_000 }, () => {
  const hosts = generateInventory({ hosts: 3, vfsPerHost: 10, physnet: 'physnet7', prefix: 'bench-' });
  assert.deepEqual(hosts.map((h) => h.name), ['bench-0', 'bench-1', 'bench-2']);
  assert.equal(new Set(hosts.map((h) => h.hostIp)).size, 3);
  for (const h of hosts) {
    const tracked = applyDeviceSpecs(parseDeviceSpecs(h.deviceSpec), simulatedFunctions(h));
    assert.equal(tracked.filter((d) => d.devType === 'vdpa').length, 10);
    assert.equal(tracked.length, 11);
    assert.ok(tracked.every((d) => d.physicalNetwork === 'physnet7'));
  }
  const asFile = {
    hosts: hosts.map((h) => ({
      name: h.name, vcpus: h.vcpus, memory_mb: h.memoryMb, disk_gb: h.diskGb, versions: h.versions,
      service_version: h.serviceVersion, host_ip: h.hostIp, device_spec: h.deviceSpec,
      nics: h.nics.map((n) => ({ pf: n.pf, vendor_id: n.vendorId, product_id: n.productId, numa_node: n.numaNode, vfs: n.vfs, vf_product_id: n.vfProductId, vdpa: n.vdpa })),
    })),
  };
  assert.deepEqual(parseHostInventory(JSON.stringify(asFile), 'gen'), hosts);
  assert.equal(generateInventory({ hosts: 1, vfsPerHost: 1 })[0]!.name, 'compute-0');
  assert.throws(() => generateInventory({ hosts: -1, vfsPerHost: 1 }), InventoryError);
});

test('the published schema file is the one the parser validates with', { timeout: 120_000 }, async () => {
  const published = JSON.parse(await readFile(new URL('schemas/host-inventory.schema.json', repo), 'utf8'));
  assert.deepEqual(published, HOST_INVENTORY_SCHEMA);
});
