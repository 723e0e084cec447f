/** LibvirtDriver's reboot, pause and unpause on libvirt's own test driver (no daemon). */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LibvirtDriver } from '../../../src/agent/drivers/libvirt/libvirtDriver.js';
import { converge } from '../../../src/agent/guestConvergence.js';
import { TEST_URI, guestSpec, requireAddon, vdpaNic } from './helpers.js';

/** A running domain's XML without its run id, which a new start changes. */
const definition = (xml: string) => xml.replace(/^<domain type='(\w+)' id='\d+'>/, "<domain type='$1'>");

describe('LibvirtDriver reboot and pause on the test driver', { timeout: 30_000 }, () => {
  let driver: LibvirtDriver;
  before(() => {
    requireAddon();
    driver = new LibvirtDriver({ uri: TEST_URI });
  });
  after(async () => { await driver?.close(); });

  test('a soft reboot keeps the running guest and its vDPA NIC (virDomainReboot)', { timeout: 30_000 }, async () => {
    const spec = guestSpec([vdpaNic('/dev/vhost-vdpa-0', 'fa:16:3e:aa:00:01')], 'soft');
    const before = await driver.spawn(spec);
    const after = await driver.reboot(spec, 'SOFT');
    assert.equal(after.state, 'running');
    assert.equal(after.domainXml, before.domainXml);
    await driver.destroy(spec.uuid);
  });

  test('a hard reboot defines the guest again from its spec and starts it, from running, paused, stopped or saved', { timeout: 30_000 }, async () => {
    const spec = guestSpec([vdpaNic('/dev/vhost-vdpa-1', 'fa:16:3e:aa:00:02')], 'hard');
    const before = await driver.spawn(spec);
    for (const prepare of [async () => {}, () => driver.pause(spec.uuid), () => driver.powerOff(spec.uuid)]) {
      await prepare();
      const after = await driver.reboot(spec, 'HARD');
      assert.equal(after.state, 'running');
      assert.equal(definition(after.domainXml), definition(before.domainXml), 'the same definition, the same vDPA chardev');
      assert.match(after.domainXml, /<source dev='\/dev\/vhost-vdpa-1'\/>/);
    }
    // A soft reboot of a stopped guest falls back to the hard way (as Nova's libvirt driver does).
    await driver.powerOff(spec.uuid);
    assert.equal((await driver.reboot(spec, 'SOFT')).state, 'running');
    await driver.destroy(spec.uuid);
    // A guest the hypervisor lost comes back from the spec.
    assert.equal((await driver.reboot(spec, 'HARD')).state, 'running');
    await driver.destroy(spec.uuid);
  });

  test('a hard reboot of a suspended guest discards its saved memory', { timeout: 30_000 }, async () => {
    const spec = guestSpec([], 'hardsaved');
    await driver.spawn(spec);
    assert.equal((await driver.suspend(spec.uuid)).state, 'suspended');
    assert.equal((await driver.reboot(spec, 'HARD')).state, 'running');
    assert.equal(await (await driver.connection()).hasManagedSave(spec.name), false);
    await driver.destroy(spec.uuid);
  });

  test('pause and unpause (virDomainSuspend/Resume), idempotent; convergence drives both', { timeout: 30_000 }, async () => {
    const spec = guestSpec([vdpaNic('/dev/vhost-vdpa-2', 'fa:16:3e:aa:00:03')], 'pause');
    const running = await driver.spawn(spec);
    assert.equal((await driver.pause(spec.uuid)).state, 'paused');
    assert.equal((await driver.pause(spec.uuid)).state, 'paused');
    const unpaused = await driver.unpause(spec.uuid);
    assert.equal(unpaused.state, 'running');
    assert.equal(unpaused.domainXml, running.domainXml);
    assert.equal((await driver.unpause(spec.uuid)).state, 'running');
    assert.equal((await converge(driver, 'test', spec, 'paused'))?.state, 'paused');
    assert.equal((await converge(driver, 'test', spec, 'running'))?.state, 'running');
    await driver.powerOff(spec.uuid);
    await assert.rejects(driver.pause(spec.uuid), /Cannot pause guest .*: it is shutoff/);
    await assert.rejects(driver.unpause(spec.uuid), /Cannot unpause guest .*: it is not paused/);
    await driver.destroy(spec.uuid);
  });
});
