import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { PciAliasConfig } from '../../../src/config.js';
import { BadRequest } from '../../../src/domain/errors.js';
import { servesRequest as deviceSatisfies } from '../../../src/domain/pci/match.js';
import { requestForPort, requestsForFlavor, validatePciAliases } from '../../../src/domain/pci/request.js';
import { isVnicType, VNIC_TYPES } from '../../../src/domain/pci/vnicTypes.js';

const vdpaVf = { devType: 'vdpa', physicalNetwork: 'physnet0', vendorId: '15b3', productId: '101e' };
const plainVf = { ...vdpaVf, devType: 'type-VF' };
const pf = { devType: 'type-PF', physicalNetwork: 'physnet0', vendorId: '15b3', productId: '101d' };

describe('vnic types', () => {
  test('the eleven binding:vnic_type values are known; anything else is not', { timeout: 120_000 }, () => {
    assert.equal(VNIC_TYPES.length, 11);
    for (const t of ['normal', 'direct', 'vdpa', 'remote-managed', 'accelerator-direct-physical']) assert.ok(isVnicType(t), t);
    for (const t of ['VDPA', 'virtio', '', null, 3]) assert.equal(isVnicType(t), false, String(t));
  });
});

describe('requests from ports', () => {
  test("a vdpa port asks for one vdpa device on its network's physnet", { timeout: 120_000 }, () => {
    assert.deepEqual(requestForPort({ id: 'p1', vnicType: 'vdpa', physicalNetwork: 'physnet4' }), {
      id: 'port-p1',
      count: 1,
      spec: { devType: 'vdpa', physicalNetwork: 'physnet4' },
      source: { kind: 'port', portId: 'p1' },
    });
  });
  test('direct and macvtap ask for a VF, direct-physical for a PF, normal for nothing', { timeout: 120_000 }, () => {
    assert.equal(requestForPort({ id: 'a', vnicType: 'direct', physicalNetwork: 'physnet0' })?.spec.devType, 'type-VF');
    assert.equal(requestForPort({ id: 'b', vnicType: 'macvtap', physicalNetwork: 'physnet0' })?.spec.devType, 'type-VF');
    assert.equal(requestForPort({ id: 'c', vnicType: 'direct-physical', physicalNetwork: 'physnet0' })?.spec.devType, 'type-PF');
    assert.equal(requestForPort({ id: 'd', vnicType: 'normal', physicalNetwork: 'physnet0' }), null);
    assert.equal(requestForPort({ id: 'e', vnicType: 'virtio-forwarder', physicalNetwork: null }), null);
  });
  test('a direct port never receives a vdpa VF', { timeout: 120_000 }, () => {
    const direct = requestForPort({ id: 'a', vnicType: 'direct', physicalNetwork: 'physnet0' })!;
    assert.equal(deviceSatisfies(vdpaVf, direct.spec), false);
    assert.equal(deviceSatisfies(plainVf, direct.spec), true);
  });
  test('a vdpa port never receives a plain VF, and needs the same physnet', { timeout: 120_000 }, () => {
    const vdpa = requestForPort({ id: 'a', vnicType: 'vdpa', physicalNetwork: 'physnet0' })!;
    assert.equal(deviceSatisfies(plainVf, vdpa.spec), false);
    assert.equal(deviceSatisfies(vdpaVf, vdpa.spec), true);
    assert.equal(deviceSatisfies({ ...vdpaVf, physicalNetwork: 'physnet1' }, vdpa.spec), false);
    assert.equal(deviceSatisfies({ ...vdpaVf, physicalNetwork: null }, vdpa.spec), false);
  });
  test('a request that names no physnet (an alias) takes any; a port on a network without one takes only untagged devices (Nova)', { timeout: 120_000 }, () => {
    assert.equal(deviceSatisfies({ ...vdpaVf, physicalNetwork: null }, { devType: 'vdpa' }), true);
    assert.equal(deviceSatisfies(vdpaVf, { devType: 'vdpa' }), true);
    // Nova asks {physical_network: None} for such a port, which a tagged pool does not match (match.ts).
    assert.equal(deviceSatisfies(vdpaVf, { devType: 'vdpa', physicalNetwork: null }), false);
    assert.equal(deviceSatisfies({ ...vdpaVf, physicalNetwork: null }, { devType: 'vdpa', physicalNetwork: null }), true);
  });
});

const aliases: PciAliasConfig[] = [
  { name: 'cx6vf', vendor_id: '15b3', product_id: '101E', device_type: 'type-VF' },
  { name: 'gpu', vendor_id: '10de', product_id: '1db4' },
];

