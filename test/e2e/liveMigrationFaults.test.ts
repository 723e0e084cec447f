import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { ComputeAgent } from '../../src/agent/computeAgent.js';
import { SimulatedDriver } from '../../src/agent/drivers/simulated.js';
import { VirtDriverError } from '../../src/agent/drivers/driver.js';
import type { GuestInterface } from '../../src/domain/guest/spec.js';
import { simulatedDiscovery } from '../../src/agent/simulatedHost.js';
import { parseHostInventory, simulatedFunctions } from '../../src/domain/inventory/hostInventory.js';
import { createAgentLink } from '../../src/controller/services/agentLink.js';
import { startTestController, type TestController } from '../helpers/testController.js';
import { freeCount, vdpaHost } from '../helpers/allInOneProcess.js';
import { kysely } from '../helpers/storageAccess.js';

/** A simulated host whose faults a test switches on: chardevs gone from /dev, NICs that refuse to unplug. */
class FaultyDriver extends SimulatedDriver {
  failDetach: string | null = null;
  override async detachInterface(uuid: string, iface: GuestInterface) {
    if (this.failDetach) throw new VirtDriverError(this.failDetach, 1);
    return super.detachInterface(uuid, iface);
  }
}

interface Host { name: string; driver: FaultyDriver; agent: ComputeAgent; missing: Set<string> }

/**
 * Failures in the middle of a live migration or an interface hot-plug, with
 * agents whose simulated hypervisor fails on demand: the server ends ACTIVE
 * where it was, with its original device and binding, and nothing leaks.
 */
