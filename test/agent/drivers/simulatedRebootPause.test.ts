import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedDriver } from '../../../src/agent/drivers/simulated.js';
import { FaultInjectingDriver } from '../../../src/agent/drivers/faultInjection.js';
import { converge } from '../../../src/agent/guestConvergence.js';
import { guestSpec, validateDomain, vdpaPort } from '../../domain/guest/fixtures.js';

const UUID = '00000000-0000-4000-8000-00000000a001';
const spec = () => guestSpec({ uuid: UUID, name: 'instance-a001', interfaces: [vdpaPort(0)] });
const driver = () => new SimulatedDriver({ hostName: 'compute1', availableChardevs: () => new Set(['/dev/vhost-vdpa-0']) });

test('a soft reboot restarts the guest OS: the vDPA fd stays open and the definition is the same', { timeout: 5000 }, async () => {
  const d = driver();
  const before = await d.spawn(spec());
  const events = d.vdpaEvents(UUID).length;
  const after = await d.reboot(spec(), 'SOFT');
  assert.equal(after.state, 'running');
  assert.equal(after.domainXml, before.domainXml);
  assert.equal(d.bootCount(UUID), 2);
  assert.equal(d.vdpaEvents(UUID).length, events, 'no unplug or plug');
  assert.deepEqual(d.pluggedVdpa(UUID), ['/dev/vhost-vdpa-0']);
});

test('a hard reboot closes and opens the same chardev again, from any state, and brings a lost guest back', { timeout: 5000 }, async () => {
  const d = driver();
  const before = await d.spawn(spec());
  for (const prepare of [async () => {}, () => d.pause(UUID), () => d.suspend(UUID), () => d.powerOff(UUID)]) {
    await prepare();
    const after = await d.reboot(spec(), 'HARD');
    assert.equal(after.state, 'running');
    assert.equal(after.domainXml, before.domainXml);
    assert.equal(validateDomain(after.domainXml).status, 0);
    assert.deepEqual(d.pluggedVdpa(UUID), ['/dev/vhost-vdpa-0']);
    assert.deepEqual(d.vdpaEvents(UUID).slice(-1), [{ op: 'plug', chardev: '/dev/vhost-vdpa-0' }]);
  }
  await d.destroy(UUID);
  assert.equal((await d.reboot(spec(), 'SOFT')).state, 'running', 'gone: defined from the spec and started');
});

test('pause keeps the devices plugged; unpause runs again; both refuse a stopped guest', { timeout: 5000 }, async () => {
  const d = driver();
  await d.spawn(spec());
  assert.equal((await d.pause(UUID)).state, 'paused');
  assert.equal((await d.pause(UUID)).state, 'paused');
  assert.deepEqual(d.pluggedVdpa(UUID), ['/dev/vhost-vdpa-0']);
  assert.equal((await d.unpause(UUID)).state, 'running');
  await d.powerOff(UUID);
  await assert.rejects(d.pause(UUID), /domain is not running/);
  await assert.rejects(d.unpause(UUID), /domain is not paused/);
});

test('convergence: paused and back to running, and the spec reboot marker reboots', { timeout: 5000 }, async () => {
  const d = driver();
  await d.spawn(spec());
  assert.equal((await converge(d, 'compute1', spec(), 'paused'))?.state, 'paused');
  assert.equal((await converge(d, 'compute1', spec(), 'running'))?.state, 'running');
  assert.equal(d.bootCount(UUID), 1, 'unpause is no boot');
  await converge(d, 'compute1', { ...spec(), reboot: { type: 'SOFT' } }, 'running');
  assert.equal(d.bootCount(UUID), 2);
  await converge(d, 'compute1', spec(), 'running');
  assert.equal(d.bootCount(UUID), 2, 'without the marker, a running guest is left alone');
});

test('fault injection: reboot, pause and unpause fail with the inventory message before anything changes', { timeout: 5000 }, async () => {
  const inner = driver();
  const fault = { message: 'internal error: nope', hang: false, times: 1 };
  const d = new FaultInjectingDriver(inner, { reboot: fault, pause: fault, unpause: fault });
  await d.spawn(spec());
  await assert.rejects(d.reboot(spec(), 'HARD'), /internal error: nope/);
  await assert.rejects(d.pause(UUID), /internal error: nope/);
  assert.equal((await d.status(UUID))?.state, 'running');
  assert.equal(inner.bootCount(UUID), 1);
  assert.equal((await d.pause(UUID)).state, 'paused');
  await assert.rejects(d.unpause(UUID), /internal error: nope/);
  assert.equal((await d.unpause(UUID)).state, 'running');
  assert.equal((await d.reboot(spec(), 'SOFT')).state, 'running');
});
