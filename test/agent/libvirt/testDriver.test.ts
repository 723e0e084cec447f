/**
 * Our addon and LibvirtDriver against libvirt's own test driver, loaded with
 * the project's host description (one PF with four VFs). No daemon: the state
 * lives in the driver's connection for the whole file.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  DomainState, ErrorCode, Flags, isLibvirtError, openLibvirt, type LibvirtConnection,
} from '../../../src/agent/drivers/libvirt/connection.js';
import { LibvirtDriver, libvirtHostVersions, listNodeDeviceXml } from '../../../src/agent/drivers/libvirt/libvirtDriver.js';
import { VirtDriverError } from '../../../src/agent/drivers/driver.js';
import { guestDomainXml } from '../../../src/domain/guest/domainXml.js';
import { TEST_URI, ethernetNic, guestSpec, requireAddon, vdpaNic } from './helpers.js';

const LIMIT = { timeout: 30_000 };

describe('libvirt addon on the test driver (test:///…/vdpa-host.xml)', LIMIT, () => {
  let conn: LibvirtConnection;
  before(async () => {
    requireAddon();
    conn = await openLibvirt(TEST_URI);
  });
  after(async () => { await conn?.close(); });

  test('reports the host from the host file', { timeout: 300_000 }, async () => {
    const info = await conn.nodeInfo();
    assert.deepEqual(
      { cpus: info.cpus, mhz: info.mhz, memoryKiB: info.memoryKiB, sockets: info.sockets, cores: info.cores, threads: info.threads },
      { cpus: 16, mhz: 2400, memoryKiB: 33554432, sockets: 1, cores: 8, threads: 2 },
    );
    const versions = await libvirtHostVersions(conn);
    assert.match(versions.libvirt, /^\d+\.\d+\.\d+$/);
    assert.ok(Number(versions.libvirt.split('.')[0]) >= 9, `libvirt ${versions.libvirt}`);
    assert.equal(typeof (await conn.getHostname()), 'string');
  });

  test('lists the PF/VF topology through the API (virsh nodedev-list cannot here)', { timeout: 300_000 }, async () => {
    const all = await conn.listAllNodeDevices(0);
    assert.deepEqual([...all].sort(), [
      'computer', 'net_enp6s0f0np0_b8_ce_f6_00_00_01',
      'pci_0000_06_00_0', 'pci_0000_06_00_1', 'pci_0000_06_00_2', 'pci_0000_06_00_3', 'pci_0000_06_00_4',
    ]);
    const pf = await conn.nodeDeviceXML('pci_0000_06_00_0');
    assert.match(pf, /<capability type='virt_functions' maxCount='8'>/);
    assert.equal(pf.match(/<address domain='0x0000' bus='0x06' slot='0x00' function='0x[1-4]'\/>/g)?.length, 4);
    const vf = await conn.nodeDeviceXML('pci_0000_06_00_2');
    assert.match(vf, /<capability type='phys_function'>\s*<address domain='0x0000' bus='0x06' slot='0x00' function='0x0'\/>/);

    const docs = await listNodeDeviceXml(conn);
    assert.equal(docs.length, 6, 'PF, 4 VFs and the PF netdev; not the system device');
    assert.ok(docs.every((d) => d.trimStart().startsWith('<device>')));
    assert.ok(docs.some((d) => /<interface>enp6s0f0np0<\/interface>/.test(d)));
  });

  test("rejects with libvirt's own error: code, domain, level and message", { timeout: 300_000 }, async () => {
    await assert.rejects(conn.nodeDeviceXML('vdpa_vdpa0'), (e: unknown) => {
      assert.ok(isLibvirtError(e));
      assert.equal(e.code, ErrorCode.NO_NODE_DEVICE);
      assert.ok(e.domain > 0 && e.level > 0);
      return true;
    });
    await assert.rejects(conn.create('no-such-guest'), (e: unknown) => {
      assert.ok(isLibvirtError(e));
      assert.equal(e.code, ErrorCode.NO_DOMAIN);
      assert.equal(e.message, 'Domain not found');
      return true;
    });
    const noSource = "<domain type='test'><name>bad</name><memory unit='MiB'>64</memory><os><type>hvm</type></os>"
      + "<devices><interface type='vdpa'><mac address='fa:16:3e:11:22:33'/></interface></devices></domain>";
    await assert.rejects(conn.defineXML(noSource, 0), { code: 27, message: "XML error: interface type='vdpa' requires a 'source' element" });
    await assert.rejects(conn.defineXML(noSource, Flags.DEFINE_VALIDATE), /XML document failed to validate against schema/);
  });

  test('runs a vDPA guest through define, start, pause/unpause, managed save, restore, destroy, undefine', { timeout: 300_000 }, async () => {
    const spec = guestSpec([vdpaNic('/dev/vhost-vdpa-0', 'fa:16:3e:11:22:33')], 'conn');
    const defined = await conn.defineXML(guestDomainXml(spec, { virtType: 'test' }), Flags.DEFINE_VALIDATE);
    assert.deepEqual(defined, { name: spec.name, uuid: spec.uuid });
    await conn.create(spec.name);
    assert.equal((await conn.getState(spec.name)).state, DomainState.RUNNING);
    assert.match(await conn.getXMLDesc(spec.name, 0), /<source dev='\/dev\/vhost-vdpa-0'\/>/);

    await conn.suspend(spec.name);
    assert.equal((await conn.getState(spec.name)).state, DomainState.PAUSED);
    await conn.resume(spec.name);
    assert.equal((await conn.getState(spec.name)).state, DomainState.RUNNING);

    await conn.managedSave(spec.name);
    assert.deepEqual(await conn.getState(spec.name), { state: DomainState.SHUTOFF, reason: 5 /* saved */ });
    assert.equal(await conn.hasManagedSave(spec.name), true);
    assert.ok((await conn.listAllDomains(Flags.LIST_DOMAINS_MANAGEDSAVE)).some((d) => d.name === spec.name));
    await assert.rejects(conn.undefine(spec.name, 0), /Refusing to undefine while domain managed save image exists/);
    await conn.create(spec.name);
    assert.equal((await conn.getState(spec.name)).state, DomainState.RUNNING);
    assert.equal(await conn.hasManagedSave(spec.name), false);

    await conn.destroy(spec.name);
    await conn.undefine(spec.name, Flags.UNDEFINE_MANAGED_SAVE);
    assert.ok(!(await conn.listAllDomains(0)).some((d) => d.name === spec.name));
  });

  test('the test driver has no hot-plug and no migration: libvirt says so', { timeout: 300_000 }, async () => {
    const spec = guestSpec([], 'nohotplug');
    await conn.defineXML(guestDomainXml(spec, { virtType: 'test' }), 0);
    await conn.create(spec.name);
    try {
      const nic = "<interface type='vdpa'><mac address='fa:16:3e:44:55:66'/><source dev='/dev/vhost-vdpa-1'/><model type='virtio'/></interface>";
      await assert.rejects(conn.attachDevice(spec.name, nic, Flags.AFFECT_LIVE), {
        code: ErrorCode.NO_SUPPORT,
        message: 'this function is not supported by the connection driver: virDomainAttachDeviceFlags',
      });
      await assert.rejects(conn.migrateToURI3(spec.name, 'test:///default', {}, Flags.MIGRATE_LIVE | Flags.MIGRATE_PEER2PEER), (e: unknown) => {
        assert.ok(isLibvirtError(e), String(e));
        assert.match(e.message, /migration is not supported|not supported by the connection driver/);
        return true;
      });
    } finally {
      await conn.destroy(spec.name);
      await conn.undefine(spec.name, 0);
    }
  });
});

