import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequest } from '../../../src/domain/errors.js';
import { vdpaChardevsOf } from '../../../src/domain/guest/domainXml.js';
import type { GuestInterface, GuestSpec } from '../../../src/domain/guest/spec.js';
import { VirtDriverError } from '../../../src/agent/drivers/driver.js';
import { LibvirtErrorCode, SimulatedDriver } from '../../../src/agent/drivers/simulated.js';
import { guestSpec, validateDomain, vdpaPort } from '../../domain/guest/fixtures.js';

function uuidOf(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}
function specWith(n: number, interfaces: GuestInterface[]): GuestSpec {
  return guestSpec({ uuid: uuidOf(n), name: `instance-${n}`, interfaces });
}
function driver(chardevs?: string[]): SimulatedDriver {
  const present = chardevs ? new Set(chardevs) : null;
  return new SimulatedDriver({ hostName: 'compute1', availableChardevs: () => present });
}
const isDriverError = (pattern: RegExp, code?: number) => (e: unknown) =>
  e instanceof VirtDriverError && pattern.test(e.message) && (code === undefined || e.code === code);

test('spawn defines and starts the guest with valid libvirt XML; a repeat is a no-op', { timeout: 300_000 }, async () => {
  const d = driver(['/dev/vhost-vdpa-0', '/dev/vhost-vdpa-1']);
  const spec = specWith(1, [vdpaPort(0), vdpaPort(1)]);
  const status = await d.spawn(spec);
  assert.equal(status.uuid, spec.uuid);
  assert.equal(status.state, 'running');
  assert.equal(validateDomain(status.domainXml).status, 0);
  assert.deepEqual(vdpaChardevsOf(status.domainXml), ['/dev/vhost-vdpa-0', '/dev/vhost-vdpa-1']);
  assert.deepEqual(d.pluggedVdpa(spec.uuid), ['/dev/vhost-vdpa-0', '/dev/vhost-vdpa-1']);
  assert.equal(d.holderOf('/dev/vhost-vdpa-0'), spec.uuid);

  const events = d.vdpaEvents(spec.uuid).length;
  assert.deepEqual(await d.spawn(structuredClone(spec)), status);
  assert.equal(d.vdpaEvents(spec.uuid).length, events, 'no re-plug on a repeated spawn');
  assert.deepEqual(await d.status(spec.uuid), status);
  // Only this host's agent defines guests in the simulator: every one is owned.
  assert.deepEqual(await d.list(), [{ ...status, name: spec.name, ownership: 'owned' }]);
  assert.equal(await d.status(uuidOf(99)), null);
});

test('spawn with a missing chardev fails with libvirt\'s own message and leaves nothing behind', { timeout: 300_000 }, async () => {
  const d = driver(['/dev/vhost-vdpa-0']);
  const spec = specWith(1, [vdpaPort(0), vdpaPort(3)]);
  await assert.rejects(d.spawn(spec), (e: unknown) => {
    assert.ok(e instanceof VirtDriverError);
    assert.equal(e.message, "Unable to open '/dev/vhost-vdpa-3' for vdpa device: No such file or directory");
    assert.equal(e.code, LibvirtErrorCode.SYSTEM_ERROR);
    return true;
  });
  assert.equal(await d.status(spec.uuid), null);
  assert.equal(d.holderOf('/dev/vhost-vdpa-0'), undefined);
});

test('availableChardevs returning null skips the presence check', { timeout: 300_000 }, async () => {
  const d = driver();
  assert.equal((await d.spawn(specWith(1, [vdpaPort(42)]))).state, 'running');
});

test('two guests cannot hold the same chardev; the second is refused as busy', { timeout: 300_000 }, async () => {
  const d = driver(['/dev/vhost-vdpa-0']);
  await d.spawn(specWith(1, [vdpaPort(0)]));
  await assert.rejects(d.spawn(specWith(2, [vdpaPort(0)])), isDriverError(/vhost-vdpa-0.*busy/, LibvirtErrorCode.SYSTEM_ERROR));
  assert.equal(await d.status(uuidOf(2)), null);
  // Once the first is off, the device is free.
  await d.powerOff(uuidOf(1));
  assert.equal((await d.spawn(specWith(2, [vdpaPort(0)]))).state, 'running');
  await assert.rejects(d.powerOn(uuidOf(1)), isDriverError(/busy/));
  assert.equal((await d.status(uuidOf(1)))!.state, 'shutoff');
});

