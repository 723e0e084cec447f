/**
 * Live migration through libvirt: two libvirtd instances on this machine
 * (test/helpers/libvirtdPair.ts: own config, sockets, run directory and
 * host_uuid each, on 127.0.0.2 and 127.0.0.3), a remote libvirt agent for
 * each, and a TCG guest without vDPA moved with the real client's
 * `server migrate --live-migration --host`. The destination's agent pulls
 * the guest with migrateToURI3 (peer to peer, its own disk overlay copied
 * incrementally over NBD): the guest keeps running (libvirt: "running
 * (migrated)"), lands on the destination, leaves nothing on the source, and
 * the controller's records follow. A migration that fails first (the
 * destination cannot reach the source's libvirtd) rolls back with the guest
 * running on at the source.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startAllInOneProcess, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { startPrivateLibvirtd, type PrivateLibvirtd } from '../helpers/libvirtdPair.js';
import {
  domstate, eventually, libvirtAgentDirs, makeTinyImage, reachableTempDir, startLibvirtAgent, virsh, type LibvirtAgentDirs,
} from '../helpers/libvirtRig.js';
import { agentPassword, type AgentProcess } from './remoteAgentProcess.js';

const run = promisify(execFile);
const domainOf = (id: string) => `instance-${id.slice(0, 8)}`;

interface Hypervisor { name: string; daemon: PrivateLibvirtd; dirs: LibvirtAgentDirs; agent: AgentProcess }

describe('live migration between two libvirtd instances (TCG guest, migrateToURI3 peer to peer)', { timeout: 180_000 }, () => {
  let aio: AllInOneProcess;
  let work: string;
  let imageId: string;
  let flavorId: string;
  const hosts: Hypervisor[] = [];
  let serverId: string | undefined;

  before(async () => {
    aio = await startAllInOneProcess({ args: ['--no-simulated-hosts'] });
    work = await reachableTempDir('vdpa-lm-');
    const password = agentPassword(aio.dataDir);
    const specs = [
      { name: 'lm-a', address: '127.0.0.2', uuid: '5e0c1a6e-7d3b-4c1e-9a55-00000000000a', ports: 49300 },
      { name: 'lm-b', address: '127.0.0.3', uuid: '5e0c1a6e-7d3b-4c1e-9a55-00000000000b', ports: 49320 },
    ];
    for (const s of specs) {
      const daemon = await startPrivateLibvirtd(s.name, s.address, s.uuid, s.ports);
      const dirs = await libvirtAgentDirs(password);
      hosts.push({ name: s.name, daemon, dirs, agent: undefined as unknown as AgentProcess });
      hosts.at(-1)!.agent = await startLibvirtAgent(aio.url, s.name, daemon.uri, dirs, ['--host-ip', s.address]);
    }
    const flavor = await aio.api('POST', '/compute/v2.1/flavors', { flavor: { name: 'lm.tiny', ram: 128, disk: 1, vcpus: 1 } });
    assert.equal(flavor.status, 200, JSON.stringify(flavor.body));
    // Nova takes a flavor's id in flavorRef (the openstack client resolves names to it).
    flavorId = flavor.body.flavor.id as string;
    const image = await aio.api('POST', '/image/v2/images', { name: 'lm-image', disk_format: 'qcow2', container_format: 'bare' });
    imageId = image.body.id;
    const data = await readFile(await makeTinyImage(work));
    const put = await fetch(`${aio.url}/image/v2/images/${imageId}/file`, {
      method: 'PUT', headers: { 'x-auth-token': await aio.token(), 'content-type': 'application/octet-stream' }, body: data,
    });
    assert.equal(put.status, 204);
  });

  after(async () => {
    if (serverId) await aio?.api('DELETE', `/compute/v2.1/servers/${serverId}`).catch(() => undefined);
    for (const h of hosts) await h.agent?.stop();
    for (const h of hosts) await h.daemon.stop();
    await aio?.stop();
    for (const d of [work, ...hosts.flatMap((h) => [h.dirs.root, h.dirs.sysfs])]) if (d) await rm(d, { recursive: true, force: true });
  });

  test('a migration that fails rolls back; then the guest keeps running, lands on the destination, leaves nothing on the source, and the records follow', { timeout: 150_000 }, async () => {
    const created = await aio.api('POST', '/compute/v2.1/servers', {
      server: { name: 'lm-guest', imageRef: imageId, flavorRef: flavorId, networks: 'none' },
    }, { headers: { 'openstack-api-version': 'compute 2.37' } });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    serverId = created.body.server.id as string;
    const booted = await aio.waitForServer(serverId, ['ACTIVE', 'ERROR'], 60_000);
    assert.equal(booted.status, 'ACTIVE', JSON.stringify(booted.fault));
    const source = hosts.find((h) => h.name === booted['OS-EXT-SRV-ATTR:host'])!;
    const dest = hosts.find((h) => h !== source)!;
    const dom = domainOf(serverId);
    assert.equal(await domstate(source.daemon.uri, dom), 'running');
    assert.equal(await domstate(dest.daemon.uri, dom), null);
    const uuidOf = async (uri: string) => (await virsh(uri, 'capabilities')).match(/<uuid>([^<]+)<\/uuid>/)![1];
    assert.notEqual(await uuidOf(source.daemon.uri), await uuidOf(dest.daemon.uri), 'two hypervisors as libvirt sees them');

    // First a migration that cannot reach the source's libvirtd (the destination's agent given a wrong
    // live_migration_uri): it rolls back, the guest running on the source all along.
    const domid = await virsh(source.daemon.uri, 'domid', dom);
    await dest.agent.stop();
    dest.agent = await startLibvirtAgent(aio.url, dest.name, dest.daemon.uri, dest.dirs,
      ['--host-ip', dest.daemon.address, '--live-migration-uri', 'qemu+tcp://%s:1/system']);
    const refused = await aio.api('POST', `/compute/v2.1/servers/${serverId}/action`,
      { 'os-migrateLive': { host: dest.name, block_migration: 'auto' } }, { headers: { 'openstack-api-version': 'compute 2.30' } });
    assert.equal(refused.status, 202, JSON.stringify(refused.body));
    const back = await eventually('the failed migration to roll back', async () => {
      const s = (await aio.api('GET', `/compute/v2.1/servers/${serverId}`)).body.server;
      return s['OS-EXT-STS:task_state'] === null ? s : null;
    }, 60_000);
    assert.equal(back.status, 'ACTIVE');
    assert.equal(back['OS-EXT-SRV-ATTR:host'], source.name);
    const actions = (await aio.api('GET', `/compute/v2.1/servers/${serverId}/os-instance-actions`)).body.instanceActions;
    assert.equal(actions[0].action, 'live-migration');
    assert.match(actions[0].message, new RegExp(`Live migration of ${serverId} from ${source.name} to ${dest.name} failed: .*`
      + `unable to connect to server at '${source.daemon.address}:1'`));
    const failed = (await aio.api('GET', `/compute/v2.1/os-migrations?instance_uuid=${serverId}`, undefined,
      { headers: { 'openstack-api-version': 'compute 2.23' } })).body.migrations;
    assert.deepEqual(failed.map((m: any) => m.status), ['error']);
    assert.equal(await virsh(source.daemon.uri, 'domid', dom), domid, 'the guest ran on at the source');
    assert.equal(await domstate(dest.daemon.uri, dom), null);
    await eventually('the destination\'s disk to go', async () => (await stat(join(dest.dirs.instances, serverId!)).then(() => false, () => true)), 20_000);
    await dest.agent.stop();
    dest.agent = await startLibvirtAgent(aio.url, dest.name, dest.daemon.uri, dest.dirs, ['--host-ip', dest.daemon.address]);

    const r = await aio.openstack(['--os-compute-api-version', '2.30', 'server', 'migrate', '--live-migration', '--host', dest.name, serverId]);
    assert.equal(r.code, 0, r.stderr);
    const moved = await eventually('the server to settle on the destination', async () => {
      const s = (await aio.api('GET', `/compute/v2.1/servers/${serverId}`)).body.server;
      return s['OS-EXT-STS:task_state'] === null && s['OS-EXT-SRV-ATTR:host'] === dest.name ? s : null;
    }, 90_000).catch(async (e) => {
      throw new Error(`${(e as Error).message}\n${(await aio.api('GET', `/compute/v2.1/servers/${serverId}`)).body.server.fault?.message ?? ''}\n${dest.agent.output().slice(-3000)}`);
    });
    assert.equal(moved.status, 'ACTIVE', JSON.stringify(moved.fault));

    // libvirt: the guest came in by migration (not a fresh boot) and the source has no trace of it.
    assert.equal(await domstate(dest.daemon.uri, dom, true), 'running (migrated)');
    assert.equal(await domstate(source.daemon.uri, dom), null);
    assert.match(await virsh(dest.daemon.uri, 'dominfo', dom), /Persistent:\s+yes/);
    // Its disk on the destination: an overlay on the destination's own copy of the image.
    const disk = join(dest.dirs.instances, serverId, 'disk');
    assert.match(await virsh(dest.daemon.uri, 'domblklist', dom), new RegExp(`vda\\s+${disk}`));
    const info = JSON.parse((await run('qemu-img', ['info', '-U', '--output=json', disk])).stdout);
    assert.equal(info['full-backing-filename'], join(dest.dirs.images, imageId));
    await eventually('the source\'s disk to go', async () => (await stat(join(source.dirs.instances, serverId!)).then(() => false, () => true)), 20_000);

    const migrations = (await aio.api('GET', `/compute/v2.1/os-migrations?instance_uuid=${serverId}`, undefined,
      { headers: { 'openstack-api-version': 'compute 2.23' } })).body.migrations;
    const live = migrations.find((m: any) => m.migration_type === 'live-migration');
    assert.equal(live.status, 'completed');
    assert.equal(live.source_compute, source.name);
    assert.equal(live.dest_compute, dest.name);
    const hypervisors = (await aio.api('GET', '/compute/v2.1/os-hypervisors/detail')).body.hypervisors;
    const used = (name: string) => hypervisors.find((h: any) => h.hypervisor_hostname === name).running_vms;
    assert.equal(used(dest.name), 1);
    assert.equal(used(source.name), 0);

    assert.equal((await aio.api('DELETE', `/compute/v2.1/servers/${serverId}`)).status, 204);
    await aio.waitForServer(serverId, ['DELETED'], 30_000);
    assert.equal(await domstate(dest.daemon.uri, dom), null);
    serverId = undefined;
  });
});
