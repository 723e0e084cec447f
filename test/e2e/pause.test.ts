import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startAllInOneProcess, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { bootWithClient, deleteServerByName, instanceActions, twoVdpaHosts } from '../helpers/e2eFixtures.js';
import { assertDevicesUnchanged, deviceStateOf } from '../helpers/deviceState.js';

/** Pause and unpause of a vDPA server with the real openstack client (SDK: no microversion header on the action). */
describe('pause keeps the vDPA device, the binding and the guest definition', { timeout: 120_000 }, () => {
  let aio: AllInOneProcess;
  before(async () => { aio = await startAllInOneProcess({ hosts: twoVdpaHosts() }); });
  after(async () => { await aio?.stop(); });

  test('pause and unpause, a hard reboot of a paused server, and their refusals', { timeout: 90_000 }, async () => {
    const { port, server, host } = await bootWithClient(aio, 'pz-vm');
    const start = await deviceStateOf(aio, server.id, host, port.id);

    const pause = await aio.openstack(['server', 'pause', 'pz-vm']);
    assert.equal(pause.code, 0, pause.stderr);
    const paused = await aio.waitForServer(server.id, ['PAUSED']);
    assert.equal(paused['OS-EXT-STS:vm_state'], 'paused');
    assert.equal(paused['OS-EXT-STS:power_state'], 3);
    await assertDevicesUnchanged(aio, start, server.id, host, port.id, 'pause');

    const twice = await aio.openstack(['server', 'pause', 'pz-vm']);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, new RegExp(`ConflictException: 409: Client Error for url: .*/servers/${server.id}/action, Cannot 'pause' instance ${server.id} while it is in vm_state paused`));
    const soft = await aio.openstack(['server', 'reboot', 'pz-vm']);
    assert.equal(soft.code, 1);
    assert.match(soft.stderr, new RegExp(`Cannot 'reboot' instance ${server.id} while it is in vm_state paused \\(HTTP 409\\)`));

    const unpause = await aio.openstack(['server', 'unpause', 'pz-vm']);
    assert.equal(unpause.code, 0, unpause.stderr);
    const active = await aio.waitForServer(server.id, ['ACTIVE']);
    assert.equal(active['OS-EXT-STS:power_state'], 1);
    await assertDevicesUnchanged(aio, start, server.id, host, port.id, 'unpause');
    const wrong = await aio.openstack(['server', 'unpause', 'pz-vm']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, new RegExp(`Cannot 'unpause' instance ${server.id} while it is in vm_state active`));

    // A hard reboot takes a paused server back to ACTIVE (Nova).
    assert.equal((await aio.openstack(['server', 'pause', 'pz-vm'])).code, 0);
    await aio.waitForServer(server.id, ['PAUSED']);
    const hard = await aio.openstack(['server', 'reboot', '--hard', 'pz-vm']);
    assert.equal(hard.code, 0, hard.stderr);
    await aio.waitForServer(server.id, ['ACTIVE']);
    await assertDevicesUnchanged(aio, start, server.id, host, port.id, 'hard reboot of a paused server');
    assert.deepEqual((await instanceActions(aio, server.id)).map((a: any) => `${a.action}:${a.result}`),
      ['reboot:Success', 'pause:Success', 'unpause:Success', 'pause:Success', 'create:Success']);
    await deleteServerByName(aio, 'pz-vm');
  });
});
