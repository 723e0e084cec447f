import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freeCount, startAllInOneProcess, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { bootWithClient, deleteServerByName, instanceActions, twoVdpaHosts } from '../helpers/e2eFixtures.js';

/** Unshelve to a named host (2.91) and unshelve with no valid host. */
describe('unshelve to a host', () => {
  let aio: AllInOneProcess;
  before(async () => { aio = await startAllInOneProcess({ hosts: twoVdpaHosts() }); });
  after(async () => { await aio?.stop(); });

  test('unshelve to a host (2.91, admin) lands there; with no room it stays shelved with a fault', { timeout: 300_000 }, async () => {
    const { server, host } = await bootWithClient(aio, 'target-vm');
    const other = host === 'compute-0' ? 'compute-1' : 'compute-0';
    assert.equal((await aio.api('POST', `/compute/v2.1/servers/${server.id}/action`, { shelve: null })).status, 202);
    await aio.waitForServer(server.id, ['SHELVED_OFFLOADED']);

    const old = await aio.api('POST', `/compute/v2.1/servers/${server.id}/action`, { unshelve: { host: other } },
      { headers: { 'OpenStack-API-Version': 'compute 2.90' } });
    assert.equal(old.status, 400, 'host is a 2.91 field');

    const res = await aio.api('POST', `/compute/v2.1/servers/${server.id}/action`, { unshelve: { host: other } },
      { headers: { 'OpenStack-API-Version': 'compute 2.91' } });
    assert.equal(res.status, 202);
    const active = await aio.waitForServer(server.id, ['ACTIVE']);
    assert.equal(active['OS-EXT-SRV-ATTR:host'], other);

    // Shelve again and ask for a host whose service is disabled: no valid host.
    assert.equal((await aio.api('POST', `/compute/v2.1/servers/${server.id}/action`, { shelve: null })).status, 202);
    await aio.waitForServer(server.id, ['SHELVED_OFFLOADED']);
    assert.equal((await aio.openstack(['compute', 'service', 'set', '--disable', other, 'nova-compute'])).code, 0);
    try {
      const denied = await aio.api('POST', `/compute/v2.1/servers/${server.id}/action`, { unshelve: { host: other } },
        { headers: { 'OpenStack-API-Version': 'compute 2.91' } });
      assert.equal(denied.status, 202);
      const until = Date.now() + 10_000;
      let s: any;
      do {
        s = (await aio.api('GET', `/compute/v2.1/servers/${server.id}`)).body.server;
        if (s['OS-EXT-STS:task_state'] === null) break;
        await new Promise((r) => setTimeout(r, 50));
      } while (Date.now() < until);
      assert.equal(s.status, 'SHELVED_OFFLOADED');
      assert.equal(s['OS-EXT-STS:task_state'], null);
      assert.equal(freeCount(await aio.pci(other)), 5);
      const actions = await instanceActions(aio, server.id);
      assert.equal(actions[0].action, 'unshelve');
      assert.equal(actions[0].result, 'Error');
      assert.equal(actions[0].message, 'No valid host was found.');
    } finally {
      await aio.openstack(['compute', 'service', 'set', '--enable', other, 'nova-compute']);
    }
    await deleteServerByName(aio, 'target-vm');
    const port = await aio.openstackJson(['port', 'show', 'target-vm-port']);
    assert.equal(port.device_id, '', 'deleting a shelved server frees its port');
  });
});
