/**
 * Devices that come and go, through the whole chain: a sysfs fixture tree
 * changed between rediscoveries -> libvirtHostDiscovery -> ComputeAgent ->
 * HttpControllerLink -> /agent/v1 -> syncInventory -> os-pci/detail.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readlink, realpath, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { pino } from 'pino';
import { ComputeAgent } from '../../src/agent/computeAgent.js';
import { SimulatedDriver } from '../../src/agent/drivers/simulated.js';
import { HttpControllerLink } from '../../src/agent/httpControllerLink.js';
import { libvirtHostDiscovery } from '../../src/agent/libvirtHost.js';
import { startTestController, type TestController } from '../helpers/testController.js';
import { buildSysfs, type FixtureHost } from './discovery/sysfsFixture.js';
import { kysely } from '../helpers/storageAccess.js';

const HOST = 'hv-sysfs';
const PF = '0000:06:00.0';
const vf = (f: number) => `0000:06:00.${f}`;

/** PF with VFs .1-.4; .1 and .2 carry vdpa0/vdpa1, .3 and .4 are plain VFs for now. */
const FIXTURE: FixtureHost = {
  functions: [
    { address: PF, vendor: '15b3', device: '101d', numaNode: 0, totalVfs: 8, netdev: 'enp6s0f0np0' },
    ...[1, 2, 3, 4].map((f) => ({
      address: vf(f), vendor: '15b3', device: '101e', numaNode: 0, physfn: PF,
      ...(f <= 2 ? { vdpa: { name: `vdpa${f - 1}`, chardev: f - 1 } } : {}),
    })),
  ],
};

/** `vdpa dev add` on a VF, bound to vhost_vdpa: the device directory under the VF and its bus entry. */
async function addVdpa(root: string, address: string, name: string, n: number): Promise<void> {
  const vfDir = await realpath(join(root, 'bus/pci/devices', address));
  await mkdir(join(vfDir, name, `vhost-vdpa-${n}`), { recursive: true });
  await writeFile(join(vfDir, name, `vhost-vdpa-${n}`, 'dev'), `507:${n}\n`);
  const at = join(root, 'bus/vdpa/devices', name);
  await mkdir(dirname(at), { recursive: true });
  await symlink(relative(dirname(at), join(vfDir, name)), at);
}

/** `vdpa dev del`. */
async function removeVdpa(root: string, name: string): Promise<void> {
  const link = join(root, 'bus/vdpa/devices', name);
  const dir = await realpath(link);
  await unlink(link);
  await rm(dir, { recursive: true });
}

/** A VF that goes away (fewer sriov_numvfs, or the PF's driver unbound): its vDPA device goes with it. */
async function removeVf(root: string, address: string, vdpaName?: string): Promise<void> {
  if (vdpaName) await removeVdpa(root, vdpaName);
  const link = join(root, 'bus/pci/devices', address);
  const dir = await realpath(link);
  const pfDir = await realpath(join(root, 'bus/pci/devices', PF));
  await unlink(link);
  await rm(dir, { recursive: true });
  for (const i of [0, 1, 2, 3]) {
    const l = join(pfDir, `virtfn${i}`);
    const target = await readlink(l).catch(() => null);
    if (target?.endsWith(address)) await unlink(l);
  }
}

