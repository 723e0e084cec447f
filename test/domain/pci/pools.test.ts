import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { HostDevice } from '../../../src/domain/pci/device.js';
import { poolDeltas, poolKeyOf, poolKeyString, poolsSatisfy, summarizePools, type Pool } from '../../../src/domain/pci/pools.js';
import type { PciRequest } from '../../../src/domain/pci/request.js';
import { allocateDevice, applyChanges, freeDevice } from '../../../src/domain/pci/tracker.js';
import { connectx6Host, hostDevice } from './fixtures.js';

const VM1 = '11111111-1111-1111-1111-111111111111';

function freeTotal(pools: Pool[]): { free: number; total: number } {
  return pools.reduce((s, p) => ({ free: s.free + p.free, total: s.total + p.total }), { free: 0, total: 0 });
}

function vdpaRequest(id: string, count = 1, physicalNetwork = 'physnet0'): PciRequest {
  return { id, count, spec: { devType: 'vdpa', physicalNetwork }, source: { kind: 'port', portId: id } };
}

describe("behaviour.md's counting example", () => {
  test('1 PF + 4 vdpa VFs: free 5; one vdpa port: free 3; freeing it: free 5', { timeout: 120_000 }, () => {
    const { vfs, all } = connectx6Host();
    assert.deepEqual(freeTotal(summarizePools(all)), { free: 5, total: 5 });
    assert.deepEqual(summarizePools(all), [
      { devType: 'type-PF', physicalNetwork: 'physnet0', vendorId: '15b3', productId: '101d', free: 1, total: 1 },
      { devType: 'vdpa', physicalNetwork: 'physnet0', vendorId: '15b3', productId: '101e', free: 4, total: 4 },
    ]);

    const claim = allocateDevice(vfs[0]!, all, VM1);
    const allocated = applyChanges(all, claim);
    assert.deepEqual(freeTotal(summarizePools(allocated)), { free: 3, total: 5 });

    const before = new Map(all.map((d) => [d.id, d]));
    assert.deepEqual(poolDeltas(before, claim), [
      { key: { devType: 'vdpa', physicalNetwork: 'physnet0', vendorId: '15b3', productId: '101e' }, freeDelta: -1 },
      { key: { devType: 'type-PF', physicalNetwork: 'physnet0', vendorId: '15b3', productId: '101d' }, freeDelta: -1 },
    ]);

    const release = freeDevice(allocated[1]!, allocated);
    assert.deepEqual(freeTotal(summarizePools(applyChanges(allocated, release))), { free: 5, total: 5 });
    const deltas = poolDeltas(new Map(allocated.map((d) => [d.id, d])), release);
    assert.deepEqual(deltas.map((d) => d.freeDelta), [1, 1]);
  });
});

describe('pools', () => {
  test('removed devices are not counted; missing ones count but are never free', { timeout: 120_000 }, () => {
    const { pf, vfs } = connectx6Host();
    const devs: HostDevice[] = [pf, { ...vfs[0]!, status: 'removed' }, { ...vfs[1]!, missing: true }, vfs[2]!];
    assert.deepEqual(summarizePools(devs).map((p) => [p.devType, p.free, p.total]), [['type-PF', 1, 1], ['vdpa', 1, 2]]);
  });
  test('devices without physnet pool under the empty physnet; IDs are lower-cased', { timeout: 120_000 }, () => {
    const d = hostDevice('0000:81:00.0', 'type-PCI', { vendorId: '10DE', productId: '1DB4', physicalNetwork: null });
    assert.deepEqual(poolKeyOf(d), { devType: 'type-PCI', physicalNetwork: '', vendorId: '10de', productId: '1db4' });
    assert.notEqual(poolKeyString(poolKeyOf(d)), poolKeyString({ ...poolKeyOf(d), physicalNetwork: 'x' }));
  });
  test('deltas for the same pool merge and cancel out', { timeout: 120_000 }, () => {
    const { vfs, all } = connectx6Host();
    const before = new Map(all.map((d) => [d.id, d]));
    const changes = [
      { id: vfs[0]!.id, address: vfs[0]!.address, from: 'available' as const, to: 'claimed' as const, instanceUuid: VM1 },
      { id: vfs[1]!.id, address: vfs[1]!.address, from: 'available' as const, to: 'claimed' as const, instanceUuid: VM1 },
      { id: vfs[2]!.id, address: vfs[2]!.address, from: 'claimed' as const, to: 'available' as const, instanceUuid: null },
      { id: vfs[3]!.id, address: vfs[3]!.address, from: 'claimed' as const, to: 'allocated' as const, instanceUuid: VM1 },
    ];
    assert.deepEqual(poolDeltas(before, changes).map((d) => d.freeDelta), [-1]);
    assert.deepEqual(poolDeltas(before, changes.slice(1, 3)), []);
    assert.throws(() => poolDeltas(new Map(), changes), /not in the given devices/);
  });
});