describe('live migration and interface attach roll back on agent failures', () => {
  let ctl: TestController;
  let token: string;
  const hosts = new Map<string, Host>();
  let serverId: string;
  let portId: string;

  async function api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
    const res = await fetch(`${ctl.url}${path}`, {
      method, headers: { 'x-auth-token': token, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }
  const server = async () => (await api('GET', `/compute/v2.1/servers/${serverId}`)).body.server;
  const pci = async (host: string) => (await api('GET', `/compute/v2.1/os-pci/detail?host=${host}`)).body.pci_devices;
  const port = async (id: string) => (await api('GET', `/network/v2.0/ports/${id}`)).body.port;
  async function settled(): Promise<any> {
    const end = Date.now() + 15_000;
    for (;;) {
      const s = await server();
      if (s['OS-EXT-STS:task_state'] === null && s.status !== 'BUILD' && s.status !== 'MIGRATING') return s;
      if (Date.now() > end) throw new Error(`server still busy: ${JSON.stringify(s).slice(0, 300)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  async function createPort(name: string): Promise<any> {
    const net = await api('GET', '/network/v2.0/networks?name=vdpa-net');
    const r = await api('POST', '/network/v2.0/ports', { port: { name, network_id: net.body.networks[0].id, 'binding:vnic_type': 'vdpa' } });
    assert.equal(r.status, 201);
    return r.body.port;
  }
  async function snapshot() {
    const s = await server();
    const host = s['OS-EXT-SRV-ATTR:host'];
    const p = await port(portId);
    const xml = (await api('GET', `/compute/v2.1/servers/${serverId}/domain-xml`)).body;
    return { host, profile: p['binding:profile'], bindingHost: p['binding:host_id'], xml: xml.domain_xml, xmlHost: xml.host };
  }
  const migrate = (host: string | null) => api('POST', `/compute/v2.1/servers/${serverId}/action`,
    { 'os-migrateLive': { block_migration: 'auto', host } }, { 'openstack-api-version': 'compute 2.30' });
  const latestAction = async () => (await api('GET', `/compute/v2.1/servers/${serverId}/os-instance-actions`)).body.instanceActions[0];
  const other = (h: string) => (h === 'compute-0' ? 'compute-1' : 'compute-0');

  before(async () => {
    ctl = await startTestController();
    token = await ctl.token('admin');
    const entries = parseHostInventory(JSON.stringify({ hosts: [vdpaHost('compute-0'), vdpaHost('compute-1')] }), 'test');
    const link = createAgentLink(ctl.ctx);
    for (const entry of entries) {
      const missing = new Set<string>();
      const chardevs = simulatedFunctions(entry).map((f) => f.vdpaChardev).filter((c): c is string => c !== null);
      const driver = new FaultyDriver({ hostName: entry.name, availableChardevs: () => new Set(chardevs.filter((c) => !missing.has(c))) });
      const agent = new ComputeAgent({
        identity: { host: entry.name, serviceVersion: entry.serviceVersion, hypervisorType: 'QEMU', hostIp: entry.hostIp, vcpus: entry.vcpus, memoryMb: entry.memoryMb, diskGb: entry.diskGb },
        discovery: simulatedDiscovery(entry), driver, link, log: pino({ level: 'silent' }), heartbeatMs: 1000,
      });
      await agent.start();
      hosts.set(entry.name, { name: entry.name, driver, agent, missing });
    }
    const p = await createPort('vdpa-port');
    portId = p.id;
    const image = (await api('GET', '/image/v2/images?name=cirros')).body.images[0].id;
    const r = await api('POST', '/compute/v2.1/servers', { server: { name: 'vdpa-vm', imageRef: image, flavorRef: '1', networks: [{ port: portId }] } });
    assert.equal(r.status, 202);
    serverId = r.body.server.id;
    assert.equal((await settled()).status, 'ACTIVE');
  });
  after(async () => {
    for (const h of hosts.values()) await h.agent.stop();
    await ctl?.close();
  });

  test('a destination whose vhost-vdpa chardevs are missing: back on the source with the original device', { timeout: 300_000 }, async () => {
    const before = await snapshot();
    const dest = hosts.get(other(before.host))!;
    for (let n = 0; n < 8; n++) dest.missing.add(`/dev/vhost-vdpa-${n}`);
    try {
      assert.equal((await migrate(dest.name)).status, 202);
      const s = await settled();
      assert.equal(s.status, 'ACTIVE');
      assert.equal(s['OS-EXT-SRV-ATTR:host'], before.host);
    } finally {
      dest.missing.clear();
    }
    const after = await snapshot();
    assert.deepEqual(after.profile, before.profile);
    assert.equal(after.bindingHost, before.host);
    assert.equal(after.xml, before.xml);
    assert.equal(freeCount(await pci(before.host)), 3);
    assert.equal(freeCount(await pci(dest.name)), 5);
    // The guest really has its vDPA NIC again, and nothing stayed on the destination.
    const chardev = /<source dev="([^"]+)"\/>/.exec(after.xml)![1]!;
    assert.deepEqual(hosts.get(before.host)!.driver.pluggedVdpa(serverId), [chardev]);
    assert.deepEqual(hosts.get(before.host)!.driver.vdpaEvents(serverId).slice(-2).map((e) => e.op), ['unplug', 'plug']);
    assert.equal(await dest.driver.status(serverId), null);
    const action = await latestAction();
    assert.equal(action.action, 'live-migration');
    assert.equal(action.result, 'Error');
    assert.match(action.message, /could not start on compute-\d: Unable to open '\/dev\/vhost-vdpa-\d' for vdpa device: No such file or directory/);
    const row = await kysely(ctl.ctx.store).selectFrom('migrations').selectAll().where('instance_uuid', '=', serverId).orderBy('id', 'desc').executeTakeFirst();
    assert.equal(row!.migration_type, 'live-migration');
    assert.equal(row!.status, 'error');
  });

  test('a source that cannot unplug: nothing moves, the destination claim is freed', { timeout: 300_000 }, async () => {
    const before = await snapshot();
    const source = hosts.get(before.host)!;
    source.driver.failDetach = 'internal error: unable to execute QEMU command \'device_del\'';
    try {
      assert.equal((await migrate(null)).status, 202);
      const s = await settled();
      assert.equal(s.status, 'ACTIVE');
      assert.equal(s['OS-EXT-SRV-ATTR:host'], before.host);
    } finally {
      source.driver.failDetach = null;
    }
    const after = await snapshot();
    assert.deepEqual(after.profile, before.profile);
    assert.equal(after.xml, before.xml);
    assert.equal(freeCount(await pci(before.host)), 3);
    assert.equal(freeCount(await pci(other(before.host))), 5);
    assert.match((await latestAction()).message, /unplugging the interfaces on compute-\d failed: internal error/);
  });

  test('after the faults clear, the same migration succeeds: unplug on the source before the plug on the destination', { timeout: 300_000 }, async () => {
    const before = await snapshot();
    assert.equal((await migrate(null)).status, 202);
    const s = await settled();
    const dest = other(before.host);
    assert.equal(s['OS-EXT-SRV-ATTR:host'], dest);
    assert.equal(freeCount(await pci(before.host)), 5);
    assert.equal(freeCount(await pci(dest)), 3);
    assert.equal(await hosts.get(before.host)!.driver.status(serverId), null);
    const after = await snapshot();
    assert.equal(after.bindingHost, dest);
    assert.deepEqual(hosts.get(dest)!.driver.pluggedVdpa(serverId), [/<source dev="([^"]+)"\/>/.exec(after.xml)![1]]);
  });

  test('a hot-plug that fails rolls the attach back: device freed, port unbound, 500 with libvirt\'s message', { timeout: 300_000 }, async () => {
    const host = hosts.get((await snapshot()).host)!;
    const extra = await createPort('extra');
    for (let n = 0; n < 8; n++) host.missing.add(`/dev/vhost-vdpa-${n}`);
    let r;
    try {
      r = await api('POST', `/compute/v2.1/servers/${serverId}/os-interface`, { interfaceAttachment: { port_id: extra.id } }, { 'openstack-api-version': 'compute 2.70' });
    } finally {
      host.missing.clear();
    }
    assert.equal(r.status, 500);
    assert.match(r.body.computeFault.message, /Failed to attach network adapter device to .*Unable to open '\/dev\/vhost-vdpa-\d' for vdpa device/);
    const p = await port(extra.id);
    assert.equal(p.device_id, '');
    assert.deepEqual(p['binding:profile'], {});
    assert.equal(freeCount(await pci(host.name)), 3);
    const s = await settled();
    assert.equal(s.status, 'ACTIVE');
    const list = await api('GET', `/compute/v2.1/servers/${serverId}/os-interface`);
    assert.deepEqual(list.body.interfaceAttachments.map((a: any) => a.port_id), [portId]);
    assert.equal(host.driver.pluggedVdpa(serverId).length, 1);
  });
});