test('an undefinable spec is refused with BadRequest before anything changes', { timeout: 300_000 }, async () => {
  const d = driver();
  const spec = specWith(1, [{ portId: 'p', macAddress: 'fa:16:3e:00:00:01', kind: 'vdpa' }]);
  await assert.rejects(d.spawn(spec), BadRequest);
  assert.equal(d.size, 0);
});

test('failSpawnWith injects a spawn failure', { timeout: 300_000 }, async () => {
  const d = new SimulatedDriver({
    hostName: 'compute1',
    failSpawnWith: (spec) => (spec.name === 'instance-2' ? 'internal error: qemu unexpectedly closed the monitor' : null),
  });
  assert.equal((await d.spawn(specWith(1, []))).state, 'running');
  await assert.rejects(d.spawn(specWith(2, [])), isDriverError(/qemu unexpectedly closed/));
  assert.equal(await d.status(uuidOf(2)), null);
});

test('suspend unplugs the vDPA NICs, resume plugs them back', { timeout: 300_000 }, async () => {
  const d = driver(['/dev/vhost-vdpa-0', '/dev/vhost-vdpa-1']);
  const spec = specWith(1, [vdpaPort(0), { portId: 'e', macAddress: 'fa:16:3e:00:00:ee', kind: 'ethernet' }, vdpaPort(1)]);
  await d.spawn(spec);
  const before = d.vdpaEvents(spec.uuid).length;

  const suspended = await d.suspend(spec.uuid);
  assert.equal(suspended.state, 'suspended');
  assert.deepEqual(d.pluggedVdpa(spec.uuid), []);
  assert.deepEqual(d.vdpaEvents(spec.uuid).slice(before), [
    { op: 'unplug', chardev: '/dev/vhost-vdpa-0' },
    { op: 'unplug', chardev: '/dev/vhost-vdpa-1' },
  ]);
  assert.equal(d.holderOf('/dev/vhost-vdpa-0'), undefined);
  // The definition still has the NICs: only the live guest lost them.
  assert.deepEqual(vdpaChardevsOf(suspended.domainXml), ['/dev/vhost-vdpa-0', '/dev/vhost-vdpa-1']);
  assert.deepEqual(await d.suspend(spec.uuid), suspended, 'suspend is idempotent');

  const resumed = await d.resume(spec.uuid, spec);
  assert.equal(resumed.state, 'running');
  assert.deepEqual(d.pluggedVdpa(spec.uuid), ['/dev/vhost-vdpa-0', '/dev/vhost-vdpa-1']);
  assert.deepEqual(d.vdpaEvents(spec.uuid).slice(before + 2), [
    { op: 'plug', chardev: '/dev/vhost-vdpa-0' },
    { op: 'plug', chardev: '/dev/vhost-vdpa-1' },
  ]);
  assert.deepEqual(await d.resume(spec.uuid, spec), resumed, 'resume is idempotent');
  assert.equal(d.vdpaEvents(spec.uuid).length, before + 4);
});

test('resume fails, changing nothing, when a chardev disappeared while suspended', { timeout: 300_000 }, async () => {
  const present = new Set(['/dev/vhost-vdpa-0']);
  const d = new SimulatedDriver({ hostName: 'compute1', availableChardevs: () => present });
  const spec = specWith(1, [vdpaPort(0)]);
  await d.spawn(spec);
  await d.suspend(spec.uuid);
  present.delete('/dev/vhost-vdpa-0');
  await assert.rejects(d.resume(spec.uuid, spec), isDriverError(/No such file or directory/));
  assert.equal((await d.status(spec.uuid))!.state, 'suspended');
  present.add('/dev/vhost-vdpa-0');
  assert.equal((await d.resume(spec.uuid, spec)).state, 'running');
});

