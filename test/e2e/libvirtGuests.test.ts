/**
 * Real guests end to end: `vdpa-compute serve` (no simulated hosts), a remote
 * `vdpa-compute agent --driver libvirt --libvirt-uri qemu:///system` on this
 * machine (the libvirtd that scripts/ensure-libvirtd.sh starts), and servers
 * made with the real `openstack` client from an image uploaded with it. The
 * guests are TCG QEMU processes with 128 MiB and a qcow2 overlay on a 16 MiB
 * empty image: nothing boots inside, which is all libvirt needs. Every step
 * checks libvirt's state (virsh) as well as the API's.
 */
import assert from 'node:assert/strict';
import { lockSystemLibvirt } from '../helpers/systemLibvirtLock.js';
import { execFile } from 'node:child_process';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { stringify as stringifyYaml } from 'yaml';
import { startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { actionEvents } from '../helpers/settledChecks.js';
import {
  SYSTEM_URI, domstate, eventually, libvirtAgentDirs, makeTinyImage, qemuProcess, reachableTempDir, startLibvirtAgent, virsh,
  type LibvirtAgentDirs,
} from '../helpers/libvirtRig.js';
import { agentPassword, startAgentProcess, type AgentProcess } from './remoteAgentProcess.js';

const run = promisify(execFile);
const HOST = 'lv-e2e';
const domainOf = (id: string) => `instance-${id.slice(0, 8)}`;

/**
 * A server action (the body the client sends), and what the API and libvirt
 * must say after it. (The client takes ~2-5 s a call on this machine kind, so
 * actions go to the API directly; creation and deletion use it.)
 */
const TRANSITIONS: Array<{ action: Record<string, unknown>; status: string; domstate: RegExp }> = [
  { action: { 'os-stop': null }, status: 'SHUTOFF', domstate: /^shut off/ },
  { action: { 'os-start': null }, status: 'ACTIVE', domstate: /^running/ },
  { action: { suspend: null }, status: 'SUSPENDED', domstate: /^shut off \(saved\)/ },
  { action: { resume: null }, status: 'ACTIVE', domstate: /^running \(restored\)/ },
  { action: { pause: null }, status: 'PAUSED', domstate: /^paused \(user\)/ },
  { action: { unpause: null }, status: 'ACTIVE', domstate: /^running \(unpaused\)/ },
  { action: { reboot: { type: 'SOFT' } }, status: 'ACTIVE', domstate: /^running/ },
  { action: { reboot: { type: 'HARD' } }, status: 'ACTIVE', domstate: /^running \(booted\)/ },
];

describe('real guests through a remote libvirt agent (qemu:///system, TCG)', { timeout: 1_500_000 }, () => {
  let unlockSystemLibvirt: (() => Promise<void>) | undefined;
  let aio: AllInOneProcess;
  let agent: AgentProcess;
  let other: AgentProcess | undefined;
  let dirs: LibvirtAgentDirs;
  let work: string;
  let imageId: string;
  let imageFile: string;
  const servers: Record<string, string> = {};

  const server = async (id: string) => (await aio.api('GET', `/compute/v2.1/servers/${id}`)).body.server;
  const createPort = async (name: string, vnicType: string) => {
    const net = (await aio.api('GET', '/network/v2.0/networks?name=vdpa-net')).body.networks[0];
    const r = await aio.api('POST', '/network/v2.0/ports', { port: { name, network_id: net.id, 'binding:vnic_type': vnicType } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.port;
  };
  const showPort = async (id: string) => {
    const p = (await aio.api('GET', `/network/v2.0/ports/${id}`)).body.port;
    return { ...p, binding_host_id: p['binding:host_id'] };
  };
  const freeVdpa = async () => (await aio.pci(HOST)).filter((d) => d.dev_type === 'vdpa' && d.status === 'available').length;

  before(async () => {
    unlockSystemLibvirt = await lockSystemLibvirt();
    aio = await startAllInOneProcess({ args: ['--no-simulated-hosts'] });
    work = await reachableTempDir('vdpa-e2e-');
    dirs = await libvirtAgentDirs(agentPassword(aio.dataDir));
    agent = await startLibvirtAgent(aio.url, HOST, SYSTEM_URI, dirs);
    imageFile = await makeTinyImage(work);
    const flavor = await aio.api('POST', '/compute/v2.1/flavors', { flavor: { name: 'lv.tiny', ram: 128, disk: 1, vcpus: 1 } });
    assert.equal(flavor.status, 200, JSON.stringify(flavor.body));
  });

  after(async () => {
    for (const id of Object.values(servers)) await virsh(SYSTEM_URI, 'destroy', domainOf(id)).catch(() => undefined);
    for (const id of Object.values(servers)) await virsh(SYSTEM_URI, 'undefine', '--managed-save', domainOf(id)).catch(() => undefined);
    await agent?.stop();
    await other?.stop();
    await aio?.stop();
    for (const d of [work, dirs?.root, dirs?.sysfs]) if (d) await rm(d, { recursive: true, force: true });
    await unlockSystemLibvirt?.();
  });

  test('openstack image create --file stores the data with Glance\'s checksums; image save gives it back', { timeout: 30_000 }, async () => {
    const created = await aio.openstackJson(['image', 'create', '--file', imageFile, '--disk-format', 'qcow2', '--container-format', 'bare', 'tiny']);
    imageId = created.id;
    const shown = (await aio.api('GET', `/image/v2/images/${imageId}`)).body;
    const bytes = await readFile(imageFile);
    const { createHash } = await import('node:crypto');
    assert.equal(shown.status, 'active');
    assert.equal(shown.size, bytes.length);
    assert.equal(shown.checksum, createHash('md5').update(bytes).digest('hex'));
    assert.equal(shown.os_hash_algo, 'sha512');
    assert.equal(shown.os_hash_value, createHash('sha512').update(bytes).digest('hex'));
    assert.deepEqual(await readFile(join(aio.dataDir, 'images', imageId)), bytes, 'kept under <data dir>/images');
    const saved = join(work, 'saved.qcow2');
    const r = await aio.openstack(['image', 'save', '--file', saved, imageId]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readFile(saved), bytes);
  });

  test('a server with --nic none boots to ACTIVE in a running TCG QEMU on an overlay of the cached image, and goes through stop/start, suspend/resume, pause/unpause and soft and hard reboot', { timeout: 90_000 }, async () => {
    const created = await aio.openstackJson(['--os-compute-api-version', '2.37', 'server', 'create', '--flavor', 'lv.tiny', '--image', imageId, '--nic', 'none', 'lv-nonic']);
    servers.nonic = created.id;
    const s = await aio.waitForServer(created.id, ['ACTIVE', 'ERROR'], 60_000);
    assert.equal(s.status, 'ACTIVE', JSON.stringify(s.fault));
    assert.equal(s['OS-EXT-SRV-ATTR:host'], HOST);
    const dom = domainOf(created.id);
    assert.equal(await domstate(SYSTEM_URI, dom), 'running');
    const qemu = await qemuProcess(dom);
    assert.match(qemu.cmdline[0]!, /qemu-system-x86_64$/);
    assert.ok(qemu.cmdline.some((a) => /accel=tcg|^tcg$/.test(a)), `a TCG guest: ${qemu.cmdline.join(' ')}`);

    // The disk: a qcow2 overlay on the image the agent fetched once into its cache.
    const disk = join(dirs.instances, created.id, 'disk');
    const info = JSON.parse((await run('qemu-img', ['info', '-U', '--output=json', disk])).stdout);
    assert.equal(info.format, 'qcow2');
    assert.equal(info['full-backing-filename'], join(dirs.images, imageId));
    assert.equal(info['backing-filename-format'], 'qcow2');
    assert.equal(info['virtual-size'], 1024 ** 3, 'as big as the flavor\'s root disk');
    assert.match(await virsh(SYSTEM_URI, 'domblklist', dom), new RegExp(`vda\\s+${disk}`));

    // The domain XML the agent defined is valid for libvirt's schema.
    const { body } = await aio.api('GET', `/compute/v2.1/servers/${created.id}/domain-xml`);
    const xmlFile = join(work, 'nonic.xml');
    await writeFile(xmlFile, body.domain_xml);
    await run('virt-xml-validate', [xmlFile, 'domain']);

    for (const t of TRANSITIONS) {
      const name = Object.keys(t.action)[0]!;
      const r = await aio.api('POST', `/compute/v2.1/servers/${created.id}/action`, t.action);
      assert.equal(r.status, 202, `${name}: ${JSON.stringify(r.body)}`);
      const after = await aio.waitForServer(created.id, [t.status, 'ERROR'], 45_000);
      assert.equal(after.status, t.status, `${name}: ${JSON.stringify(after.fault)}`);
      assert.equal(after['OS-EXT-STS:task_state'], null);
      assert.match((await domstate(SYSTEM_URI, dom, true))!, t.domstate, name);
    }
    assert.equal((await virsh(SYSTEM_URI, 'dominfo', dom)).match(/Managed save:\s+(\w+)/)?.[1], 'no', 'resume consumed the managed save');
  });

  test('a server with a normal port boots with its NIC (ethernet, the port\'s MAC) and the port bound to the host', { timeout: 60_000 }, async () => {
    const port = await createPort('lv-normal-port', 'normal');
    const created = await aio.openstackJson(['server', 'create', '--flavor', 'lv.tiny', '--image', imageId, '--port', port.id, 'lv-port']);
    servers.port = created.id;
    const s = await aio.waitForServer(created.id, ['ACTIVE', 'ERROR'], 60_000);
    assert.equal(s.status, 'ACTIVE', JSON.stringify(s.fault));
    const dom = domainOf(created.id);
    assert.equal(await domstate(SYSTEM_URI, dom), 'running');
    const iflist = await virsh(SYSTEM_URI, 'domiflist', dom);
    assert.match(iflist, new RegExp(`ethernet\\s+-\\s+virtio\\s+${port.mac_address}`));
    const bound = await showPort(port.id);
    assert.equal(bound.binding_host_id, HOST);
    assert.equal(bound.device_id, created.id);
  });

  test('the agent restarted while guests run adopts them: same QEMU processes, no second definition, true state reported', { timeout: 60_000 }, async () => {
    const ids = [servers.nonic!, servers.port!];
    const before = await Promise.all(ids.map(async (id) => ({ domid: await virsh(SYSTEM_URI, 'domid', domainOf(id)), pid: (await qemuProcess(domainOf(id))).pid })));
    await agent.stop();
    agent = await startLibvirtAgent(aio.url, HOST, SYSTEM_URI, dirs);
    // Two heartbeats (with their power-state sync) after the restart's reconcile.
    await new Promise((r) => setTimeout(r, 2500));
    const afterRestart = await Promise.all(ids.map(async (id) => ({ domid: await virsh(SYSTEM_URI, 'domid', domainOf(id)), pid: (await qemuProcess(domainOf(id))).pid })));
    assert.deepEqual(afterRestart, before, 'the guests were not restarted');
    for (const id of ids) assert.equal((await server(id)).status, 'ACTIVE');
    const names = (await virsh(SYSTEM_URI, 'list', '--all', '--name')).split('\n').map((n) => n.trim());
    for (const id of ids) assert.equal(names.filter((n) => n === domainOf(id)).length, 1);
    assert.doesNotMatch(agent.output(), /removing a guest|guest operation failed/);
  });

  test('a guest stopped behind the controller\'s back (virsh destroy) is reported SHUTOFF, and stays off', { timeout: 60_000 }, async () => {
    const id = servers.port!;
    await virsh(SYSTEM_URI, 'destroy', domainOf(id));
    const s = await aio.waitForServer(id, ['SHUTOFF'], 20_000);
    assert.equal(s.status, 'SHUTOFF');
    assert.equal(s['OS-EXT-STS:power_state'], 4);
    // As Nova's sync does it: through the stop operation, recorded as a `stop` action.
    const actions = (await aio.api('GET', `/compute/v2.1/servers/${id}/os-instance-actions`)).body.instanceActions;
    assert.equal(actions[0].action, 'stop');
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(await domstate(SYSTEM_URI, domainOf(id)), 'shut off', 'nothing started it again');
    assert.equal((await server(id)).status, 'SHUTOFF');
    assert.equal((await aio.api('POST', `/compute/v2.1/servers/${id}/action`, { 'os-start': null })).status, 202);
    assert.equal((await aio.waitForServer(id, ['ACTIVE', 'ERROR'], 45_000)).status, 'ACTIVE');
    assert.equal(await domstate(SYSTEM_URI, domainOf(id)), 'running');
  });

  test('openstack server delete leaves no domain, no disk and the port unbound', { timeout: 60_000 }, async () => {
    const ids = [servers.nonic!, servers.port!];
    const portId = (await aio.api('GET', `/network/v2.0/ports?device_id=${servers.port}`)).body.ports[0].id;
    const r = await aio.openstack(['server', 'delete', ...ids]);
    assert.equal(r.code, 0, r.stderr);
    for (const id of ids) {
      await aio.waitForServer(id, ['DELETED'], 45_000);
      assert.equal(await domstate(SYSTEM_URI, domainOf(id)), null, 'no domain left defined');
      await assert.rejects(stat(join(dirs.instances, id)), { code: 'ENOENT' }, 'the instance directory went with it');
      delete servers[id === servers.nonic ? 'nonic' : 'port'];
    }
    const port = await showPort(portId);
    assert.equal(port.binding_host_id, '');
    assert.equal(port.device_id, '');
    await stat(join(dirs.images, imageId)); // the cached image stays for the next guest
  });

  test('a server with a vdpa port fails at start with libvirt\'s own error naming the chardev; claims freed, port unbound, no domain left', { timeout: 90_000 }, async () => {
    assert.equal(await freeVdpa(), 2);
    const port = await createPort('lv-vdpa-port', 'vdpa');
    const created = await aio.openstackJson(['server', 'create', '--flavor', 'lv.tiny', '--image', imageId, '--port', port.id, 'lv-vdpa']);
    servers.vdpa = created.id;
    const s = await aio.waitForServer(created.id, ['ERROR', 'ACTIVE'], 60_000);
    assert.equal(s.status, 'ERROR');
    assert.match(s.fault.message, /Unable to open '\/dev\/vhost-vdpa-[01]' for vdpa device: No such file or directory/);
    assert.equal(await freeVdpa(), 2, 'the host\'s claims are freed');
    const unbound = await showPort(port.id);
    assert.equal(unbound.binding_host_id, '');
    await eventually('the half-built domain to be removed', async () => (await domstate(SYSTEM_URI, domainOf(created.id))) === null, 20_000);
    assert.equal((await aio.api('DELETE', `/compute/v2.1/servers/${created.id}`)).status, 204);
    await aio.waitForServer(created.id, ['DELETED'], 30_000);
    delete servers.vdpa;
  });

  test('an image without data (the bootstrap\'s cirros) fails the build on a libvirt host with a clear fault', { timeout: 60_000 }, async () => {
    const created = await aio.openstackJson(['--os-compute-api-version', '2.37', 'server', 'create', '--flavor', 'lv.tiny', '--image', 'cirros', '--nic', 'none', 'lv-cirros']);
    servers.cirros = created.id;
    const s = await aio.waitForServer(created.id, ['ERROR', 'ACTIVE'], 45_000);
    assert.equal(s.status, 'ERROR');
    assert.match(s.fault.message, /Image [0-9a-f-]+ \(cirros\) has no data/);
    assert.equal(await domstate(SYSTEM_URI, domainOf(created.id)), null);
    assert.equal((await aio.api('DELETE', `/compute/v2.1/servers/${created.id}`)).status, 204);
    await aio.waitForServer(created.id, ['DELETED'], 30_000);
    delete servers.cirros;
  });

  test('with another host available, the vdpa build that libvirt refused goes there (rescheduled), the refusal in its events', { timeout: 90_000 }, async () => {
    // A second (simulated) host, as its own agent process; less RAM, so the libvirt host is still tried first.
    const inventory = join(work, 'other.yaml');
    await writeFile(inventory, stringifyYaml(vdpaHost('lv-other', { vfs: 1, memoryMb: 4096 })));
    other = startAgentProcess(['--controller', aio.url, '--driver', 'simulated', '--inventory', inventory, '--poll-seconds', '1'],
      { VDPA_AGENT_PASSWORD: agentPassword(aio.dataDir) });
    await other.waitFor('compute agent running', 30_000);
    const port = await createPort('lv-vdpa-port-2', 'vdpa');
    const created = await aio.openstackJson(['server', 'create', '--flavor', 'lv.tiny', '--image', imageId, '--port', port.id, 'lv-vdpa-2']);
    servers.vdpa2 = created.id;
    const s = await aio.waitForServer(created.id, ['ACTIVE', 'ERROR'], 60_000);
    assert.equal(s.status, 'ACTIVE', JSON.stringify(s.fault));
    assert.equal(s['OS-EXT-SRV-ATTR:host'], 'lv-other');
    const events = actionEvents(aio.dataDir, created.id).map((e) => [e.host, e.result, e.details]);
    assert.equal(events.length, 2, JSON.stringify(events));
    assert.deepEqual(events[0]!.slice(0, 2), [HOST, 'Error']);
    assert.match(String(events[0]![2]), /Unable to open '\/dev\/vhost-vdpa-[01]' for vdpa device/);
    assert.deepEqual(events[1], ['lv-other', 'Success', null]);
    assert.equal(await freeVdpa(), 2, 'the libvirt host\'s claim went with the reschedule');
    await eventually('the refused domain to be removed from libvirt', async () => (await domstate(SYSTEM_URI, domainOf(created.id))) === null, 20_000);
    assert.equal((await showPort(port.id)).binding_host_id, 'lv-other');
    assert.equal((await aio.api('DELETE', `/compute/v2.1/servers/${created.id}`)).status, 204);
    await aio.waitForServer(created.id, ['DELETED'], 30_000);
    delete servers.vdpa2;
  });
});
