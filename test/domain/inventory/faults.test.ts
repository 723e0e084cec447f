import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify as toYaml } from 'yaml';
import { InventoryError, parseHostInventory } from '../../../src/domain/inventory/hostInventory.js';
import { FaultPlan } from '../../../src/domain/inventory/faults.js';

const host = (faults: unknown) => ({
  name: 'h1', vcpus: 8, memory_mb: 16384, disk_gb: 100,
  versions: { kernel: '6.1.0', libvirt: '9.0.0', qemu: '7.2.0' }, faults,
});
const problem = (faults: unknown) => {
  try {
    parseHostInventory(JSON.stringify({ hosts: [host(faults)] }), 'inv.json');
  } catch (e) {
    assert.ok(e instanceof InventoryError, `expected InventoryError, got ${e}`);
    return e.message;
  }
  return assert.fail('the inventory was accepted');
};

test('faults: a message fails every call, {message, times} the first calls, {hang: true} never answers', { timeout: 120_000 }, () => {
  const [h] = parseHostInventory(toYaml({ hosts: [host({
    spawn: 'internal error: qemu unexpectedly closed the monitor',
    resume: { message: 'internal error: cannot restore', times: 2 },
    live_migrate: { hang: true },
    destroy: { hang: true, times: 1 },
  })] }), 'inv.yaml');
  assert.deepEqual(h!.faults, {
    spawn: { message: 'internal error: qemu unexpectedly closed the monitor', hang: false, times: null },
    resume: { message: 'internal error: cannot restore', hang: false, times: 2 },
    live_migrate: { message: null, hang: true, times: null },
    destroy: { message: null, hang: true, times: 1 },
  });
});

test('a host without faults has none, and an empty faults object is allowed', { timeout: 120_000 }, () => {
  const [plain] = parseHostInventory(JSON.stringify([{ ...host({}), faults: undefined }]), 'x');
  assert.equal(plain!.faults, undefined);
  const [empty] = parseHostInventory(JSON.stringify([host({})]), 'x');
  assert.deepEqual(empty!.faults, {});
});

test('bad faults are refused with a message naming the field', { timeout: 120_000 }, () => {
  assert.equal(problem({ spwan: 'x' }),
    'inv.json: hosts[0].faults.spwan: is not a known field (operations: spawn, destroy, power_off, power_on, suspend, resume, attach_interface, detach_interface, live_migrate, reboot, pause, unpause, rebuild, rescue, unrescue, snapshot, console_log)');
  assert.equal(problem({ spawn: '' }), 'inv.json: hosts[0].faults.spawn: must NOT have fewer than 1 characters');
  assert.equal(problem({ spawn: 42 }), 'inv.json: hosts[0].faults.spawn: must be string,object');
  assert.equal(problem({ spawn: { message: 'x', times: 0 } }), 'inv.json: hosts[0].faults.spawn.times: must be >= 1');
  assert.equal(problem({ spawn: { message: 'x', times: 1.5 } }), 'inv.json: hosts[0].faults.spawn.times: must be integer');
  assert.equal(problem({ spawn: { mesage: 'x' } }), 'inv.json: hosts[0].faults.spawn.mesage: is not a known field');
  assert.equal(problem({ spawn: { times: 1 } }),
    'inv.json: hosts[0].faults.spawn (host h1): needs "message" (the error the operation fails with) or "hang": true');
  assert.equal(problem({ spawn: { hang: false } }),
    'inv.json: hosts[0].faults.spawn (host h1): needs "message" (the error the operation fails with) or "hang": true');
  assert.equal(problem({ spawn: { hang: true, message: 'x' } }),
    'inv.json: hosts[0].faults.spawn (host h1): give either "message" or "hang": true, not both');
  assert.equal(problem('spawn'), 'inv.json: hosts[0].faults: must be object');
});

test('a fault plan counts calls per operation: times N fails the first N, then lets calls through', { timeout: 120_000 }, () => {
  const plan = new FaultPlan({
    spawn: { message: 'boom', hang: false, times: 2 },
    resume: { message: 'always', hang: false, times: null },
  });
  assert.equal(plan.take('spawn')?.message, 'boom');
  assert.equal(plan.take('destroy'), null);
  assert.equal(plan.take('spawn')?.message, 'boom');
  assert.equal(plan.take('spawn'), null);
  assert.equal(plan.take('spawn'), null);
  for (let i = 0; i < 5; i++) assert.equal(plan.take('resume')?.message, 'always');
});
