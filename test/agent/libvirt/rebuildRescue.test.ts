/**
 * LibvirtDriver's rebuild, rescue, unrescue and snapshot against libvirt's
 * own test driver, and the agent's convergence choosing them from the spec.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LibvirtDriver } from '../../../src/agent/drivers/libvirt/libvirtDriver.js';
import { converge } from '../../../src/agent/guestConvergence.js';
import { isRescueDomainXml, vdpaChardevsOf } from '../../../src/domain/guest/domainXml.js';
import { validateDomain } from '../../domain/guest/fixtures.js';
import { TEST_URI, guestSpec, requireAddon, vdpaNic } from './helpers.js';

/** The definition without the live domain id (a new one each start: that the guest was started again shows there). */
const definition = (xml: string) => xml.replace(/ id='\d+'/, '');

describe('LibvirtDriver rebuild, rescue and snapshot on the test driver', { timeout: 30_000 }, () => {
  let driver: LibvirtDriver;
  before(() => {
    requireAddon();
    driver = new LibvirtDriver({ uri: TEST_URI });
  });
  after(async () => { await driver?.close(); });

  test('rescue boots the rescue disk with the same vDPA NIC; unrescue gives the original definition back', { timeout: 30_000 }, async () => {
    const spec = guestSpec([vdpaNic('/dev/vhost-vdpa-0', 'fa:16:3e:00:00:01')], 'rescue');
    const original = await converge(driver, 'h', spec, 'running');
    assert.equal(original!.state, 'running');
    assert.equal(isRescueDomainXml(original!.domainXml), false);

    const rescued = await converge(driver, 'h', { ...spec, rescue: { imageRef: 'rescue-image' } }, 'running');
    assert.equal(rescued!.state, 'running');
    assert.ok(isRescueDomainXml(rescued!.domainXml));
    assert.deepEqual(vdpaChardevsOf(rescued!.domainXml), ['/dev/vhost-vdpa-0']);
    assert.equal(validateDomain(rescued!.domainXml).status, 0);
    // Converging again changes nothing (the guest is already the rescue guest).
    assert.equal((await converge(driver, 'h', { ...spec, rescue: { imageRef: 'rescue-image' } }, 'running'))!.domainXml, rescued!.domainXml, 'not restarted');

    const back = await converge(driver, 'h', spec, 'running');
    assert.equal(back!.state, 'running');
    assert.equal(isRescueDomainXml(back!.domainXml), false);
    assert.equal(definition(back!.domainXml), definition(original!.domainXml));
    assert.notEqual(back!.domainXml, original!.domainXml, 'a new QEMU process');
    await driver.destroy(spec.uuid);
  });

  test('rebuild defines the guest again and starts it, a stopped one then shut off; the definition is the one it had', { timeout: 30_000 }, async () => {
    const spec = guestSpec([vdpaNic('/dev/vhost-vdpa-1', 'fa:16:3e:00:00:02')], 'rebuild');
    const first = await converge(driver, 'h', spec, 'running');
    const rebuilt = await converge(driver, 'h', { ...spec, imageRef: 'new-image', rebuild: { id: 'r1' } }, 'running');
    assert.equal(rebuilt!.state, 'running');
    assert.equal(definition(rebuilt!.domainXml), definition(first!.domainXml));
    assert.notEqual(rebuilt!.domainXml, first!.domainXml, 'started again');
    const stopped = await converge(driver, 'h', { ...spec, imageRef: 'new-image', rebuild: { id: 'r2' } }, 'shutoff');
    assert.equal(stopped!.state, 'shutoff');
    await driver.destroy(spec.uuid);
  });

  test('a snapshot leaves the guest running (no disk file on the test driver: nothing to copy)', { timeout: 30_000 }, async () => {
    const spec = guestSpec([vdpaNic('/dev/vhost-vdpa-2', 'fa:16:3e:00:00:03')], 'snap');
    await converge(driver, 'h', spec, 'running');
    const after = await converge(driver, 'h', { ...spec, snapshot: { imageId: 'img-1' } }, 'running');
    assert.equal(after!.state, 'running');
    assert.deepEqual(vdpaChardevsOf(after!.domainXml), ['/dev/vhost-vdpa-2']);
    await driver.destroy(spec.uuid);
  });
});
