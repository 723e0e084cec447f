import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freeCount, startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';

/** Stop and start (os-stop / os-start) with the real openstack client. */
describe('stop and start', () => {
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

  async function bootVdpa(name: string) {
    const port = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', `${name}-port`]);
    const created = await aio.openstackJson(['server', 'create', '--flavor', 'm1.small', '--image', 'cirros', '--port', port.id, name]);
    const server = await aio.waitForServer(created.id, ['ACTIVE']);
    assert.equal(server.status, 'ACTIVE');
    return { port, server, host: server['OS-EXT-SRV-ATTR:host'] as string };
  }

  async function actionsOf(id: string): Promise<any[]> {
    return (await aio.api('GET', `/compute/v2.1/servers/${id}/os-instance-actions`)).body.instanceActions;
  }

  test('stop and start keep the claims; start on an active server is 409 and changes nothing', async () => {
    const { server, host } = await bootVdpa('power-vm');
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

    const actions = (await actionsOf(server.id)).map((a) => `${a.action}:${a.result}`);
    assert.deepEqual(actions.slice(0, 3), ['start:Success', 'stop:Success', 'create:Success']);
    await deleteServer('power-vm');
  });
});
