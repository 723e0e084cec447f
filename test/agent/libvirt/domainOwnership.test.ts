/**
 * LibvirtDriver's ownership metadata on libvirt's test driver (no daemon):
 * what libvirt stores and gives back, how list() tells owned, unmarked and
 * foreign domains apart, and adopt() through virDomainSetMetadata.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DomainState, Flags, type LibvirtConnection } from '../../../src/agent/drivers/libvirt/connection.js';
import { LibvirtDriver } from '../../../src/agent/drivers/libvirt/libvirtDriver.js';
import { guestDomainXml } from '../../../src/domain/guest/domainXml.js';
import { OWNERSHIP_NAMESPACE, ownershipOfXml } from '../../../src/domain/guest/ownership.js';
import { assertValidDomainXml } from '../../helpers/domainXmlSchema.js';
import { TEST_URI, guestSpec, requireAddon, vdpaNic } from './helpers.js';

/** A domain's id attribute in its live XML: the same id means the same running instance (no restart). */
function domainId(xml: string): string | undefined {
  return /<domain [^>]*\bid='(\d+)'/.exec(xml)?.[1];
}

describe('ownership metadata through LibvirtDriver on the test driver', { timeout: 60_000 }, () => {
  let driver: LibvirtDriver;
  let c: LibvirtConnection;
  before(async () => {
    requireAddon();
    driver = new LibvirtDriver({ uri: TEST_URI, hostName: 'compute-1' });
    // The driver's own connection: the test driver's state lives in it.
    c = await driver.connection();
  });
  after(async () => { await driver?.close(); });

  test('a spawned guest carries this host\'s metadata, as libvirt stores it, live and defined; it validates', { timeout: 30_000 }, async () => {
    const spec = { ...guestSpec([vdpaNic('/dev/vhost-vdpa-0', 'fa:16:3e:22:00:01')], 'own'), flavorName: 'm1.small' };
    const before = Date.now();
    const status = await driver.spawn(spec);
    for (const xml of [status.domainXml, await c.getXMLDesc(spec.name, Flags.XML_INACTIVE)]) {
      assertValidDomainXml(xml);
      assert.match(xml, new RegExp(`<vdpa:instance xmlns:vdpa=['"]${OWNERSHIP_NAMESPACE}['"]>`));
      const o = ownershipOfXml(xml)!;
      assert.deepEqual({ ...o, createdAt: '' }, { uuid: spec.uuid, name: spec.displayName, flavorName: 'm1.small', host: 'compute-1', createdAt: '' });
      assert.ok(Date.parse(o.createdAt) >= before - 1000 && Date.parse(o.createdAt) <= Date.now(), o.createdAt);
    }
    const listed = (await driver.list()).find((g) => g.uuid === spec.uuid);
    assert.deepEqual({ name: listed?.name, ownership: listed?.ownership }, { name: spec.name, ownership: 'owned' });
    // A redefinition keeps the creation time (the definition is the one the guest had).
    const created = ownershipOfXml(status.domainXml)!.createdAt;
    await new Promise((r) => setTimeout(r, 5));
    const rebooted = await driver.reboot(spec, 'HARD');
    assert.equal(ownershipOfXml(rebooted.domainXml)!.createdAt, created);
    await driver.destroy(spec.uuid);
  });

  test('list() calls a domain without our metadata unmarked and another host\'s foreign', { timeout: 30_000 }, async () => {
    const plain = guestSpec([], 'plain');
    await c.defineXML(guestDomainXml(plain, { virtType: 'test' }), Flags.DEFINE_VALIDATE);
    const other = guestSpec([], 'other');
    await c.defineXML(guestDomainXml(other, { virtType: 'test', owner: { host: 'compute-2', createdAt: new Date() } }), Flags.DEFINE_VALIDATE);
    const listed = new Map((await driver.list()).map((g) => [g.uuid, g.ownership]));
    assert.equal(listed.get(plain.uuid), 'unmarked');
    assert.equal(listed.get(other.uuid), 'foreign');
    for (const s of [plain, other]) await c.undefine(s.name, 0);
  });

  test('adopt() marks a running unmarked guest live and defined without restarting it; once only; never another host\'s', { timeout: 30_000 }, async () => {
    const legacy = { ...guestSpec([], 'legacy'), flavorName: 'm1.tiny' };
    await c.defineXML(guestDomainXml(legacy, { virtType: 'test' }), Flags.DEFINE_VALIDATE);
    await c.create(legacy.name);
    const liveBefore = await c.getXMLDesc(legacy.name, 0);
    const definedBefore = await c.getXMLDesc(legacy.name, Flags.XML_INACTIVE);

    await driver.adopt(legacy);
    const live = await c.getXMLDesc(legacy.name, 0);
    const defined = await c.getXMLDesc(legacy.name, Flags.XML_INACTIVE);
    assert.equal((await c.getState(legacy.name)).state, DomainState.RUNNING);
    assert.equal(domainId(live), domainId(liveBefore), 'the same running domain');
    for (const xml of [live, defined]) {
      assertValidDomainXml(xml);
      assert.deepEqual({ ...ownershipOfXml(xml)!, createdAt: '' }, {
        uuid: legacy.uuid, name: legacy.displayName, flavorName: 'm1.tiny', host: 'compute-1', createdAt: '',
      });
    }
    // Nothing else of the definition changed.
    assert.equal(defined.replace(/\s*<metadata>[\s\S]*<\/metadata>/, ''), definedBefore);
    assert.equal((await driver.list()).find((g) => g.uuid === legacy.uuid)?.ownership, 'owned');
    await driver.adopt(legacy);
    assert.equal(await c.getXMLDesc(legacy.name, 0), live, 'adopting an adopted guest changes nothing');

    // A shut-off unmarked guest: its definition is marked.
    const off = guestSpec([], 'legacy-off');
    await c.defineXML(guestDomainXml(off, { virtType: 'test' }), Flags.DEFINE_VALIDATE);
    await driver.adopt(off);
    assert.equal(ownershipOfXml(await c.getXMLDesc(off.name, Flags.XML_INACTIVE))?.host, 'compute-1');
    assert.equal((await c.getState(off.name)).state, DomainState.SHUTOFF);

    const other = guestSpec([], 'adopt-other');
    const otherXml = guestDomainXml(other, { virtType: 'test', owner: { host: 'compute-2', createdAt: new Date() } });
    await c.defineXML(otherXml, Flags.DEFINE_VALIDATE);
    const otherBefore = await c.getXMLDesc(other.name, Flags.XML_INACTIVE);
    await driver.adopt(other);
    assert.equal(await c.getXMLDesc(other.name, Flags.XML_INACTIVE), otherBefore, 'another host\'s domain is not taken over');
    for (const s of [legacy, off]) await driver.destroy(s.uuid);
    await c.undefine(other.name, 0);
  });
});
