import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freeCount, startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { bootWithClient, showPort, until } from '../helpers/e2eFixtures.js';

/** Injected driver failures (inventory `faults`): claims and bindings stay as they were; Nova's outcome for each. */
describe('rebuild, rescue and snapshot failing on the host', { timeout: 120_000 }, () => {
  let aio: AllInOneProcess;
  before(async () => {
    aio = await startAllInOneProcess({ hosts: [{
      ...vdpaHost('compute-0'),
      faults: { rescue: { message: 'rescue disk missing', times: 1 }, snapshot: { message: 'disk busy', times: 1 }, rebuild: { message: 'image gone', times: 1 } },
    }] });
  });
  after(async () => { await aio?.stop(); });

  test('a failed snapshot deletes its image; a failed rescue or rebuild ends in ERROR with the devices and binding kept', { timeout: 100_000 }, async () => {
    const { port, server, host } = await bootWithClient(aio, 'fault-vm');
    const binding = (await showPort(aio, port.id))['binding:profile'];
    const action = (body: unknown) => aio.api('POST', `/compute/v2.1/servers/${server.id}/action`, body);

    const snap = await action({ createImage: { name: 'doomed' } });
    assert.equal(snap.status, 202);
    const settled = await until('the snapshot to end', async () => {
      const s = (await aio.api('GET', `/compute/v2.1/servers/${server.id}`)).body.server;
      return s['OS-EXT-STS:task_state'] === null ? s : null;
    });
    assert.equal(settled.status, 'ACTIVE');
    assert.equal((await aio.api('GET', '/image/v2/images?name=doomed')).body.images.length, 0, 'the image of a failed snapshot is deleted');

    assert.equal((await action({ rescue: null })).status, 200);
    const rescueFailed = await aio.waitForServer(server.id, ['ERROR']);
    assert.equal(rescueFailed.fault.message, `Instance ${server.id} cannot be rescued: Driver Error: rescue disk missing`);
    assert.equal(freeCount(await aio.pci(host)), 3);
    assert.deepEqual((await showPort(aio, port.id))['binding:profile'], binding);

    // From ERROR a rebuild is allowed; it fails once on the host (ERROR again), then works.
    const cirros = (await aio.api('GET', '/image/v2/images?name=cirros')).body.images[0].id;
    assert.equal((await action({ rebuild: { imageRef: cirros } })).status, 202);
    const rebuildFailed = await until('the rebuild to fail', async () => {
      const s = (await aio.api('GET', `/compute/v2.1/servers/${server.id}`)).body.server;
      return s.status === 'ERROR' && s['OS-EXT-STS:task_state'] === null && s.fault.message === 'image gone' ? s : null;
    });
    assert.equal(rebuildFailed['OS-EXT-SRV-ATTR:host'], host);
    assert.equal(freeCount(await aio.pci(host)), 3);
    assert.equal((await action({ rebuild: { imageRef: cirros } })).status, 202);
    await aio.waitForServer(server.id, ['ACTIVE']);
    assert.equal(freeCount(await aio.pci(host)), 3);
    assert.deepEqual((await showPort(aio, port.id))['binding:profile'], binding);
  });
});