describe('LibvirtDriver on the test driver', LIMIT, () => {
  let driver: LibvirtDriver;
  before(() => {
    requireAddon();
    driver = new LibvirtDriver({ uri: TEST_URI });
  });
  after(async () => { await driver?.close(); });

  test("picks the 'test' domain type for a test:// URI", { timeout: 300_000 }, () => {
    assert.equal(driver.virtType, 'test');
    assert.equal(new LibvirtDriver({ uri: 'test:///default', virtType: 'qemu' }).virtType, 'qemu');
  });

  test('spawns a vDPA guest idempotently, powers it off and on, destroys it idempotently', { timeout: 300_000 }, async () => {
    const spec = guestSpec([vdpaNic('/dev/vhost-vdpa-0', 'fa:16:3e:11:22:33')], 'spawn');
    const first = await driver.spawn(spec);
    assert.equal(first.state, 'running');
    assert.equal(first.uuid, spec.uuid);
    assert.match(first.domainXml, /<interface type='vdpa'>[\s\S]*<source dev='\/dev\/vhost-vdpa-0'\/>/);
    assert.equal((await driver.spawn(spec)).state, 'running', 'spawning a running guest again is fine');
    assert.ok((await driver.list()).some((g) => g.uuid === spec.uuid && g.state === 'running'));

    assert.equal((await driver.powerOff(spec.uuid)).state, 'shutoff');
    assert.equal((await driver.powerOff(spec.uuid)).state, 'shutoff');
    assert.equal((await driver.powerOn(spec.uuid)).state, 'running');

    const c = await driver.connection();
    await c.suspend(spec.name);
    assert.equal((await driver.status(spec.uuid))?.state, 'paused');
    assert.equal((await driver.powerOn(spec.uuid)).state, 'running', 'power on unpauses');

    await driver.destroy(spec.uuid);
    assert.equal(await driver.status(spec.uuid), null);
    await driver.destroy(spec.uuid);
  });

  test('define brings a lost guest back stopped (nothing started), leaves a known one as it is, and power on starts it', { timeout: 300_000 }, async () => {
    const spec = guestSpec([vdpaNic('/dev/vhost-vdpa-1', 'fa:16:3e:11:22:44')], 'define');
    const defined = await driver.define(spec);
    assert.equal(defined.state, 'shutoff');
    assert.equal(defined.uuid, spec.uuid);
    assert.match(defined.domainXml, /<source dev='\/dev\/vhost-vdpa-1'\/>/);
    assert.equal((await driver.define(spec)).state, 'shutoff', 'defining a defined guest changes nothing');
    assert.equal((await driver.powerOn(spec.uuid)).state, 'running');
    assert.equal((await driver.define(spec)).state, 'running', 'a running guest keeps running');
    await driver.destroy(spec.uuid);
    assert.equal(await driver.status(spec.uuid), null);
  });

  test('suspends and resumes a guest without vDPA NICs through managed save', { timeout: 300_000 }, async () => {
    const spec = guestSpec([], 'suspend');
    await driver.spawn(spec);
    const suspended = await driver.suspend(spec.uuid);
    assert.equal(suspended.state, 'suspended');
    assert.equal((await driver.suspend(spec.uuid)).state, 'suspended', 'suspending again is fine');
    assert.equal(await (await driver.connection()).hasManagedSave(spec.name), true);
    assert.equal((await driver.resume(spec.uuid, spec)).state, 'running');
    assert.equal(await (await driver.connection()).hasManagedSave(spec.name), false);
    // destroy also removes a managed save image
    await driver.suspend(spec.uuid);
    await driver.destroy(spec.uuid);
    assert.equal(await driver.status(spec.uuid), null);
  });

  test('does not pretend: unplugging vDPA for suspend, and hot-plug, fail with libvirt\'s message', { timeout: 300_000 }, async () => {
    const spec = guestSpec([vdpaNic('/dev/vhost-vdpa-1', 'fa:16:3e:44:55:66')], 'nopretend');
    await driver.spawn(spec);
    try {
      await assert.rejects(driver.suspend(spec.uuid), (e: unknown) => {
        assert.ok(e instanceof VirtDriverError);
        assert.equal(e.message, 'this function is not supported by the connection driver: virDomainDetachDeviceFlags');
        assert.equal(e.code, ErrorCode.NO_SUPPORT);
        return true;
      });
      assert.equal((await driver.status(spec.uuid))?.state, 'running', 'a failed suspend leaves the guest running');
      await assert.rejects(driver.attachInterface(spec.uuid, ethernetNic('fa:16:3e:77:88:99')), {
        name: 'VirtDriverError',
        message: 'this function is not supported by the connection driver: virDomainAttachDeviceFlags',
      });
      await assert.rejects(driver.detachInterface(spec.uuid, spec.interfaces[0]!), {
        name: 'VirtDriverError',
        message: 'this function is not supported by the connection driver: virDomainDetachDeviceFlags',
      });
      // Nothing to do is not a call: detaching a NIC the guest does not have succeeds.
      assert.equal((await driver.detachInterface(spec.uuid, ethernetNic('fa:16:3e:77:88:99'))).state, 'running');
    } finally {
      await driver.destroy(spec.uuid);
    }
  });

  test('an unknown guest is absent for status and destroy, and an error for power and suspend', { timeout: 300_000 }, async () => {
    const uuid = guestSpec([]).uuid;
    assert.equal(await driver.status(uuid), null);
    await driver.destroy(uuid);
    await assert.rejects(driver.powerOn(uuid), { name: 'VirtDriverError', code: ErrorCode.NO_DOMAIN });
    await assert.rejects(driver.suspend(uuid), { name: 'VirtDriverError', code: ErrorCode.NO_DOMAIN });
  });

  test('a spec libvirt refuses is refused at define with its message', { timeout: 300_000 }, async () => {
    const spec = guestSpec([], 'dup');
    await driver.spawn(spec);
    try {
      const clash = { ...guestSpec([], 'dup2'), name: spec.name };
      await assert.rejects(driver.spawn(clash), (e: unknown) => {
        assert.ok(e instanceof VirtDriverError);
        assert.match(e.message, new RegExp(`domain '${spec.name}' (is )?already (exists|defined) with uuid ${spec.uuid}`));
        return true;
      });
    } finally {
      await driver.destroy(spec.uuid);
    }
  });
});
