import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freeCount, startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { bootWithClient, deleteServerByName, domainXml, instanceActions, showPort } from '../helpers/e2eFixtures.js';

/** shelved_offload_time ≠ 0 (Nova's setting): shelve keeps the host and devices; shelveOffload (or the periodic job) frees them. */
describe('shelve with shelved_offload_time -1, then an explicit shelveOffload', { timeout: 120_000 }, () => {
  let aio: AllInOneProcess;
  before(async () => { aio = await startAllInOneProcess({ hosts: [vdpaHost('compute-0')], config: { shelved_offload_time: -1 } }); });
  after(async () => { await aio?.stop(); });

  test('SHELVED keeps the claims and the binding; shelve --offload frees the host; unshelve of a SHELVED server starts it in place', { timeout: 100_000 }, async () => {
    const { port, server, host } = await bootWithClient(aio, 'keep-vm');
    const xmlBefore = (await domainXml(aio, server.id)).domain_xml;
    const refused = await aio.api('POST', `/compute/v2.1/servers/${server.id}/action`, { shelveOffload: null });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.conflictingRequest.message, `Cannot 'shelveOffload' instance ${server.id} while it is in vm_state active`);

    const shelve = await aio.openstack(['server', 'shelve', 'keep-vm']);
    assert.equal(shelve.code, 0, shelve.stderr);
    const shelved = await aio.waitForServer(server.id, ['SHELVED']);
    assert.equal(shelved['OS-EXT-STS:vm_state'], 'shelved');
    assert.equal(shelved['OS-EXT-STS:power_state'], 4);
    assert.equal(shelved['OS-EXT-SRV-ATTR:host'], host);
    assert.equal(freeCount(await aio.pci(host)), 3, 'a shelved server still holds its device');
    assert.equal((await showPort(aio, port.id))['binding:host_id'], host);
    assert.equal((await domainXml(aio, server.id)).domain_xml, xmlBefore, 'the guest stays defined, powered off');

    // Unshelve of a SHELVED server: the same host, the same device.
    const unshelve = await aio.openstack(['server', 'unshelve', 'keep-vm']);
    assert.equal(unshelve.code, 0, unshelve.stderr);
    const active = await aio.waitForServer(server.id, ['ACTIVE']);
    assert.equal(active['OS-EXT-SRV-ATTR:host'], host);
    assert.equal(freeCount(await aio.pci(host)), 3);

    // shelve --offload: shelve, wait for SHELVED, then the explicit shelveOffload.
    const offload = await aio.openstack(['server', 'shelve', '--offload', 'keep-vm']);
    assert.equal(offload.code, 0, offload.stderr);
    const offloaded = await aio.waitForServer(server.id, ['SHELVED_OFFLOADED']);
    assert.equal(offloaded['OS-EXT-SRV-ATTR:host'], null);
    assert.equal(freeCount(await aio.pci(host)), 5);
    const unbound = await showPort(aio, port.id);
    assert.equal(unbound.device_id, server.id);
    assert.equal(unbound['binding:host_id'], '');
    assert.deepEqual(unbound['binding:profile'], {});
    const actions = (await instanceActions(aio, server.id)).map((a) => `${a.action}:${a.result}`);
    assert.deepEqual(actions.slice(0, 2), ['shelveOffload:Success', 'shelve:Success']);

    const again = await aio.api('POST', `/compute/v2.1/servers/${server.id}/action`, { shelveOffload: null });
    assert.equal(again.status, 409);
    assert.equal(again.body.conflictingRequest.message, `Cannot 'shelveOffload' instance ${server.id} while it is in vm_state shelved_offloaded`);
    await deleteServerByName(aio, 'keep-vm');
  });
});

describe('shelve with shelved_offload_time 1: the periodic job offloads', { timeout: 90_000 }, () => {
  let aio: AllInOneProcess;
  before(async () => {
    aio = await startAllInOneProcess({ hosts: [vdpaHost('compute-0')], config: { shelved_offload_time: 1, reconcile_interval: 1 } });
  });
  after(async () => { await aio?.stop(); });

  test('a server shelved longer than shelved_offload_time is offloaded without being asked', { timeout: 60_000 }, async () => {
    const { server, host } = await bootWithClient(aio, 'timed-vm');
    const shelve = await aio.openstack(['server', 'shelve', 'timed-vm']);
    assert.equal(shelve.code, 0, shelve.stderr);
    const offloaded = await aio.waitForServer(server.id, ['SHELVED_OFFLOADED'], 30_000);
    assert.equal(offloaded['OS-EXT-SRV-ATTR:host'], null);
    assert.equal(freeCount(await aio.pci(host)), 5);
    const actions = (await instanceActions(aio, server.id)).map((a) => `${a.action}:${a.result}`);
    assert.deepEqual(actions.slice(0, 2), ['shelveOffload:Success', 'shelve:Success']);
  });
});