test('suspend or resume of a guest that is off or absent fails like libvirt', { timeout: 300_000 }, async () => {
  const d = driver();
  const spec = specWith(1, [vdpaPort(0)]);
  await assert.rejects(d.suspend(spec.uuid), isDriverError(/^Domain not found/, LibvirtErrorCode.NO_DOMAIN));
  await d.spawn(spec);
  await d.powerOff(spec.uuid);
  await assert.rejects(d.suspend(spec.uuid), isDriverError(/domain is not running/, LibvirtErrorCode.OPERATION_INVALID));
  await assert.rejects(d.resume(spec.uuid, spec), isDriverError(/domain is not running/));
});

test('powerOff closes the vDPA devices, powerOn reopens them; both are idempotent', { timeout: 300_000 }, async () => {
  const d = driver(['/dev/vhost-vdpa-0']);
  const spec = specWith(1, [vdpaPort(0)]);
  await d.spawn(spec);
  assert.equal((await d.powerOff(spec.uuid)).state, 'shutoff');
  assert.equal((await d.powerOff(spec.uuid)).state, 'shutoff');
  assert.deepEqual(d.pluggedVdpa(spec.uuid), []);
  assert.equal((await d.powerOn(spec.uuid)).state, 'running');
  assert.equal((await d.powerOn(spec.uuid)).state, 'running');
  assert.deepEqual(d.pluggedVdpa(spec.uuid), ['/dev/vhost-vdpa-0']);
});

test('attach and detach update the definition and the plugged devices, idempotently', { timeout: 300_000 }, async () => {
  const d = driver(['/dev/vhost-vdpa-0', '/dev/vhost-vdpa-1']);
  const spec = specWith(1, [vdpaPort(0)]);
  await d.spawn(spec);

  const attached = await d.attachInterface(spec.uuid, vdpaPort(1));
  assert.equal(attached.state, 'running');
  assert.equal(validateDomain(attached.domainXml).status, 0);
  assert.deepEqual(vdpaChardevsOf(attached.domainXml), ['/dev/vhost-vdpa-0', '/dev/vhost-vdpa-1']);
  assert.deepEqual(d.pluggedVdpa(spec.uuid), ['/dev/vhost-vdpa-0', '/dev/vhost-vdpa-1']);
  const events = d.vdpaEvents(spec.uuid).length;
  assert.deepEqual(await d.attachInterface(spec.uuid, vdpaPort(1)), attached);
  assert.equal(d.vdpaEvents(spec.uuid).length, events);

  const detached = await d.detachInterface(spec.uuid, vdpaPort(0));
  assert.deepEqual(vdpaChardevsOf(detached.domainXml), ['/dev/vhost-vdpa-1']);
  assert.deepEqual(d.pluggedVdpa(spec.uuid), ['/dev/vhost-vdpa-1']);
  assert.equal(d.holderOf('/dev/vhost-vdpa-0'), undefined);
  assert.deepEqual(await d.detachInterface(spec.uuid, vdpaPort(0)), detached);
  assert.deepEqual(await d.detachInterface(uuidOf(77), vdpaPort(0)), { uuid: uuidOf(77), state: 'absent', domainXml: '' });

  // A plain NIC goes into the definition but opens no device.
  const eth = await d.attachInterface(spec.uuid, { portId: 'e', macAddress: 'fa:16:3e:00:00:ee', kind: 'ethernet', mtu: 1450 });
  assert.match(eth.domainXml, /<interface type="ethernet">/);
  assert.deepEqual(d.pluggedVdpa(spec.uuid), ['/dev/vhost-vdpa-1']);
});

test('hot-plug of a missing or busy chardev fails and leaves the guest as it was', { timeout: 300_000 }, async () => {
  const d = driver(['/dev/vhost-vdpa-0', '/dev/vhost-vdpa-1']);
  await d.spawn(specWith(1, [vdpaPort(0)]));
  await d.spawn(specWith(2, [vdpaPort(1)]));
  const before = await d.status(uuidOf(1));
  await assert.rejects(d.attachInterface(uuidOf(1), vdpaPort(5)), isDriverError(/vhost-vdpa-5.*No such file/));
  await assert.rejects(d.attachInterface(uuidOf(1), vdpaPort(1)), isDriverError(/vhost-vdpa-1.*busy/));
  await assert.rejects(d.attachInterface(uuidOf(1), { ...vdpaPort(1), vdpaChardev: undefined }), BadRequest);
  await assert.rejects(d.attachInterface(uuidOf(9), vdpaPort(1)), isDriverError(/Domain not found/));
  assert.deepEqual(await d.status(uuidOf(1)), before);
  // Config-only attach on a guest that is off: nothing is opened, so a busy device is fine until start.
  await d.powerOff(uuidOf(1));
  const config = await d.attachInterface(uuidOf(1), vdpaPort(1));
  assert.deepEqual(vdpaChardevsOf(config.domainXml), ['/dev/vhost-vdpa-0', '/dev/vhost-vdpa-1']);
  await assert.rejects(d.powerOn(uuidOf(1)), isDriverError(/vhost-vdpa-1.*busy/));
});

