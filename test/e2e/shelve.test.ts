import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freeCount, startAllInOneProcess, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { bootWithClient, deleteServerByName, instanceActions, twoVdpaHosts } from '../helpers/e2eFixtures.js';
import { assertValidDomainXml } from '../helpers/domainXmlSchema.js';

/** Shelve (offloaded at once) and unshelve with the real openstack client on two vDPA hosts. */
describe('shelve and unshelve', () => {
  let aio: AllInOneProcess;
  before(async () => { aio = await startAllInOneProcess({ hosts: twoVdpaHosts() }); });
  after(async () => { await aio?.stop(); });

  test('shelve frees the devices and the host, keeps device_id; unshelve schedules and binds again', { timeout: 300_000 }, async () => {
    const { port, server, host } = await bootWithClient(aio, 'shelve-vm');
    assert.equal(freeCount(await aio.pci(host)), 3);

    const shelve = await aio.openstack(['server', 'shelve', 'shelve-vm']);
    assert.equal(shelve.code, 0, shelve.stderr);
    const shelved = await aio.waitForServer(server.id, ['SHELVED_OFFLOADED']);
    assert.equal(shelved['OS-EXT-STS:vm_state'], 'shelved_offloaded');
    assert.equal(shelved['OS-EXT-STS:task_state'], null);
    assert.equal(shelved['OS-EXT-STS:power_state'], 4);
    assert.equal(shelved['OS-EXT-SRV-ATTR:host'], null);
    assert.equal(freeCount(await aio.pci('compute-0')), 5);
    assert.equal(freeCount(await aio.pci('compute-1')), 5);

    const unbound = await aio.openstackJson(['port', 'show', port.id]);
    assert.equal(unbound.device_id, server.id, 'a shelved server keeps its port');
    assert.equal(unbound.binding_host_id, '');
    assert.equal(unbound.binding_profile?.pci_slot, undefined);
    assert.deepEqual(unbound.binding_profile, {});
    assert.equal((await aio.api('GET', `/compute/v2.1/servers/${server.id}/domain-xml`)).status, 404, 'no guest left anywhere');

    // Shelving again is refused (the CLI skips it silently; the API says 409) and changes nothing.
    const again = await aio.api('POST', `/compute/v2.1/servers/${server.id}/action`, { shelve: null });
    assert.equal(again.status, 409);
    assert.equal(again.body.conflictingRequest.message,
      `Cannot 'shelve' instance ${server.id} while it is in vm_state shelved_offloaded`);

    const unshelve = await aio.openstack(['server', 'unshelve', 'shelve-vm']);
    assert.equal(unshelve.code, 0, unshelve.stderr);
    const active = await aio.waitForServer(server.id, ['ACTIVE']);
    const newHost = active['OS-EXT-SRV-ATTR:host'];
    assert.match(newHost, /^compute-[01]$/);
    assert.equal(active['OS-EXT-STS:power_state'], 1);
    assert.equal(freeCount(await aio.pci(newHost)), 3);
    assert.equal(freeCount(await aio.pci(newHost === 'compute-0' ? 'compute-1' : 'compute-0')), 5);
    const bound = await aio.openstackJson(['port', 'show', port.id]);
    assert.equal(bound.binding_host_id, newHost);
    assert.equal(bound.device_id, server.id);
    assert.equal(bound.status, 'ACTIVE');
    const allocated = (await aio.pci(newHost)).find((d: any) => d.status === 'allocated');
    assert.equal(bound.binding_profile.pci_slot, allocated.address);
    const xml = await aio.api('GET', `/compute/v2.1/servers/${server.id}/domain-xml`);
    assert.ok(xml.body.domain_xml.includes(`<source dev="${allocated.vdpa_chardev}"/>`));
    assertValidDomainXml(xml.body.domain_xml, 'the domain after unshelve');

    const actions = (await instanceActions(aio, server.id)).map((a) => `${a.action}:${a.result}`);
    assert.deepEqual(actions.slice(0, 2), ['unshelve:Success', 'shelve:Success']);

    // Unshelving an active server is refused by the API (the CLI would skip it).
    const wrong = await aio.api('POST', `/compute/v2.1/servers/${server.id}/action`, { unshelve: null });
    assert.equal(wrong.status, 409);
    assert.equal(wrong.body.conflictingRequest.message, `Cannot 'unshelve' instance ${server.id} while it is in vm_state active`);

    await deleteServerByName(aio, 'shelve-vm');
    assert.equal(freeCount(await aio.pci(newHost)), 5);
  });
});