describe('poolsSatisfy', () => {
  const pools: Pool[] = [
    { devType: 'vdpa', physicalNetwork: 'physnet0', vendorId: '15b3', productId: '101e', free: 2, total: 4 },
    { devType: 'vdpa', physicalNetwork: 'physnet1', vendorId: '15b3', productId: '101e', free: 1, total: 1 },
    { devType: 'type-VF', physicalNetwork: 'physnet0', vendorId: '15b3', productId: '101e', free: 1, total: 1 },
  ];
  test('no requests are always satisfied', { timeout: 120_000 }, () => {
    assert.equal(poolsSatisfy([], []), true);
  });
  test('requests competing for one pool do not double count', { timeout: 120_000 }, () => {
    assert.equal(poolsSatisfy(pools, [vdpaRequest('a'), vdpaRequest('b')]), true);
    assert.equal(poolsSatisfy(pools, [vdpaRequest('a'), vdpaRequest('b'), vdpaRequest('c')]), false);
    assert.equal(poolsSatisfy(pools, [vdpaRequest('a', 3)]), false);
  });
  test('a vdpa request does not use VF pools and a VF request does not use vdpa pools', { timeout: 120_000 }, () => {
    const vf: PciRequest = { id: 'v', count: 2, spec: { devType: 'type-VF', physicalNetwork: 'physnet0' }, source: { kind: 'port', portId: 'v' } };
    assert.equal(poolsSatisfy(pools, [vf]), false);
    assert.equal(poolsSatisfy(pools, [{ ...vf, count: 1 }, vdpaRequest('a', 2)]), true);
  });
  test('a request that can use any pool leaves the specific pools to the specific requests', { timeout: 120_000 }, () => {
    const anyPhysnet: PciRequest = { id: 'x', count: 1, spec: { devType: 'vdpa' }, source: { kind: 'alias', alias: 'x' } };
    // greedy order would give "any" a physnet0 device first; the pools still fit all three requests
    assert.equal(poolsSatisfy(pools, [anyPhysnet, vdpaRequest('a', 2)]), true);
    assert.equal(poolsSatisfy(pools, [anyPhysnet, vdpaRequest('a', 2), vdpaRequest('b', 1, 'physnet1')]), false);
  });
  test('one request adds up the free devices of every pool it can use, and only those', { timeout: 120_000 }, () => {
    const anyPhysnet: PciRequest = { id: 'x', count: 3, spec: { devType: 'vdpa' }, source: { kind: 'alias', alias: 'x' } };
    assert.equal(poolsSatisfy(pools, [anyPhysnet]), true);
    assert.equal(poolsSatisfy(pools, [{ ...anyPhysnet, count: 4 }]), false, 'the type-VF pool is not counted');
    assert.equal(poolsSatisfy(pools, [vdpaRequest('a', 2)]), true);
    assert.equal(poolsSatisfy(pools.map((p) => ({ ...p, free: 0 })), [vdpaRequest('a')]), false);
    assert.equal(poolsSatisfy(pools, [{ ...anyPhysnet, spec: { devType: 'vdpa', vendorId: '15B3', productId: '101E' } }]), true, 'IDs compare without case');
  });
});
