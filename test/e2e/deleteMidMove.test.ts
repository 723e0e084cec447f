import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { freeCount, startAllInOneProcess, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { twoVdpaHosts } from '../helpers/e2eFixtures.js';

let aio: AllInOneProcess;
before(async () => { aio = await startAllInOneProcess({ hosts: twoVdpaHosts() }); });
after(async () => { await aio?.stop(); });

test('deleting a server waiting in VERIFY_RESIZE frees the devices on both hosts', { timeout: 300_000 }, async () => {
  const port = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', 'mid-move']);
  const server = await aio.openstackJson(['server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros', '--port', port.id, '--wait', 'mid-move']);
  assert.equal(server.status, 'ACTIVE');
  const moved = await aio.openstack(['server', 'migrate', server.id]);
  assert.equal(moved.code, 0, moved.stderr);
  await aio.waitForServer(server.id, ['VERIFY_RESIZE']);
  assert.equal(freeCount(await aio.pci('compute-0')), 3);
  assert.equal(freeCount(await aio.pci('compute-1')), 3);
  const del = await aio.openstack(['server', 'delete', '--wait', server.id]);
  assert.equal(del.code, 0, del.stderr);
  assert.equal(freeCount(await aio.pci('compute-0')), 5);
  assert.equal(freeCount(await aio.pci('compute-1')), 5);
  const unbound = await aio.openstackJson(['port', 'show', port.id]);
  assert.equal(unbound.device_id, '');
  assert.deepEqual(unbound.binding_profile, {});
});
