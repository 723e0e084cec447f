import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freeCount, startAllInOneProcess, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { bootWithClient, deleteServerByName, instanceActions, twoVdpaHosts } from '../helpers/e2eFixtures.js';

/** Stop and start (os-stop / os-start) with the real openstack client. */
describe('stop and start', () => {
  let aio: AllInOneProcess;
  before(async () => { aio = await startAllInOneProcess({ hosts: twoVdpaHosts() }); });
  after(async () => { await aio?.stop(); });

  test('stop and start keep the claims; start on an active server is 409 and changes nothing', { timeout: 300_000 }, async () => {
    const { server, host } = await bootWithClient(aio, 'power-vm');
    const stop = await aio.openstack(['server', 'stop', 'power-vm']);
    assert.equal(stop.code, 0, stop.stderr);
    const stopped = await aio.waitForServer(server.id, ['SHUTOFF']);
    assert.equal(stopped['OS-EXT-STS:power_state'], 4);
    assert.equal(stopped['OS-EXT-SRV-ATTR:host'], host);
    assert.equal(freeCount(await aio.pci(host)), 3);

    const start = await aio.openstack(['server', 'start', 'power-vm']);
    assert.equal(start.code, 0, start.stderr);
    const active = await aio.waitForServer(server.id, ['ACTIVE']);
    assert.equal(active['OS-EXT-STS:power_state'], 1);

    const before = (await aio.api('GET', `/compute/v2.1/servers/${server.id}`)).body.server;
    const twice = await aio.openstack(['server', 'start', 'power-vm']);
    assert.notEqual(twice.code, 0);
    assert.match(twice.stderr, new RegExp(`Cannot 'start' instance ${server.id} while it is in vm_state active \\(HTTP 409\\)`));
    const afterwards = (await aio.api('GET', `/compute/v2.1/servers/${server.id}`)).body.server;
    assert.equal(afterwards.updated, before.updated);
    assert.equal(afterwards['OS-EXT-STS:task_state'], null);

    const actions = (await instanceActions(aio, server.id)).map((a) => `${a.action}:${a.result}`);
    assert.deepEqual(actions.slice(0, 3), ['start:Success', 'stop:Success', 'create:Success']);
    await deleteServerByName(aio, 'power-vm');
  });
});