describe('rediscovery through the remote agent chain (sysfs fixture)', () => {
  let c: TestController;
  let root: string;
  let procRoot: string;
  let link: HttpControllerLink;
  let agent: ComputeAgent;
  const chardevs = new Set(['/dev/vhost-vdpa-0', '/dev/vhost-vdpa-1']);

  const pci = async () => {
    const res = await fetch(`${c.url}/compute/v2.1/os-pci/detail?host=${HOST}`, { headers: { 'x-auth-token': await c.token('admin') } });
    assert.equal(res.status, 200);
    return ((await res.json()) as { pci_devices: any[] }).pci_devices;
  };
  const byAddress = async () => new Map((await pci()).map((d) => [d.address, d]));

  before(async () => {
    c = await startTestController();
    root = await buildSysfs(FIXTURE);
    procRoot = await mkdtemp(join(tmpdir(), 'vdpa-proc-'));
    await mkdir(join(procRoot, 'sys/kernel'), { recursive: true });
    await writeFile(join(procRoot, 'sys/kernel/osrelease'), '6.1.0-18-amd64\n');
    const log = pino({ level: process.env.VDPA_TEST_LOG ?? 'silent' });
    link = new HttpControllerLink({
      controllerUrl: c.url, credential: { username: 'compute-agent', password: c.agentPassword, projectName: 'service' }, log,
    });
    agent = new ComputeAgent({
      identity: { host: HOST, serviceVersion: 66, hypervisorType: 'QEMU', hostIp: '192.0.2.9', vcpus: 16, memoryMb: 65536, diskGb: 500 },
      discovery: libvirtHostDiscovery({
        sysfsRoot: root, procRoot, log,
        deviceSpec: [{ vendor_id: '15b3', product_id: '101e', physical_network: 'physnet0' }],
        libvirtVersions: async () => ({ libvirt: '9.0.0', qemu: '7.2.0' }),
      }),
      driver: new SimulatedDriver({ hostName: HOST, availableChardevs: () => chardevs }),
      link, log, heartbeatMs: 500, rediscoverMs: 3_600_000,
    });
    await agent.start();
  });

  after(async () => {
    link?.close();
    await agent?.stop();
    await c?.close();
    await rm(root, { recursive: true, force: true });
    await rm(procRoot, { recursive: true, force: true });
  });

  test('at start: the vdpa VFs and the plain VFs device_spec selects, all available', { timeout: 300_000 }, async () => {
    const devices = await byAddress();
    assert.deepEqual([...devices.keys()].sort(), [vf(1), vf(2), vf(3), vf(4)]);
    assert.equal(devices.get(vf(1)).dev_type, 'vdpa');
    assert.equal(devices.get(vf(2)).dev_type, 'vdpa');
    assert.equal(devices.get(vf(3)).dev_type, 'type-VF');
    assert.ok([...devices.values()].every((d) => d.status === 'available'));
  });

  test('a vDPA device created after start becomes available without a restart', { timeout: 300_000 }, async () => {
    await addVdpa(root, vf(3), 'vdpa2', 2);
    chardevs.add('/dev/vhost-vdpa-2');
    await agent.rediscover();
    const d = (await byAddress()).get(vf(3));
    assert.equal(d.dev_type, 'vdpa');
    assert.equal(d.status, 'available');
  });

  test('a free device that disappears is removed', { timeout: 300_000 }, async () => {
    await removeVf(root, vf(4));
    await agent.rediscover();
    const devices = await byAddress();
    assert.equal(devices.has(vf(4)), false);
    assert.equal(devices.size, 3);
  });

  test('an allocated device that disappears is flagged, keeps its server, and is never handed out again', { timeout: 300_000 }, async () => {
    const demo = await c.token('demo');
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${c.url}${path}`, {
        method, headers: { 'x-auth-token': demo, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: await res.json().catch(() => null) as any };
    };
    const net = (await call('GET', '/network/v2.0/networks?name=vdpa-net')).body.networks[0];
    const image = (await call('GET', '/image/v2/images?name=cirros')).body.images[0];
    const boot = async (name: string) => {
      const port = await call('POST', '/network/v2.0/ports', { port: { network_id: net.id, 'binding:vnic_type': 'vdpa', name } });
      assert.equal(port.status, 201, JSON.stringify(port.body));
      const created = await call('POST', '/compute/v2.1/servers', { server: { name, flavorRef: '1', imageRef: image.id, networks: [{ port: port.body.port.id }] } });
      assert.equal(created.status, 202, JSON.stringify(created.body));
      const id = created.body.server.id as string;
      for (let i = 0; i < 200; i++) {
        const s = (await call('GET', `/compute/v2.1/servers/${id}`)).body.server;
        if (s.status === 'ACTIVE' || s.status === 'ERROR') return s;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`server ${name} did not settle`);
    };

    const first = await boot('uses-vdpa');
    assert.equal(first.status, 'ACTIVE', JSON.stringify(first.fault));
    const held = [...(await byAddress()).values()].find((d) => d.instance_uuid === first.id);
    assert.ok(held, 'no device allocated to the server');
    const heldName = held.address === vf(1) ? 'vdpa0' : held.address === vf(2) ? 'vdpa1' : 'vdpa2';

    await removeVf(root, held.address, heldName);
    await agent.rediscover();
    const gone = (await byAddress()).get(held.address);
    assert.equal(gone.missing, true);
    assert.equal(gone.status, 'allocated');
    assert.equal(gone.instance_uuid, first.id);

    // Two more vdpa servers take the two remaining vdpa devices; the missing one is never chosen.
    const second = await boot('second');
    const third = await boot('third');
    assert.equal(second.status, 'ACTIVE', JSON.stringify(second.fault));
    assert.equal(third.status, 'ACTIVE', JSON.stringify(third.fault));
    const after = await byAddress();
    assert.equal(after.get(held.address).instance_uuid, first.id);
    const fourth = await boot('fourth');
    assert.equal(fourth.status, 'ERROR', 'a server was placed on a device that is gone');

    // Once its server is deleted, the vanished device is not offered again.
    assert.equal((await call('DELETE', `/compute/v2.1/servers/${first.id}`)).status, 204);
    for (let i = 0; i < 200 && (await call('GET', `/compute/v2.1/servers/${first.id}`)).status !== 404; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const released = (await byAddress()).get(held.address);
    assert.ok(released === undefined || released.status !== 'available', `the vanished device is offered again: ${JSON.stringify(released)}`);
    const fifth = await boot('fifth');
    assert.equal(fifth.status, 'ERROR', 'a server was placed on a device that is gone');
  });

  test('rediscovery also runs by itself, periodically', { timeout: 300_000 }, async () => {
    const periodic = new ComputeAgent({
      identity: { host: `${HOST}-p`, serviceVersion: 66, hypervisorType: 'QEMU', hostIp: '192.0.2.10', vcpus: 4, memoryMb: 8192, diskGb: 50 },
      discovery: libvirtHostDiscovery({
        sysfsRoot: root, procRoot, log: pino({ level: 'silent' }),
        deviceSpec: [{ vendor_id: '15b3', product_id: '101e', physical_network: 'physnet0' }],
        libvirtVersions: async () => ({ libvirt: '9.0.0', qemu: '7.2.0' }),
      }),
      driver: new SimulatedDriver({ hostName: `${HOST}-p` }), link, log: pino({ level: 'silent' }), rediscoverMs: 100,
    });
    await periodic.start();
    try {
      const count = async () => (await kysely(c.ctx.store).selectFrom('pci_devices').select('address').where('host', '=', `${HOST}-p`).execute()).length;
      const start = await count();
      assert.ok(start > 0);
      // Any VF still in the tree: on this host nothing holds it, so it is simply removed.
      const present = (await readdir(join(root, 'bus/pci/devices'))).filter((a) => a !== PF).sort();
      const vdpaOf = new Map([[vf(1), 'vdpa0'], [vf(2), 'vdpa1'], [vf(3), 'vdpa2']]);
      await removeVf(root, present[0]!, vdpaOf.get(present[0]!));
      let now = start;
      for (let i = 0; i < 50 && now === start; i++) {
        await new Promise((r) => setTimeout(r, 50));
        now = await count();
      }
      assert.equal(now, start - 1);
    } finally {
      await periodic.stop();
    }
  });
});
