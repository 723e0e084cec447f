import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freeCount, startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { bootWithClient, deleteServerByName, instanceActions, twoVdpaHosts } from '../helpers/e2eFixtures.js';
import { assertDevicesUnchanged, assertValidDomainXml, deviceStateOf } from '../helpers/deviceState.js';

/** Reboot (soft, hard) of a vDPA server with the real openstack client. */
describe('reboot keeps the vDPA device, the binding and the guest definition', { timeout: 120_000 }, () => {
  let aio: AllInOneProcess;
  before(async () => { aio = await startAllInOneProcess({ hosts: twoVdpaHosts() }); });
  after(async () => { await aio?.stop(); });

  test('soft and hard reboot, and their refusals', { timeout: 90_000 }, async () => {
    const { port, server, host } = await bootWithClient(aio, 'rb-vm');
    const start = await deviceStateOf(aio, server.id, host, port.id);
    assert.equal(freeCount(start.pci), 3);
    assert.match(start.domainXml, /<interface type="vdpa">/);
    await assertValidDomainXml(start.domainXml);

    const soft = await aio.openstack(['server', 'reboot', 'rb-vm']);
    assert.equal(soft.code, 0, soft.stderr);
    const afterSoft = await aio.waitForServer(server.id, ['ACTIVE']);
    assert.equal(afterSoft['OS-EXT-STS:task_state'], null);
    assert.equal(afterSoft['OS-EXT-STS:power_state'], 1);
    await assertDevicesUnchanged(aio, start, server.id, host, port.id, 'soft reboot');

    const hard = await aio.openstack(['server', 'reboot', '--hard', 'rb-vm']);
    assert.equal(hard.code, 0, hard.stderr);
    await aio.waitForServer(server.id, ['ACTIVE']);
    await assertDevicesUnchanged(aio, start, server.id, host, port.id, 'hard reboot');

    // A soft reboot needs an active server; a hard one also takes a stopped server and starts it.
    assert.equal((await aio.openstack(['server', 'stop', 'rb-vm'])).code, 0);
    await aio.waitForServer(server.id, ['SHUTOFF']);
    const refused = await aio.openstack(['server', 'reboot', 'rb-vm']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`^Cannot 'reboot' instance ${server.id} while it is in vm_state stopped \\(HTTP 409\\)`, 'm'));
    const fromStopped = await aio.openstack(['server', 'reboot', '--hard', 'rb-vm']);
    assert.equal(fromStopped.code, 0, fromStopped.stderr);
    const started = await aio.waitForServer(server.id, ['ACTIVE']);
    assert.equal(started['OS-EXT-STS:vm_state'], 'active');
    await assertDevicesUnchanged(aio, start, server.id, host, port.id, 'hard reboot of a stopped server');

    // Nova's body check: an unknown type is a 400 that changes nothing.
    const bad = await aio.api('POST', `/compute/v2.1/servers/${server.id}/action`, { reboot: { type: 'WARM' } });
    assert.equal(bad.status, 400);
    assert.match(bad.body.badRequest.message, /is not one of \['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft'\]/);

    const actions = (await instanceActions(aio, server.id)).map((a: any) => `${a.action}:${a.result}`);
    assert.deepEqual(actions, ['reboot:Success', 'stop:Success', 'reboot:Success', 'reboot:Success', 'create:Success']);
    await deleteServerByName(aio, 'rb-vm');
  });
});

describe('a reboot that fails on the host', { timeout: 60_000 }, () => {
  let aio: AllInOneProcess;
  before(async () => {
    aio = await startAllInOneProcess({ hosts: [{ ...vdpaHost('compute-f'), faults: { reboot: { message: 'internal error: cannot reboot domain', times: 1 } } }] });
  });
  after(async () => { await aio?.stop(); });

  test('leaves the server ACTIVE with its devices and records the error; the next reboot works', { timeout: 45_000 }, async () => {
    const { port, server, host } = await bootWithClient(aio, 'rf-vm');
    const start = await deviceStateOf(aio, server.id, host, port.id);
    assert.equal((await aio.openstack(['server', 'reboot', '--hard', 'rf-vm'])).code, 0);
    await aio.waitForServer(server.id, ['ACTIVE']);
    const [failed] = await instanceActions(aio, server.id);
    assert.equal(failed.action, 'reboot');
    assert.equal(failed.result, 'Error');
    assert.equal(failed.message, 'internal error: cannot reboot domain');
    await assertDevicesUnchanged(aio, start, server.id, host, port.id, 'failed reboot');

    assert.equal((await aio.openstack(['server', 'reboot', 'rf-vm'])).code, 0);
    await aio.waitForServer(server.id, ['ACTIVE']);
    assert.equal((await instanceActions(aio, server.id))[0].result, 'Success');
    await assertDevicesUnchanged(aio, start, server.id, host, port.id, 'reboot after a failed one');
  });
});
