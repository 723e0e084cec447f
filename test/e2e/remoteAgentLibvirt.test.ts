/**
 * `vdpa-compute agent --driver libvirt` as its own process: host size and
 * versions from libvirt (its test driver, whose QEMU 0.0.2 is below the vDPA
 * minimum), devices from a sysfs fixture through device_spec, and
 * rediscovery on SIGHUP while the fixture changes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, realpath, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestController, type TestController } from '../helpers/testController.js';
import { buildSysfs, type FixtureHost } from '../agent/discovery/sysfsFixture.js';
import { startAgentProcess, type AgentProcess } from './remoteAgentProcess.js';

const HOST = 'hv-libvirt';
const PF = '0000:06:00.0';
const FIXTURE: FixtureHost = {
  functions: [
    { address: PF, vendor: '15b3', device: '101d', numaNode: 0, totalVfs: 8 },
    { address: '0000:06:00.1', vendor: '15b3', device: '101e', numaNode: 0, physfn: PF, vdpa: { name: 'vdpa0', chardev: 0 } },
    { address: '0000:06:00.2', vendor: '15b3', device: '101e', numaNode: 0, physfn: PF, vdpa: { name: 'vdpa1', chardev: 1 } },
    { address: '0000:06:00.3', vendor: '15b3', device: '101e', numaNode: 0, physfn: PF },
  ],
};

describe('vdpa-compute agent --driver libvirt as its own process', () => {
  let c: TestController;
  let agent: AgentProcess;
  let root: string;
  let dir: string;

  const pci = async () => {
    const res = await fetch(`${c.url}/compute/v2.1/os-pci/detail?host=${HOST}`, { headers: { 'x-auth-token': await c.token('admin') } });
    return ((await res.json()) as { pci_devices: any[] }).pci_devices;
  };
  const until = async (what: string, check: () => Promise<boolean>) => {
    for (let i = 0; i < 200; i++) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting for ${what}\n${agent.output()}`);
  };

  before(async () => {
    c = await startTestController();
    root = await buildSysfs(FIXTURE);
    dir = await mkdtemp(join(tmpdir(), 'vdpa-agent-'));
    await mkdir(join(dir, 'proc/sys/kernel'), { recursive: true });
    await writeFile(join(dir, 'proc/sys/kernel/osrelease'), '6.1.0-18-amd64\n');
    await writeFile(join(dir, 'device_spec.yaml'), 'device_spec:\n  - {vendor_id: "15b3", product_id: "101e", physical_network: physnet0}\n');
    await writeFile(join(dir, 'credentials.yaml'), `username: compute-agent\npassword: "${c.agentPassword}"\nproject_name: service\n`);
    agent = startAgentProcess([
      '--controller', c.url, '--host', HOST, '--libvirt-uri', 'test:///default',
      '--sysfs-root', root, '--proc-root', join(dir, 'proc'), '--device-spec', join(dir, 'device_spec.yaml'),
      '--credentials', join(dir, 'credentials.yaml'), '--host-ip', '192.0.2.33', '--rediscover-seconds', '3600',
    ], { VDPA_AGENT_PASSWORD: '' });
    await agent.waitFor('compute agent running');
  });

  after(async () => {
    await agent?.stop();
    await c?.close();
    await rm(root, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  });

  test('registers with libvirt\'s host size and versions; below the QEMU minimum it offers no vdpa and says why, once', { timeout: 300_000 }, async () => {
    const res = await fetch(`${c.url}/compute/v2.1/os-hypervisors/detail`, { headers: { 'x-auth-token': await c.token('admin') } });
    const node = ((await res.json()) as any).hypervisors.find((h: any) => h.hypervisor_hostname === HOST);
    assert.ok(node, 'the host is not registered');
    assert.equal(node.hypervisor_type, 'QEMU');
    assert.equal(node.host_ip, '192.0.2.33');
    assert.equal(node.vcpus, 16); // libvirt's test driver: 16 CPUs, 3 GiB
    assert.equal(node.memory_mb, 3072);
    assert.deepEqual(node.host_versions, { kernel: '6.1.0-18-amd64', libvirt: '9.0.0', qemu: '0.0.2' });
    assert.match(node.vdpa_unsupported_reason, /QEMU 5\.1 or newer \(host has 0\.0\.2\)/);

    const devices = await pci();
    assert.deepEqual(devices.map((d) => [d.address, d.dev_type]), [['0000:06:00.3', 'type-VF']]);
    const lines = agent.output().split('\n').filter((l) => l.includes('QEMU 5.1'));
    assert.equal(lines.length, 1, lines.join('\n'));
  });

  test('SIGHUP rediscovers at once: a VF freed of its vDPA device appears, a vanished VF is removed', { timeout: 300_000 }, async () => {
    // vdpa dev del vdpa0: VF .1 is now a plain VF, which this host may offer.
    const link = join(root, 'bus/vdpa/devices/vdpa0');
    const vdpaDir = await realpath(link);
    await unlink(link);
    await rm(vdpaDir, { recursive: true });
    // VF .3 goes away.
    const vfLink = join(root, 'bus/pci/devices/0000:06:00.3');
    const vfDir = await realpath(vfLink);
    await unlink(vfLink);
    await rm(vfDir, { recursive: true });

    agent.child.kill('SIGHUP');
    await until('the rediscovered devices', async () => {
      const devices = await pci();
      return JSON.stringify(devices.map((d) => d.address)) === JSON.stringify(['0000:06:00.1']);
    });
    const [d] = await pci();
    assert.equal(d.dev_type, 'type-VF');
    assert.equal(d.status, 'available');
    assert.equal(agent.child.exitCode, null);
    assert.equal(agent.output().split('\n').filter((l) => l.includes('QEMU 5.1')).length, 1, 'the reason was logged again');
  });
});
