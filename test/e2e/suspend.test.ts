import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freeCount, startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';

/** Suspend and resume a vDPA server with the real openstack client (SDK: no microversion header on the action). */
describe('suspend and resume', () => {
  let aio: AllInOneProcess;
  before(async () => { aio = await startAllInOneProcess({ hosts: [vdpaHost('compute-0'), vdpaHost('compute-1')] }); });
  after(async () => { await aio?.stop(); });

  /** The CLI's --wait polls every 5 s; the API polled every 50 ms keeps the file fast. */
  async function deleteServer(name: string): Promise<void> {
    const list = (await aio.api('GET', `/compute/v2.1/servers?name=^${name}$`)).body.servers;
    assert.equal(list.length, 1);
    assert.equal((await aio.api('DELETE', `/compute/v2.1/servers/${list[0].id}`)).status, 204);
    await aio.waitForServer(list[0].id, ['DELETED']);
  }

  test('suspend keeps the claims and the vDPA interface; resume brings the server back', async () => {
    const port = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', 'sus-port']);
    const created = await aio.openstackJson(['server', 'create', '--flavor', 'm1.small', '--image', 'cirros', '--port', port.id, 'sus-vm']);
    const server = await aio.waitForServer(created.id, ['ACTIVE']);
    const host = server['OS-EXT-SRV-ATTR:host'];
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
    await deleteServer('sus-vm');
  });
});
