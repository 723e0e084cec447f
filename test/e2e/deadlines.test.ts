/**
 * Issue 12, "Done when": a host that never answers cannot hold an operation
 * past operation_timeout. compute-hang-spawn never answers a spawn and is the
 * host the weighers prefer (more free RAM and vdpa VFs); compute-hang-off
 * spawns but never answers a power-off. One server goes through both: its
 * build times out on the first and is rescheduled onto the second, then its
 * stop times out there and it stays ACTIVE, on the host whose hung guest
 * still holds its devices.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { showPort } from '../helpers/e2eFixtures.js';
import { actionEvents, assertDoctorClean, dumpServers } from '../helpers/settledChecks.js';

const TIMEOUT_S = 3;
const RESYNC_S = 1;
/** Resync ticks every lease_seconds / 3 s and a loaded machine is slow: allowed on top of deadline + resync. */
const SLACK_MS = 2500;
const CONFIG = { operation_timeout: TIMEOUT_S, reconcile_interval: RESYNC_S, lease_seconds: 3 };

describe(`steps on hosts that never answer end at operation_timeout (${TIMEOUT_S} s)`, () => {
  let aio: AllInOneProcess;
  let serverId: string;
  let portId: string;

  /** Polls until `done(server)`; resolves with the server and the ms since `from`. */
  async function waitFor(id: string, done: (s: any) => boolean, from: number, limitMs: number): Promise<{ server: any; ms: number }> {
    let server = (await aio.api('GET', `/compute/v2.1/servers/${id}`)).body.server;
    while (!done(server) && Date.now() - from <= limitMs) {
      await new Promise((r) => setTimeout(r, 50));
      server = (await aio.api('GET', `/compute/v2.1/servers/${id}`)).body.server;
    }
    const ms = Date.now() - from;
    assert.ok(done(server), `server ${id} did not get there in ${limitMs} ms: ${JSON.stringify(server).slice(0, 600)}`);
    return { server, ms };
  }

  before(async () => {
    aio = await startAllInOneProcess({
      hosts: [
        { ...vdpaHost('compute-hang-spawn', { vfs: 8, memoryMb: 262144 }), faults: { spawn: { hang: true } } },
        { ...vdpaHost('compute-hang-off', { vfs: 4 }), faults: { power_off: { hang: true } } },
      ],
      config: CONFIG,
    });
  });
  after(async () => {
    await aio?.stop();
  });

  test('a hung spawn: the build is rescheduled at the deadline, with the timeout as the first attempt\'s error', { timeout: 300_000 }, async () => {
    const port = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', 'hang-port']);
    portId = port.id;
    const started = Date.now();
    const created = await aio.openstackJson(['server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros', '--port', portId, 'hang-vm']);
    serverId = created.id;
    const { server, ms } = await waitFor(serverId, (s) => s.status !== 'BUILD', started, (TIMEOUT_S + RESYNC_S) * 1000 + SLACK_MS + 5000);
    assert.equal(server.status, 'ACTIVE', JSON.stringify(server.fault));
    assert.equal(server['OS-EXT-SRV-ATTR:host'], 'compute-hang-off');
    assert.ok(ms >= TIMEOUT_S * 1000, `rescheduled after ${ms} ms, before the deadline`);
    // The client's own run (a Python start-up) is inside `ms` too, so this bound is generous, never tight.
    assert.ok(ms <= (TIMEOUT_S + RESYNC_S) * 1000 + SLACK_MS + 3000, `the build took ${ms} ms`);

    const [first, second] = actionEvents(aio.dataDir, serverId);
    assert.deepEqual({ host: first?.host, result: first?.result }, { host: 'compute-hang-spawn', result: 'Error' });
    assert.match(first!.details!, /Timed out after 3 s in task_state spawning waiting for compute host compute-hang-spawn/);
    assert.deepEqual({ host: second?.host, result: second?.result }, { host: 'compute-hang-off', result: 'Success' });

    const free = (await aio.pci('compute-hang-spawn')).filter((d: any) => d.status !== 'available');
    assert.deepEqual(free, [], 'the hung host\'s claim went with the reschedule');
    assert.equal((await showPort(aio, portId))['binding:host_id'], 'compute-hang-off');
    await assertDoctorClean(aio, join(aio.dataDir, 'config.yaml'));
  });

  test('a hung power-off: the stop ends at the deadline, ACTIVE, with a fault naming the step and the host; claims stay', { timeout: 300_000 }, async () => {
    const asked = Date.now();
    const stop = await aio.openstack(['server', 'stop', serverId]);
    assert.equal(stop.code, 0, stop.stderr);
    // The deadline runs from the 202, somewhere inside the client's run: bounded from both sides of it.
    const accepted = Date.now();
    const { server, ms } = await waitFor(serverId, (s) => s['OS-EXT-STS:task_state'] === null, accepted, (TIMEOUT_S + RESYNC_S) * 1000 + SLACK_MS + 5000);
    assert.ok(ms <= (TIMEOUT_S + RESYNC_S) * 1000 + SLACK_MS, `the stop ended ${ms} ms after its 202`);
    assert.ok(Date.now() - asked >= TIMEOUT_S * 1000, 'the stop ended before its deadline');
    assert.equal(server.status, 'ACTIVE');
    assert.equal(server['OS-EXT-SRV-ATTR:host'], 'compute-hang-off');
    // As in Nova, `fault` shows only in ERROR: an ACTIVE server's failed stop is told by its instance action.
    const stopAction = (await aio.api('GET', `/compute/v2.1/servers/${serverId}/os-instance-actions`)).body.instanceActions
      .find((a: any) => a.action === 'stop');
    assert.equal(stopAction.result, 'Error');
    assert.match(stopAction.message, /Timed out after 3 s in task_state powering-off waiting for compute host compute-hang-off/);
    const [row] = dumpServers(aio.dataDir, [serverId]) as any[];
    assert.match(JSON.parse(row.fault).message, /Timed out after 3 s in task_state powering-off waiting for compute host compute-hang-off/);

    // The guest may still run there: its device and binding stay the server's.
    const held = (await aio.pci('compute-hang-off')).filter((d: any) => d.instance_uuid === serverId);
    assert.equal(held.length, 1);
    assert.equal((await showPort(aio, portId))['binding:profile'].pci_slot, held[0].address);
    await assertDoctorClean(aio, join(aio.dataDir, 'config.yaml'));
  });
});
