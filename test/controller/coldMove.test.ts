import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { pino } from 'pino';
import { ComputeAgent } from '../../src/agent/computeAgent.js';
import { SimulatedDriver } from '../../src/agent/drivers/simulated.js';
import { simulatedDiscovery } from '../../src/agent/simulatedHost.js';
import { createAgentLink } from '../../src/controller/services/agentLink.js';
import { parseHostInventory, simulatedFunctions } from '../../src/domain/inventory/hostInventory.js';
import { devicesOfConsumer } from '../../src/storage/repositories/pciDevices.js';
import { listMigrations } from '../../src/storage/repositories/migrations.js';
import { vdpaHost } from '../helpers/allInOneProcess.js';
import { startTestController, withPostgresDatabase, type TestController } from '../helpers/testController.js';

const HOSTS = ['compute-0', 'compute-1'];

interface Rig {
  tc: TestController;
  agents: ComputeAgent[];
  drivers: Map<string, SimulatedDriver>;
  failOn: Set<string>;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

/** A controller in this process and two simulated hosts whose driver can be told to fail spawns. */
async function startRig(databaseUrl?: string): Promise<Rig> {
  const tc = await startTestController(databaseUrl ? { databaseUrl } : {});
  const link = createAgentLink(tc.ctx);
  const failOn = new Set<string>();
  const drivers = new Map<string, SimulatedDriver>();
  const entries = parseHostInventory(stringify({ hosts: HOSTS.map((h) => vdpaHost(h)) }), 'test');
  const agents = entries.map((entry) => {
    const chardevs = new Set(simulatedFunctions(entry).map((f) => f.vdpaChardev).filter((c): c is string => c !== null));
    const driver = new SimulatedDriver({
      hostName: entry.name, availableChardevs: () => chardevs,
      failSpawnWith: () => (failOn.has(entry.name) ? 'internal error: qemu unexpectedly closed the monitor' : null),
    });
    drivers.set(entry.name, driver);
    return new ComputeAgent({
      identity: { host: entry.name, serviceVersion: entry.serviceVersion, hypervisorType: 'QEMU', hostIp: entry.hostIp, vcpus: entry.vcpus, memoryMb: entry.memoryMb, diskGb: entry.diskGb },
      discovery: simulatedDiscovery(entry), driver, link, log: pino({ level: 'silent' }), heartbeatMs: 10_000,
    });
  });
  await Promise.all(agents.map((a) => a.start()));
  const token = await tc.token('admin');
  return {
    tc, agents, drivers, failOn,
    async api(method, path, body) {
      const res = await fetch(`${tc.url}${path}`, {
        method, headers: { 'x-auth-token': token, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    async stop() {
      await Promise.all(agents.map((a) => a.stop()));
      await tc.close();
    },
  };
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function server(rig: Rig, id: string): Promise<any> {
  return (await rig.api('GET', `/compute/v2.1/servers/${id}`)).body.server;
}

async function waitStatus(rig: Rig, id: string, statuses: string[]): Promise<any> {
  return until(`${id} in ${statuses.join('/')}`, async () => {
    const s = await server(rig, id);
    return statuses.includes(s.status) ? s : null;
  });
}

async function free(rig: Rig, host: string): Promise<number> {
  const r = await rig.api('GET', `/compute/v2.1/os-pci/detail?host=${host}`);
  return r.body.pci_devices.filter((d: any) => d.status === 'available').length;
}

async function boot(rig: Rig, name: string): Promise<{ id: string; portId: string; host: string }> {
  const net = await rig.api('GET', '/network/v2.0/networks?name=vdpa-net');
  const port = await rig.api('POST', '/network/v2.0/ports', { port: { name, network_id: net.body.networks[0].id, 'binding:vnic_type': 'vdpa' } });
  const image = (await rig.api('GET', '/image/v2/images?name=cirros')).body.images[0].id;
  const created = await rig.api('POST', '/compute/v2.1/servers', { server: { name, imageRef: image, flavorRef: '1', networks: [{ port: port.body.port.id }] } });
  assert.equal(created.status, 202, JSON.stringify(created.body));
  const s = await waitStatus(rig, created.body.server.id, ['ACTIVE']);
  return { id: s.id, portId: port.body.port.id, host: s['OS-EXT-SRV-ATTR:host'] };
}

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`cold move edge cases (${backend})`, () => {
    let rig: Rig;
    let release: (() => void) | undefined;
    let dbDone: Promise<void> | undefined;
    before(async () => {
      if (backend === 'sqlite') {
        rig = await startRig();
        return;
      }
      // Keep the PostgreSQL database alive for the whole suite.
      const ready = new Promise<Rig>((resolveRig, rejectRig) => {
        dbDone = withPostgresDatabase(async (url) => {
          try {
            const r = await startRig(url);
            resolveRig(r);
            await new Promise<void>((res) => { release = res; });
            await r.stop();
          } catch (e) {
            rejectRig(e);
          }
        });
      });
      rig = await ready;
    });
    after(async () => {
      if (backend === 'sqlite') await rig?.stop();
      else {
        release?.();
        await dbDone;
      }
    });

    test('two migrate requests at once: one is accepted, the other gets 409, one record', async () => {
      const s = await boot(rig, 'race-vm');
      const [a, b] = await Promise.all([
        rig.api('POST', `/compute/v2.1/servers/${s.id}/action`, { migrate: null }),
        rig.api('POST', `/compute/v2.1/servers/${s.id}/action`, { migrate: null }),
      ]);
      assert.deepEqual([a.status, b.status].sort(), [202, 409]);
      await waitStatus(rig, s.id, ['VERIFY_RESIZE']);
      const records = await listMigrations(rig.tc.ctx.store.db, { instanceUuid: s.id });
      assert.equal(records.length, 1);
      // In VERIFY_RESIZE the source VF belongs to the migration, the destination VF to the server.
      const bySource = await devicesOfConsumer(rig.tc.ctx.store.db, records[0]!.uuid);
      assert.deepEqual(bySource.map((d) => d.host), [s.host]);
      const byServer = await devicesOfConsumer(rig.tc.ctx.store.db, s.id);
      assert.deepEqual(byServer.map((d) => d.host), [records[0]!.dest_compute]);
      assert.equal((await rig.api('POST', `/compute/v2.1/servers/${s.id}/action`, { confirmResize: null })).status, 204);
      assert.equal((await rig.api('POST', `/compute/v2.1/servers/${s.id}/action`, { confirmResize: null })).status, 409);
      assert.deepEqual(await devicesOfConsumer(rig.tc.ctx.store.db, records[0]!.uuid), []);
      await rig.api('DELETE', `/compute/v2.1/servers/${s.id}`);
      await until('deleted', async () => (await rig.api('GET', `/compute/v2.1/servers/${s.id}`)).status === 404);
    });

    test('the destination guest fails to start: ERROR, destination freed, the source claims and binding back', async () => {
      const s = await boot(rig, 'fail-vm');
      const dest = HOSTS.find((h) => h !== s.host)!;
      const port = async () => (await rig.api('GET', `/network/v2.0/ports/${s.portId}`)).body.port;
      const before = await port();
      rig.failOn.add(dest);
      try {
        assert.equal((await rig.api('POST', `/compute/v2.1/servers/${s.id}/action`, { migrate: null })).status, 202);
        const failed = await waitStatus(rig, s.id, ['ERROR', 'VERIFY_RESIZE']);
        assert.equal(failed.status, 'ERROR');
        assert.match(failed.fault.message, /qemu unexpectedly closed the monitor/);
        assert.equal(failed['OS-EXT-SRV-ATTR:host'], s.host);
      } finally {
        rig.failOn.delete(dest);
      }
      assert.equal(await free(rig, dest), 5);
      assert.equal(await free(rig, s.host), 3);
      const after = await port();
      assert.equal(after['binding:host_id'], s.host);
      assert.deepEqual(after['binding:profile'], before['binding:profile']);
      const [m] = await listMigrations(rig.tc.ctx.store.db, { instanceUuid: s.id });
      assert.equal(m!.status, 'error');
      const held = await devicesOfConsumer(rig.tc.ctx.store.db, s.id);
      assert.deepEqual(held.map((d) => [d.host, d.address]), [[s.host, before['binding:profile'].pci_slot]]);
      await rig.api('DELETE', `/compute/v2.1/servers/${s.id}`);
      await until('deleted', async () => (await rig.api('GET', `/compute/v2.1/servers/${s.id}`)).status === 404);
      await until('all free', async () => (await free(rig, s.host)) === 5);
    });

    test('a stopped server moves stopped: VERIFY_RESIZE powered off, revert leaves it SHUTOFF on its source', async () => {
      const s = await boot(rig, 'stopped-vm');
      const stop = await rig.api('POST', `/compute/v2.1/servers/${s.id}/action`, { 'os-stop': null });
      assert.equal(stop.status, 202, JSON.stringify(stop.body));
      await waitStatus(rig, s.id, ['SHUTOFF']);
      assert.equal((await rig.api('POST', `/compute/v2.1/servers/${s.id}/action`, { migrate: null })).status, 202);
      const moved = await waitStatus(rig, s.id, ['VERIFY_RESIZE', 'ERROR']);
      assert.equal(moved.status, 'VERIFY_RESIZE');
      assert.equal(moved['OS-EXT-STS:power_state'], 4);
      const dest = moved['OS-EXT-SRV-ATTR:host'];
      assert.notEqual(dest, s.host);
      assert.equal((await rig.drivers.get(dest)!.status(s.id))?.state, 'shutoff');
      assert.equal((await rig.api('POST', `/compute/v2.1/servers/${s.id}/action`, { revertResize: null })).status, 202);
      const back = await waitStatus(rig, s.id, ['SHUTOFF', 'ERROR', 'ACTIVE']);
      assert.equal(back.status, 'SHUTOFF');
      assert.equal(back['OS-EXT-SRV-ATTR:host'], s.host);
      assert.equal(await free(rig, dest), 5);
      assert.equal(await free(rig, s.host), 3);
      await until('the destination guest removed', async () => (await rig.drivers.get(dest)!.status(s.id)) === null);
    });
  });
}