describe('PCI aliases', () => {
  test('valid aliases pass', { timeout: 120_000 }, () => {
    assert.doesNotThrow(() => validatePciAliases(aliases));
    assert.doesNotThrow(() => validatePciAliases([]));
  });
  test('an alias asking for device_type vdpa is rejected naming it', { timeout: 120_000 }, () => {
    assert.throws(
      () => validatePciAliases([...aliases, { name: 'myvdpa', vendor_id: '15b3', product_id: '101e', device_type: 'vdpa' }]),
      /PCI alias "myvdpa" asks for device_type "vdpa": vDPA devices are only consumable through ports/,
    );
  });
  test('unknown device types, bad IDs and duplicate names are rejected naming the alias', { timeout: 120_000 }, () => {
    assert.throws(() => validatePciAliases([{ name: 'x', vendor_id: '15b3', product_id: '101e', device_type: 'type-VDPA' }]), /PCI alias "x" has unknown device_type "type-VDPA"/);
    assert.throws(() => validatePciAliases([{ name: 'x', vendor_id: '15b', product_id: '101e' }]), /PCI alias "x" has vendor_id "15b", expected 4 hex digits/);
    assert.throws(() => validatePciAliases([{ name: 'x', vendor_id: '15b3', product_id: 'g01e' }]), /PCI alias "x" has product_id "g01e"/);
    assert.throws(() => validatePciAliases([aliases[0]!, { ...aliases[1]!, name: 'cx6vf' }]), /PCI alias "cx6vf" is defined more than once/);
    assert.throws(() => validatePciAliases([{ name: 'x', vendor_id: '15b3', product_id: '101e', numa_policy: 'strict' }]), /PCI alias "x" has unknown numa_policy "strict"/);
    assert.throws(() => validatePciAliases([{ name: '', vendor_id: '15b3', product_id: '101e' }]), /PCI alias #0 has no name/);
    assert.throws(() => validatePciAliases([{ name: 'a:b', vendor_id: '15b3', product_id: '101e' }]), /PCI alias "a:b": a name cannot contain/);
  });
});

describe('requests from flavor extra specs', () => {
  test('no alias extra spec, no requests', { timeout: 120_000 }, () => {
    assert.deepEqual(requestsForFlavor({ 'hw:cpu_policy': 'dedicated' }, aliases), []);
  });
  test('"a1:2,a2" gives two requests, the count defaulting to 1; alias without device_type is type-PCI', { timeout: 120_000 }, () => {
    assert.deepEqual(requestsForFlavor({ 'pci_passthrough:alias': 'cx6vf:2, gpu' }, aliases), [
      { id: 'alias-cx6vf', count: 2, spec: { devType: 'type-VF', vendorId: '15b3', productId: '101e' }, source: { kind: 'alias', alias: 'cx6vf' } },
      { id: 'alias-gpu', count: 1, spec: { devType: 'type-PCI', vendorId: '10de', productId: '1db4' }, source: { kind: 'alias', alias: 'gpu' } },
    ]);
  });
  test('an alias named twice adds up', { timeout: 120_000 }, () => {
    assert.deepEqual(requestsForFlavor({ 'pci_passthrough:alias': 'gpu:1,gpu:2' }, aliases).map((r) => r.count), [3]);
  });
  test('an alias for a VF product skips vdpa VFs with those IDs', { timeout: 120_000 }, () => {
    const [r] = requestsForFlavor({ 'pci_passthrough:alias': 'cx6vf' }, aliases);
    assert.equal(deviceSatisfies(vdpaVf, r!.spec), false);
    assert.equal(deviceSatisfies(plainVf, r!.spec), true);
    assert.equal(deviceSatisfies({ ...plainVf, productId: '101d' }, r!.spec), false);
    assert.equal(deviceSatisfies(pf, r!.spec), false);
  });
  test('unknown alias and bad counts are BadRequest with a clear message', { timeout: 120_000 }, () => {
    assert.throws(() => requestsForFlavor({ 'pci_passthrough:alias': 'nic:1' }, aliases), (e: unknown) =>
      e instanceof BadRequest && e.message === 'PCI alias nic is not defined');
    for (const bad of ['gpu:0', 'gpu:-1', 'gpu:two', 'gpu:', 'gpu:1.5']) {
      assert.throws(() => requestsForFlavor({ 'pci_passthrough:alias': bad }, aliases), (e: unknown) =>
        e instanceof BadRequest && /Invalid count ".*" for PCI alias gpu/.test(e.message), bad);
    }
    assert.throws(() => requestsForFlavor({ 'pci_passthrough:alias': 'gpu,,cx6vf' }, aliases), BadRequest);
    assert.throws(() => requestsForFlavor({ 'pci_passthrough:alias': 'gpu:1:2' }, aliases), BadRequest);
  });
});
