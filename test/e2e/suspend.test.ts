import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freeCount, startAllInOneProcess, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { bootWithClient, deleteServerByName, twoVdpaHosts } from '../helpers/e2eFixtures.js';
import { assertValidDomainXml } from '../helpers/domainXmlSchema.js';

/** Suspend and resume a vDPA server with the real openstack client (SDK: no microversion header on the action). */
describe('suspend and resume', () => {
  let aio: AllInOneProcess;
  before(async () => { aio = await startAllInOneProcess({ hosts: twoVdpaHosts() }); });
  after(async () => { await aio?.stop(); });

  test('suspend keeps the claims and the vDPA interface; resume brings the server back', { timeout: 300_000 }, async () => {
    const { port, server, host } = await bootWithClient(aio, 'sus-vm', { portName: 'sus-port' });
    const device = (await aio.pci(host)).find((d: any) => d.status === 'allocated');

    const suspend = await aio.openstack(['server', 'suspend', 'sus-vm']);
    assert.equal(suspend.code, 0, suspend.stderr);
    const suspended = await aio.waitForServer(server.id, ['SUSPENDED']);
    assert.equal(suspended['OS-EXT-STS:vm_state'], 'suspended');
    assert.equal(suspended['OS-EXT-STS:power_state'], 7);
    assert.equal(suspended['OS-EXT-SRV-ATTR:host'], host);
    const devices = await aio.pci(host);
    assert.equal(freeCount(devices), 3, 'claims are kept while suspended');
    assert.equal(devices.find((d: any) => d.status === 'allocated').address, device.address);
    const xml = (await aio.api('GET', `/compute/v2.1/servers/${server.id}/domain-xml`)).body.domain_xml as string;
    assertValidDomainXml(xml, 'the domain of a suspended server');
    assert.match(xml, /<interface type="vdpa">/);
    assert.ok(xml.includes(`<source dev="${device.vdpa_chardev}"/>`));
    const bound = await aio.openstackJson(['port', 'show', port.id]);
    assert.equal(bound.binding_host_id, host);

    // Suspending twice: 409 through the SDK, nothing changes.
    const twice = await aio.openstack(['server', 'suspend', 'sus-vm']);
    assert.notEqual(twice.code, 0);
    assert.match(twice.stderr, new RegExp(`ConflictException: 409: Client Error for url: .*/servers/${server.id}/action, Cannot 'suspend' instance ${server.id} while it is in vm_state suspended`));
    assert.equal((await aio.api('GET', `/compute/v2.1/servers/${server.id}`)).body.server.status, 'SUSPENDED');

    const resume = await aio.openstack(['server', 'resume', 'sus-vm']);
    assert.equal(resume.code, 0, resume.stderr);
    const active = await aio.waitForServer(server.id, ['ACTIVE']);
    assert.equal(active['OS-EXT-STS:power_state'], 1);
    assert.equal(active['OS-EXT-STS:task_state'], null);
    assert.equal(freeCount(await aio.pci(host)), 3);
    const resumedXml = (await aio.api('GET', `/compute/v2.1/servers/${server.id}/domain-xml`)).body.domain_xml as string;
    assertValidDomainXml(resumedXml, 'the domain after resume');
    assert.ok(resumedXml.includes(`<source dev="${device.vdpa_chardev}"/>`), 'the same VF is plugged back');

    const wrong = await aio.openstack(['server', 'resume', 'sus-vm']);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, new RegExp(`Cannot 'resume' instance ${server.id} while it is in vm_state active`));

    const actions = (await aio.api('GET', `/compute/v2.1/servers/${server.id}/os-instance-actions`)).body.instanceActions;
    assert.deepEqual(actions.map((a: any) => `${a.action}:${a.result}`), ['resume:Success', 'suspend:Success', 'create:Success']);

    // Shelving a suspended server is allowed (Nova) and frees everything.
    assert.equal((await aio.openstack(['server', 'suspend', 'sus-vm'])).code, 0);
    await aio.waitForServer(server.id, ['SUSPENDED']);
    assert.equal((await aio.openstack(['server', 'shelve', 'sus-vm'])).code, 0);
    await aio.waitForServer(server.id, ['SHELVED_OFFLOADED']);
    assert.equal(freeCount(await aio.pci(host)), 5);
    await deleteServerByName(aio, 'sus-vm');
  });
});
