/**
 * Inventory fault injection through a real `vdpa-compute serve`: compute-0
 * fails its first spawn, its first resume and its first live-migration step;
 * compute-1 fails its first live-migration step too. Each failure ends the
 * way the controller handles a hypervisor error, with the fault's message.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freeCount, startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';

const SPAWN = 'internal error: qemu unexpectedly closed the monitor: injected spawn fault';
const RESUME = 'internal error: cannot restore domain memory: injected resume fault';
const SOURCE = 'internal error: unable to execute QEMU command \'migrate\': injected on the source';
const DEST = 'internal error: qemu unexpectedly closed the monitor: injected on the destination';

describe('simulated host faults from the inventory, end to end', () => {
  let aio: AllInOneProcess;
  let serverId: string;
  let portId: string;

  const action = async (id: string) => (await aio.api('GET', `/compute/v2.1/servers/${id}/os-instance-actions`)).body.instanceActions[0];
  const serverAction = (id: string, body: unknown, version = '2.1') =>
    aio.api('POST', `/compute/v2.1/servers/${id}/action`, body, { headers: { 'openstack-api-version': `compute ${version}` } });
  async function settled(id: string): Promise<any> {
    const end = Date.now() + 20_000;
    for (;;) {
      const s = (await aio.api('GET', `/compute/v2.1/servers/${id}`)).body.server;
      if (s['OS-EXT-STS:task_state'] === null && !['BUILD', 'MIGRATING'].includes(s.status)) return s;
      if (Date.now() > end) throw new Error(`server still busy: ${JSON.stringify(s).slice(0, 400)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  async function createServer(name: string): Promise<{ id: string; port: string }> {
    const net = (await aio.api('GET', '/network/v2.0/networks?name=vdpa-net')).body.networks[0].id;
    const port = await aio.api('POST', '/network/v2.0/ports', { port: { name, network_id: net, 'binding:vnic_type': 'vdpa' } });
    assert.equal(port.status, 201);
    const image = (await aio.api('GET', '/image/v2/images?name=cirros')).body.images[0].id;
    const r = await aio.api('POST', '/compute/v2.1/servers', { server: { name, imageRef: image, flavorRef: '1', networks: [{ port: port.body.port.id }] } });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return { id: r.body.server.id, port: port.body.port.id };
  }
  async function placement() {
    const s = (await aio.api('GET', `/compute/v2.1/servers/${serverId}`)).body.server;
    const port = (await aio.api('GET', `/network/v2.0/ports/${portId}`)).body.port;
    const xml = (await aio.api('GET', `/compute/v2.1/servers/${serverId}/domain-xml`)).body.domain_xml;
    return { host: s['OS-EXT-SRV-ATTR:host'], profile: port['binding:profile'], bindingHost: port['binding:host_id'], xml };
  }
  const liveMigrate = (host: string) => serverAction(serverId, { 'os-migrateLive': { block_migration: 'auto', host } }, '2.30');

  before(async () => {
    aio = await startAllInOneProcess({
      hosts: [
        { ...vdpaHost('compute-0'), faults: { spawn: { message: SPAWN, times: 1 }, resume: { message: RESUME, times: 1 }, live_migrate: { message: SOURCE, times: 1 } } },
        { ...vdpaHost('compute-1'), faults: { live_migrate: { message: DEST, times: 1 } } },
      ],
      // One attempt: a failed build ends in ERROR whether or not the controller reschedules builds.
      config: { scheduler_max_attempts: 1 },
    });
    // Builds land on compute-0, the faulty host.
    const off = await aio.openstack(['compute', 'service', 'set', '--disable', 'compute-1', 'nova-compute']);
    assert.equal(off.code, 0, off.stderr);
  });
  after(async () => {
    await aio?.stop();
  });

  test('a spawn fault ends the build with the fault\'s message; the next spawn on that host works (times: 1)', { timeout: 300_000 }, async () => {
    const failed = await createServer('doomed');
    const s = await aio.waitForServer(failed.id, ['ERROR', 'ACTIVE']);
    assert.equal(s.status, 'ERROR');
    assert.equal(s.fault.message, SPAWN);
    const a = await action(failed.id);
    assert.equal(a.action, 'create');
    assert.equal(a.result, 'Error');

    const good = await createServer('vdpa-vm');
    serverId = good.id;
    portId = good.port;
    const ok = await aio.waitForServer(serverId, ['ERROR', 'ACTIVE']);
    assert.equal(ok.status, 'ACTIVE', JSON.stringify(ok.fault ?? ok));
    assert.equal(ok['OS-EXT-SRV-ATTR:host'], 'compute-0');
  });

  test('a resume fault leaves the server SUSPENDED with the error in its instance action', { timeout: 300_000 }, async () => {
    assert.equal((await serverAction(serverId, { suspend: null })).status, 202);
    assert.equal((await settled(serverId)).status, 'SUSPENDED');
    assert.equal((await serverAction(serverId, { resume: null })).status, 202);
    const s = await settled(serverId);
    assert.equal(s.status, 'SUSPENDED');
    const a = await action(serverId);
    assert.equal(a.action, 'resume');
    assert.equal(a.result, 'Error');
    assert.equal(a.message, RESUME);

    assert.equal((await serverAction(serverId, { resume: null })).status, 202);
    assert.equal((await settled(serverId)).status, 'ACTIVE');
  });

  test('a live_migrate fault on the source, then on the destination: each time back on the source with its original device', { timeout: 300_000 }, async () => {
    const on = await aio.openstack(['compute', 'service', 'set', '--enable', 'compute-1', 'nova-compute']);
    assert.equal(on.code, 0, on.stderr);
    const before = await placement();
    assert.equal(before.host, 'compute-0');
    const free = { source: freeCount(await aio.pci('compute-0')), dest: freeCount(await aio.pci('compute-1')) };

    for (const [why, message] of [['source', SOURCE], ['destination', DEST]] as const) {
      assert.equal((await liveMigrate('compute-1')).status, 202);
      const s = await settled(serverId);
      assert.equal(s.status, 'ACTIVE', why);
      assert.deepEqual(await placement(), before, `${why}: host, binding and device are the original ones`);
      const a = await action(serverId);
      assert.equal(a.action, 'live-migration');
      assert.equal(a.result, 'Error');
      assert.ok(a.message.includes(message), `${why}: ${a.message}`);
      assert.equal(freeCount(await aio.pci('compute-0')), free.source, why);
      assert.equal(freeCount(await aio.pci('compute-1')), free.dest, `${why}: the destination's claim is freed`);
    }

    // Both faults were for one call only: the same migration now goes through.
    assert.equal((await liveMigrate('compute-1')).status, 202);
    const s = await settled(serverId);
    assert.equal(s['OS-EXT-SRV-ATTR:host'], 'compute-1');
    assert.equal((await action(serverId)).result, 'Success');
    assert.ok(freeCount(await aio.pci('compute-0')) > free.source);
    assert.ok(freeCount(await aio.pci('compute-1')) < free.dest);
  });
});
