import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ClaimConflict } from '../../../src/domain/errors.js';
import type { HostDevice } from '../../../src/domain/pci/device.js';
import { allocateDevice, applyChanges, freeDevice } from '../../../src/domain/pci/tracker.js';
import { connectx6Host } from './fixtures.js';

const VM1 = '11111111-1111-1111-1111-111111111111';
const VM2 = '22222222-2222-2222-2222-222222222222';

function statuses(devs: HostDevice[]): string[] {
  return devs.map((d) => `${d.address} ${d.status}${d.instanceUuid ? ` ${d.instanceUuid.slice(0, 2)}` : ''}`);
}

describe('claiming a child', () => {
  test('claiming a vdpa VF makes its PF unavailable', { timeout: 120_000 }, () => {
    const { pf, vfs, all } = connectx6Host();
    const changes = allocateDevice(vfs[0]!, all, VM1, 'claimed');
    assert.deepEqual(changes, [
      { id: vfs[0]!.id, address: '0000:06:00.2', from: 'available', to: 'claimed', instanceUuid: VM1 },
      { id: pf.id, address: '0000:06:00.0', from: 'available', to: 'unavailable', instanceUuid: null },
    ]);
  });
  test('allocating by default; a second VF leaves the already unavailable PF out of the changes', { timeout: 120_000 }, () => {
    const { vfs, all } = connectx6Host();
    const after = applyChanges(all, allocateDevice(vfs[0]!, all, VM1));
    assert.deepEqual(statuses(after), [
      '0000:06:00.0 unavailable',
      '0000:06:00.2 allocated 11',
      '0000:06:00.3 available',
      '0000:06:00.4 available',
      '0000:06:00.5 available',
    ]);
    const second = allocateDevice(after[2]!, after, VM2);
    assert.deepEqual(second.map((c) => c.address), ['0000:06:00.3']);
  });
  test('the family may leave the target out', { timeout: 120_000 }, () => {
    const { pf, vfs } = connectx6Host();
    const changes = allocateDevice(vfs[1]!, [pf, vfs[0]!, vfs[2]!], VM1);
    assert.deepEqual(changes.map((c) => `${c.address} ${c.to}`), ['0000:06:00.3 allocated', '0000:06:00.0 unavailable']);
  });
  test("an instance's own claim moves to allocated; repeating a step changes nothing", { timeout: 120_000 }, () => {
    const { vfs, all } = connectx6Host();
    const claimed = applyChanges(all, allocateDevice(vfs[0]!, all, VM1, 'claimed'));
    assert.deepEqual(allocateDevice(claimed[1]!, claimed, VM1, 'allocated'), [
      { id: vfs[0]!.id, address: '0000:06:00.2', from: 'claimed', to: 'allocated', instanceUuid: VM1 },
    ]);
    assert.deepEqual(allocateDevice(claimed[1]!, claimed, VM1, 'claimed'), []);
  });
  test("another instance's device cannot be taken", { timeout: 120_000 }, () => {
    const { vfs, all } = connectx6Host();
    const claimed = applyChanges(all, allocateDevice(vfs[0]!, all, VM1, 'claimed'));
    assert.throws(() => allocateDevice(claimed[1]!, claimed, VM2), ClaimConflict);
    // nor can an allocated device be stepped back to claimed
    const allocated = applyChanges(claimed, allocateDevice(claimed[1]!, claimed, VM1));
    assert.throws(() => allocateDevice(allocated[1]!, allocated, VM1, 'claimed'), ClaimConflict);
  });
  test('a missing device is never handed out', { timeout: 120_000 }, () => {
    const { vfs, all } = connectx6Host();
    assert.throws(() => allocateDevice({ ...vfs[0]!, missing: true }, all, VM1), /missing/);
  });
});