test('destroy removes the guest and frees its devices; destroy of an absent guest succeeds', { timeout: 300_000 }, async () => {
  const d = driver(['/dev/vhost-vdpa-0']);
  const spec = specWith(1, [vdpaPort(0)]);
  await d.spawn(spec);
  await d.destroy(spec.uuid);
  assert.equal(await d.status(spec.uuid), null);
  assert.deepEqual(await d.list(), []);
  assert.equal(d.holderOf('/dev/vhost-vdpa-0'), undefined);
  await d.destroy(spec.uuid);
  await d.destroy(uuidOf(123));
  assert.equal((await d.spawn(specWith(2, [vdpaPort(0)]))).state, 'running');
});

test('spawn of a defined guest with a new spec redefines and restarts it on the new devices', { timeout: 300_000 }, async () => {
  const d = driver(['/dev/vhost-vdpa-0', '/dev/vhost-vdpa-1']);
  await d.spawn(specWith(1, [vdpaPort(0)]));
  const moved = await d.spawn(specWith(1, [vdpaPort(1)]));
  assert.deepEqual(vdpaChardevsOf(moved.domainXml), ['/dev/vhost-vdpa-1']);
  assert.deepEqual(d.pluggedVdpa(uuidOf(1)), ['/dev/vhost-vdpa-1']);
  assert.equal(d.holderOf('/dev/vhost-vdpa-0'), undefined);
  assert.equal(d.size, 1);
});

test('hot-plug live migration: the source unplugs and forgets, the destination plugs its own devices', { timeout: 300_000 }, async () => {
  const source = driver(['/dev/vhost-vdpa-0']);
  const destination = driver(['/dev/vhost-vdpa-2']);
  const spec = specWith(1, [vdpaPort(0)]);
  await source.spawn(spec);
  const leaving = await source.migrateOut(spec.uuid);
  assert.equal(await source.status(spec.uuid), null);
  assert.equal(source.holderOf('/dev/vhost-vdpa-0'), undefined);
  const arrived = await destination.migrateIn({ ...leaving, interfaces: [{ ...leaving.interfaces[0]!, vdpaChardev: '/dev/vhost-vdpa-2' }] });
  assert.equal(arrived.state, 'running');
  assert.deepEqual(destination.pluggedVdpa(spec.uuid), ['/dev/vhost-vdpa-2']);
});

test('virtType test gives test-driver XML', { timeout: 300_000 }, async () => {
  const d = new SimulatedDriver({ hostName: 'compute1', virtType: 'test' });
  const status = await d.spawn(specWith(1, [vdpaPort(0)]));
  assert.match(status.domainXml, /^<domain type="test">/);
  assert.equal(validateDomain(status.domainXml).status, 0);
});

test('define brings back a lost guest stopped, opening nothing; a defined guest keeps its state; power on then plugs its NICs', { timeout: 300_000 }, async () => {
  const d = driver(['/dev/vhost-vdpa-0']);
  const spec = specWith(7, [vdpaPort(0)]);
  const defined = await d.define(spec);
  assert.equal(defined.state, 'shutoff');
  assert.equal(validateDomain(defined.domainXml).status, 0);
  assert.deepEqual(d.pluggedVdpa(spec.uuid), [], 'a stopped guest holds no vhost-vdpa fd');
  assert.equal(d.holderOf('/dev/vhost-vdpa-0'), undefined);

  const running = await d.powerOn(spec.uuid);
  assert.equal(running.state, 'running');
  assert.deepEqual(d.pluggedVdpa(spec.uuid), ['/dev/vhost-vdpa-0']);
  assert.equal((await d.define(spec)).state, 'running', 'defining a known guest changes nothing');
});
