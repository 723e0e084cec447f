import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { discoverFromSysfs, SysfsDiscoveryError } from '../../../src/agent/discovery/sysfs.js';
import type { DiscoveredFunction } from '../../../src/domain/pci/device.js';
import { buildSysfs, STANDARD_HOST } from './sysfsFixture.js';

const byAddress = (fns: DiscoveredFunction[]) => new Map(fns.map((f) => [f.address, f]));

test('sysfs discovery reports PFs, VFs, vdpa VFs and plain NICs with their types', { timeout: 300_000 }, async (t) => {
  const root = await buildSysfs(STANDARD_HOST);
  t.after(() => rm(root, { recursive: true, force: true }));
  const warnings: string[] = [];
  const fns = await discoverFromSysfs(root, { warn: (m) => warnings.push(m) });
  assert.deepEqual(fns.map((f) => [f.address, f.devType]), [
    ['0000:00:19.0', 'type-PCI'],
    ['0000:06:00.0', 'type-PF'],
    ['0000:06:00.1', 'vdpa'],
    ['0000:06:00.2', 'vdpa'],
    ['0000:06:00.3', 'vdpa'],
    ['0000:06:00.4', 'vdpa'],
    ['0000:06:00.5', 'type-VF'],
    ['0000:81:00.0', 'type-PF'],
    ['0000:81:01.0', 'type-VF'],
    ['0000:81:01.1', 'type-VF'],
  ]);
  assert.deepEqual(warnings, []); // vdpa_sim is dropped silently by default, as Nova does
});

test('a vdpa VF carries its PF, NUMA node, vDPA name and vhost-vdpa chardev', { timeout: 300_000 }, async (t) => {
  const root = await buildSysfs(STANDARD_HOST);
  t.after(() => rm(root, { recursive: true, force: true }));
  const fns = byAddress(await discoverFromSysfs(root));
  assert.deepEqual(fns.get('0000:06:00.3'), {
    address: '0000:06:00.3', vendorId: '15b3', productId: '101e', devType: 'vdpa', parentAddr: '0000:06:00.0',
    numaNode: 0, devname: null, vdpaName: 'vdpa2', vdpaChardev: '/dev/vhost-vdpa-2',
  });
  assert.deepEqual(fns.get('0000:06:00.0'), {
    address: '0000:06:00.0', vendorId: '15b3', productId: '101d', devType: 'type-PF', parentAddr: null,
    numaNode: 0, devname: 'enp6s0f0np0', vdpaName: null, vdpaChardev: null,
  });
  const e810vf = fns.get('0000:81:01.1')!;
  assert.equal(e810vf.numaNode, 1);
  assert.equal(e810vf.parentAddr, '0000:81:00.0');
  assert.equal(e810vf.devname, 'ens81f0v1');
  assert.equal(e810vf.vendorId, '8086');
  assert.equal(fns.get('0000:00:19.0')!.numaNode, null, 'numa_node -1 means no NUMA information');
  assert.equal(fns.has('0000:02:00.0'), false, 'a non-network device without SR-IOV is not reported');
});

test('a vdpa_sim device is reported only when software vDPA is switched on', { timeout: 300_000 }, async (t) => {
  const root = await buildSysfs(STANDARD_HOST);
  t.after(() => rm(root, { recursive: true, force: true }));
  const fns = await discoverFromSysfs(root, { trackSoftwareVdpa: true });
  const sim = fns.filter((f) => f.devType === 'vdpa-sim');
  assert.deepEqual(sim, [{
    address: 'vdpa:vdpa9', vendorId: '0000', productId: '0000', devType: 'vdpa-sim', parentAddr: null,
    numaNode: null, devname: null, vdpaName: 'vdpa9', vdpaChardev: '/dev/vhost-vdpa-9',
  }]);
  assert.equal(fns.length, 11);
});

test('the chardev number comes from the vhost-vdpa child, not from the vDPA device name', { timeout: 300_000 }, async (t) => {
  const root = await buildSysfs({
    functions: [
      { address: '0000:06:00.0', vendor: '15b3', device: '101d', totalVfs: 2 },
      { address: '0000:06:00.1', vendor: '15b3', device: '101e', physfn: '0000:06:00.0', vdpa: { name: 'vdpa0', chardev: 3 } },
    ],
  });
  t.after(() => rm(root, { recursive: true, force: true }));
  const vf = byAddress(await discoverFromSysfs(root)).get('0000:06:00.1')!;
  assert.equal(vf.vdpaName, 'vdpa0');
  assert.equal(vf.vdpaChardev, '/dev/vhost-vdpa-3');
});

test('a VF whose vDPA device is not bound to vhost_vdpa is left out with a warning', { timeout: 300_000 }, async (t) => {
  const root = await buildSysfs({
    functions: [
      { address: '0000:06:00.0', vendor: '15b3', device: '101d', totalVfs: 2 },
      { address: '0000:06:00.1', vendor: '15b3', device: '101e', physfn: '0000:06:00.0', vdpa: { name: 'vdpa0', chardev: null } },
      { address: '0000:06:00.2', vendor: '15b3', device: '101e', physfn: '0000:06:00.0' },
    ],
  });
  t.after(() => rm(root, { recursive: true, force: true }));
  const warnings: string[] = [];
  const fns = await discoverFromSysfs(root, { warn: (m) => warnings.push(m) });
  assert.deepEqual(fns.map((f) => f.address), ['0000:06:00.0', '0000:06:00.2']);
  assert.match(warnings.join('\n'), /0000:06:00\.1 is left out: its vDPA device vdpa0 has no vhost-vdpa character device/);
});

test('a vDPA device on a PF (not a VF) is not tracked', { timeout: 300_000 }, async (t) => {
  const root = await buildSysfs({
    functions: [{ address: '0000:06:00.0', vendor: '15b3', device: '101d', totalVfs: 0, vdpa: { name: 'vdpa0', chardev: 0 } }],
  });
  t.after(() => rm(root, { recursive: true, force: true }));
  const warnings: string[] = [];
  const fns = await discoverFromSysfs(root, { warn: (m) => warnings.push(m) });
  assert.deepEqual(fns.map((f) => [f.address, f.devType, f.vdpaChardev]), [['0000:06:00.0', 'type-PF', null]]);
  assert.match(warnings[0]!, /vdpa0 is left out: its parent 0000:06:00\.0 is not an SR-IOV VF/);
});

test('a host without the vdpa bus (module not loaded) still reports its PCI functions', { timeout: 300_000 }, async (t) => {
  const root = await buildSysfs({ functions: [{ address: '0000:00:19.0', vendor: '8086', device: '15b8' }] });
  t.after(() => rm(root, { recursive: true, force: true }));
  assert.deepEqual((await discoverFromSysfs(root)).map((f) => f.devType), ['type-PCI']);
});

test('a sysfs root without bus/pci/devices is an error, not an empty host', { timeout: 300_000 }, async (t) => {
  const root = await buildSysfs({ functions: [] });
  t.after(() => rm(root, { recursive: true, force: true }));
  await assert.rejects(discoverFromSysfs(join(root, 'nope')), (e: unknown) =>
    e instanceof SysfsDiscoveryError && /cannot list PCI devices under .*nope/.test(e.message));
});