describe('allocating a PF', () => {
  test('allocating a PF makes all its children unavailable', { timeout: 120_000 }, () => {
    const { pf, all } = connectx6Host();
    const after = applyChanges(all, allocateDevice(pf, all, VM1));
    assert.deepEqual(statuses(after), [
      '0000:06:00.0 allocated 11',
      '0000:06:00.2 unavailable',
      '0000:06:00.3 unavailable',
      '0000:06:00.4 unavailable',
      '0000:06:00.5 unavailable',
    ]);
    assert.throws(() => allocateDevice(after[1]!, after, VM2), ClaimConflict);
  });
  test('a PF cannot be allocated while a child is in use', { timeout: 120_000 }, () => {
    const { pf, vfs, all } = connectx6Host();
    const after = applyChanges(all, allocateDevice(vfs[0]!, all, VM1));
    assert.throws(() => allocateDevice(after[0]!, after, VM2), /unavailable, not available/);
    // even if the PF's own status was not kept up to date
    assert.throws(() => allocateDevice(pf, after, VM2), /has child 0000:06:00.2 allocated/);
  });
  test('a child cannot be taken while its PF is in use, even if the child looks available', { timeout: 120_000 }, () => {
    const { pf, vfs } = connectx6Host();
    assert.throws(() => allocateDevice(vfs[0]!, [{ ...pf, status: 'allocated', instanceUuid: VM2 }], VM1), ClaimConflict);
  });
});

describe('freeing', () => {
  test('freeing the last claimed child makes the PF available again', { timeout: 120_000 }, () => {
    const { vfs, all } = connectx6Host();
    let devs = applyChanges(all, allocateDevice(vfs[0]!, all, VM1));
    devs = applyChanges(devs, allocateDevice(devs[2]!, devs, VM2, 'claimed'));
    const first = freeDevice(devs[1]!, devs);
    assert.deepEqual(first.map((c) => `${c.address} ${c.to}`), ['0000:06:00.2 available']);
    devs = applyChanges(devs, first);
    const last = freeDevice(devs[2]!, devs);
    assert.deepEqual(last, [
      { id: vfs[1]!.id, address: '0000:06:00.3', from: 'claimed', to: 'available', instanceUuid: null },
      { id: all[0]!.id, address: '0000:06:00.0', from: 'unavailable', to: 'available', instanceUuid: null },
    ]);
    assert.ok(applyChanges(devs, last).every((d) => d.status === 'available' && d.instanceUuid === null));
  });
  test('a freed PF releases its children, except missing ones which are removed', { timeout: 120_000 }, () => {
    const { pf, all } = connectx6Host();
    let devs = applyChanges(all, allocateDevice(pf, all, VM1));
    devs = devs.map((d) => (d.address === '0000:06:00.4' ? { ...d, missing: true } : d));
    devs = applyChanges(devs, freeDevice(devs[0]!, devs));
    assert.deepEqual(statuses(devs), [
      '0000:06:00.0 available',
      '0000:06:00.2 available',
      '0000:06:00.3 available',
      '0000:06:00.4 removed',
      '0000:06:00.5 available',
    ]);
  });
  test('a device that vanished while allocated is removed when freed', { timeout: 120_000 }, () => {
    const { vfs, all } = connectx6Host();
    let devs = applyChanges(all, allocateDevice(vfs[0]!, all, VM1));
    devs[1] = { ...devs[1]!, missing: true };
    const changes = freeDevice(devs[1]!, devs);
    assert.deepEqual(changes.map((c) => `${c.address} ${c.to}`), ['0000:06:00.2 removed', '0000:06:00.0 available']);
  });
  test('freeing a device not in use changes nothing (an unavailable VF stays blocked)', { timeout: 120_000 }, () => {
    const { pf, all } = connectx6Host();
    const devs = applyChanges(all, allocateDevice(pf, all, VM1));
    assert.deepEqual(freeDevice(devs[1]!, devs), []);
    assert.deepEqual(freeDevice(all[1]!, all), []);
  });
});

describe('applyChanges', () => {
  test('returns copies and leaves the input alone', { timeout: 120_000 }, () => {
    const { vfs, all } = connectx6Host();
    const after = applyChanges(all, allocateDevice(vfs[0]!, all, VM1));
    assert.equal(all[1]!.status, 'available');
    assert.notEqual(after[3], all[3]);
    assert.deepEqual(after[3], all[3]);
  });
  test('a change decided on stale data is a ClaimConflict', { timeout: 120_000 }, () => {
    const { vfs, all } = connectx6Host();
    const changes = allocateDevice(vfs[0]!, all, VM1);
    const after = applyChanges(all, changes);
    assert.throws(() => applyChanges(after, changes), ClaimConflict);
  });
});
