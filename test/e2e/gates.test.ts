import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freeCount, startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { bootWithClient, deleteServerByName } from '../helpers/e2eFixtures.js';

/** Rolling upgrade: one compute still at service version 62 blocks suspend/resume of vDPA servers only. */
describe('vDPA rolling-upgrade gates', () => {
  let aio: AllInOneProcess;
  before(async () => {
    aio = await startAllInOneProcess({ hosts: [vdpaHost('compute-0'), vdpaHost('compute-1', { serviceVersion: 62 })] });
  });
  after(async () => { await aio?.stop(); });

  test('suspend of a vDPA server is refused with 400 and changes nothing', { timeout: 300_000 }, async () => {
    const { server, host } = await bootWithClient(aio, 'gated-vm', { portName: 'gated-port' });
    const before = (await aio.api('GET', `/compute/v2.1/servers/${server.id}`)).body.server;

    const r = await aio.openstack(['server', 'suspend', 'gated-vm']);
    assert.notEqual(r.code, 0);
    const message = `Operation 'suspend' not supported for instance with vDPA ports (${server.id}).`;
    assert.ok(r.stderr.includes(`BadRequestException: 400: Client Error for url: ${aio.url}/compute/v2.1/servers/${server.id}/action, ${message}`), r.stderr);

    const raw = await aio.api('POST', `/compute/v2.1/servers/${server.id}/action`, { resume: null });
    assert.equal(raw.status, 400);
    assert.deepEqual(raw.body, { badRequest: { code: 400, message: `Operation 'resume' not supported for instance with vDPA ports (${server.id}).` } });

    const afterwards = (await aio.api('GET', `/compute/v2.1/servers/${server.id}`)).body.server;
    assert.equal(afterwards.status, 'ACTIVE');
    assert.equal(afterwards['OS-EXT-STS:task_state'], null);
    assert.equal(afterwards.updated, before.updated);
    assert.equal(freeCount(await aio.pci(host)), 3);
    const actions = (await aio.api('GET', `/compute/v2.1/servers/${server.id}/os-instance-actions`)).body.instanceActions;
    assert.deepEqual(actions.map((a: any) => a.action), ['create'], 'a refused call records no action');

    // Other operations are not gated: stop works.
    assert.equal((await aio.openstack(['server', 'stop', 'gated-vm'])).code, 0);
    await aio.waitForServer(server.id, ['SHUTOFF']);
    await deleteServerByName(aio, 'gated-vm');
  });

  test('the same suspend on a server without vDPA ports succeeds', { timeout: 300_000 }, async () => {
    const port = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', 'plain-port']);
    const created = await aio.openstackJson(['server', 'create', '--flavor', 'm1.small', '--image', 'cirros', '--port', port.id, 'plain-vm']);
    const server = await aio.waitForServer(created.id, ['ACTIVE']);
    assert.equal(server.status, 'ACTIVE');
    const r = await aio.openstack(['server', 'suspend', 'plain-vm']);
    assert.equal(r.code, 0, r.stderr);
    await aio.waitForServer(server.id, ['SUSPENDED']);
    assert.equal((await aio.openstack(['server', 'resume', 'plain-vm'])).code, 0);
    await aio.waitForServer(server.id, ['ACTIVE']);
    await deleteServerByName(aio, 'plain-vm');
  });
});
