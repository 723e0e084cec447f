/**
 * LibvirtDriver against a real libvirtd and QEMU (qemu:///system, provided by
 * scripts/ensure-libvirtd.sh). Guests are TCG ('qemu' type), 64 MiB, no disk:
 * they boot to "no bootable device", which is all libvirt needs. There is no
 * vDPA here, so a vDPA guest defines but cannot start; the test checks that
 * libvirt's own error reaches the caller.
 */
import assert from 'node:assert/strict';
import { lockSystemLibvirt } from '../../helpers/systemLibvirtLock.js';
import { after, before, describe, test } from 'node:test';
import { DomainState, ErrorCode, Flags, openLibvirt, type LibvirtConnection } from '../../../src/agent/drivers/libvirt/connection.js';
import { LibvirtDriver, libvirtHostVersions, listNodeDeviceXml } from '../../../src/agent/drivers/libvirt/libvirtDriver.js';
import { VirtDriverError } from '../../../src/agent/drivers/driver.js';
import { interfacesOf } from '../../../src/agent/drivers/libvirt/domainInterfaces.js';
import { ethernetNic, guestSpec, requireAddon, vdpaNic } from './helpers.js';

const URI = 'qemu:///system';

describe('LibvirtDriver on a real libvirtd (qemu:///system, TCG guests)', { timeout: 1_500_000 }, () => {
  let unlockSystemLibvirt: (() => Promise<void>) | undefined;
  let driver: LibvirtDriver;
  let conn: LibvirtConnection;
  const created: string[] = [];

  before(async () => {
    unlockSystemLibvirt = await lockSystemLibvirt();
    requireAddon();
    try {
      conn = await openLibvirt(URI);
    } catch (e) {
      throw new Error(`libvirtd does not answer on ${URI} (${(e as Error).message}): run scripts/ensure-libvirtd.sh as root`);
    }
    driver = new LibvirtDriver({ uri: URI, virtType: 'qemu', includeDisk: false });
  });

  after(async () => {
    for (const uuid of created) await driver?.destroy(uuid).catch(() => undefined);
    await driver?.close();
    await conn?.close();
    await unlockSystemLibvirt?.();
  });

  test('reports libvirt and QEMU versions and node devices through the API', { timeout: 120_000 }, async () => {
    const versions = await libvirtHostVersions(conn);
    assert.match(versions.libvirt, /^\d+\.\d+\.\d+$/);
    assert.match(versions.qemu, /^\d+\.\d+\.\d+$/);
    assert.ok(Number(versions.qemu.split('.')[0]) >= 5, `QEMU ${versions.qemu}: vhost-vdpa needs 5.1 or later`);
    const docs = await listNodeDeviceXml(conn);
    assert.ok(docs.every((d) => d.trimStart().startsWith('<device>')));
    // No vDPA on this kernel: the udev backend answers the vdpa filter with nothing.
    assert.deepEqual(await conn.listAllNodeDevices(Flags.NODEDEV_CAP_VDPA), []);
  });

  test('takes a TCG guest through spawn, suspend (managed save), resume, NIC hot-plug, power off/on and delete', { timeout: 90_000 }, async () => {
    const spec = guestSpec([], 'tcg');
    created.push(spec.uuid);
    const nic = ethernetNic('fa:16:3e:00:10:01');

    const spawned = await driver.spawn(spec);
    assert.equal(spawned.state, 'running');
    assert.match(spawned.domainXml, /<domain type='qemu' id='\d+'>/);
    assert.equal((await driver.spawn(spec)).state, 'running', 'spawning a running guest again is fine');

    const suspended = await driver.suspend(spec.uuid);
    assert.equal(suspended.state, 'suspended');
    assert.equal(await conn.hasManagedSave(spec.name), true);
    const resumed = await driver.resume(spec.uuid, spec);
    assert.equal(resumed.state, 'running');
    assert.deepEqual(await conn.getState(spec.name), { state: DomainState.RUNNING, reason: 3 /* restored */ });

    const attached = await driver.attachInterface(spec.uuid, nic);
    const live = interfacesOf(attached.domainXml).find((i) => i.mac === nic.macAddress);
    assert.equal(live?.type, 'ethernet', 'the NIC is plugged into the running guest');
    assert.ok(interfacesOf(await conn.getXMLDesc(spec.name, Flags.XML_INACTIVE)).some((i) => i.mac === nic.macAddress), 'and into its definition');
    assert.equal(interfacesOf((await driver.attachInterface(spec.uuid, nic)).domainXml).filter((i) => i.mac === nic.macAddress).length, 1,
      'attaching again plugs nothing more');

    // Live unplug needs the guest OS to let go of the device; this guest has
    // none, so QEMU's unplug stays pending and libvirt returns after its wait.
    // The definition loses the NIC at once.
    // It is also the longest libvirt call here: the event loop must keep turning meanwhile.
    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, 50);
    const started = Date.now();
    try {
      await driver.detachInterface(spec.uuid, nic);
    } finally {
      clearInterval(timer);
    }
    const waited = Date.now() - started;
    assert.ok(ticks >= Math.floor(waited / 50 / 2), `${ticks} timer ticks in ${waited} ms: the libvirt call blocked the event loop`);
    assert.ok(!interfacesOf(await conn.getXMLDesc(spec.name, Flags.XML_INACTIVE)).some((i) => i.mac === nic.macAddress));

    assert.equal((await driver.powerOff(spec.uuid)).state, 'shutoff');
    assert.equal((await driver.powerOn(spec.uuid)).state, 'running');
    assert.ok(!interfacesOf((await driver.status(spec.uuid))!.domainXml).some((i) => i.mac === nic.macAddress),
      'after a cold boot the guest has only what its definition has');

    await driver.destroy(spec.uuid);
    assert.equal(await driver.status(spec.uuid), null);
    assert.ok(!(await conn.listAllDomains(0)).some((d) => d.uuid === spec.uuid), 'the domain is undefined');
    await driver.destroy(spec.uuid);
  });

  test("a vDPA guest is defined for real and its start fails with libvirt's error naming the chardev", { timeout: 120_000 }, async () => {
    const spec = guestSpec([vdpaNic('/dev/vhost-vdpa-3', 'fa:16:3e:00:10:03')], 'vdpa');
    created.push(spec.uuid);
    await assert.rejects(driver.spawn(spec), (e: unknown) => {
      assert.ok(e instanceof VirtDriverError, String(e));
      assert.ok(e.message.includes("'/dev/vhost-vdpa-3'"), e.message);
      assert.equal(e.message, "Unable to open '/dev/vhost-vdpa-3' for vdpa device: No such file or directory");
      return true;
    });
    const status = await driver.status(spec.uuid);
    assert.equal(status?.state, 'shutoff', 'defined, not running');
    assert.deepEqual(interfacesOf(status!.domainXml).map((i) => [i.type, i.sourceDev]), [['vdpa', '/dev/vhost-vdpa-3']]);
    await driver.destroy(spec.uuid);
    assert.equal(await driver.status(spec.uuid), null);
  });

  test('hot-plugging a vDPA NIC that does not exist fails live with the same error; nothing is left half-plugged', { timeout: 120_000 }, async () => {
    const spec = guestSpec([], 'vdpaplug');
    created.push(spec.uuid);
    await driver.spawn(spec);
    const nic = vdpaNic('/dev/vhost-vdpa-4', 'fa:16:3e:00:10:04');
    await assert.rejects(driver.attachInterface(spec.uuid, nic), {
      name: 'VirtDriverError',
      message: "Unable to open '/dev/vhost-vdpa-4' for vdpa device: No such file or directory",
    });
    assert.ok(!interfacesOf((await driver.status(spec.uuid))!.domainXml).some((i) => i.mac === nic.macAddress));
    assert.ok(!interfacesOf(await conn.getXMLDesc(spec.name, Flags.XML_INACTIVE)).some((i) => i.mac === nic.macAddress),
      'a failed live plug leaves the definition alone too');
    await driver.destroy(spec.uuid);
  });

  test("the driver's live migration surfaces libvirt's refusal and leaves the guest running where it was", { timeout: 120_000 }, async () => {
    const spec = guestSpec([], 'drvmigrate');
    created.push(spec.uuid);
    await driver.spawn(spec);
    await assert.rejects(driver.migrate(spec.uuid, URI), (e: unknown) => {
      assert.equal((e as { name: string }).name, 'VirtDriverError');
      assert.match((e as Error).message, /Attempt to migrate guest to the same host/);
      return true;
    });
    assert.equal((await driver.status(spec.uuid))?.state, 'running');
    await driver.destroy(spec.uuid);
  });

  test("migration to the same host is refused by libvirt, with libvirt's error", { timeout: 120_000 }, async () => {
    const spec = guestSpec([], 'migrate');
    created.push(spec.uuid);
    await driver.spawn(spec);
    await assert.rejects(
      conn.migrateToURI3(spec.name, URI, {}, Flags.MIGRATE_LIVE | Flags.MIGRATE_PEER2PEER),
      (e: unknown) => {
        assert.equal((e as { name: string }).name, 'LibvirtError');
        assert.match((e as Error).message, /Attempt to migrate guest to the same host/);
        assert.equal((e as { code: number }).code, ErrorCode.INVALID_ARG);
        return true;
      },
    );
    await driver.destroy(spec.uuid);
  });
});
