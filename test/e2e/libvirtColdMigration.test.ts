/**
 * Cold migration and resize between two libvirt hosts carry the guest's
 * disk (lifecycle/coldMoveDisk.ts): two libvirtd instances on this machine
 * (test/helpers/libvirtdPair.ts), a remote libvirt agent for each, a TCG
 * guest. Data written into the guest's disk on the source (qemu-io, the
 * guest off) is on the destination's disk after `openstack server migrate`
 * and confirm (the destination's agent down while the source uploads, then
 * restarted); the source keeps no domain and no instance directory, and the
 * controller's transfer blob is gone. A resize to the other host and bigger
 * flavor grows the moved disk; its revert boots the source's own disk again.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startAllInOneProcess, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { startPrivateLibvirtd, type PrivateLibvirtd } from '../helpers/libvirtdPair.js';
import {
  domstate, eventually, libvirtAgentDirs, makeTinyImage, reachableTempDir, startLibvirtAgent, type LibvirtAgentDirs,
} from '../helpers/libvirtRig.js';
import { agentPassword, type AgentProcess } from './remoteAgentProcess.js';

const run = promisify(execFile);
const domainOf = (id: string) => `instance-${id.slice(0, 8)}`;
const MARK = '0x5a';
const SECOND_MARK = '0xc3';
const GiB = 1024 ** 3;

interface Hypervisor { name: string; daemon: PrivateLibvirtd; dirs: LibvirtAgentDirs; agent: AgentProcess }

/** Whether 64 KiB at `offset` hold the pattern (qemu-io reads through any backing chain; -U: the guest may run). */
async function holdsMark(file: string, mark: string, offset = 0): Promise<boolean> {
  const { stdout } = await run('qemu-io', ['-r', '-U', '-f', 'qcow2', '-c', `read -P ${mark} ${offset} 64k`, file])
    .catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
  return /read 65536\/65536 bytes/.test(stdout) && !/Pattern verification failed/.test(stdout);
}

async function qemuImgInfo(file: string): Promise<Record<string, unknown>> {
  return JSON.parse((await run('qemu-img', ['info', '-U', '--output=json', file])).stdout) as Record<string, unknown>;
}

const gone = async (path: string) => stat(path).then(() => false, () => true);

describe('cold migration and resize between two libvirt hosts carry the disk', { timeout: 300_000 }, () => {
  let aio: AllInOneProcess;
  let work: string;
  let imageId: string;
  const flavors: Record<string, string> = {};
  const hosts: Hypervisor[] = [];
  let serverId: string | undefined;

  const server = async () => (await aio.api('GET', `/compute/v2.1/servers/${serverId}`)).body.server;
  const transfers = () => join(aio.dataDir, 'images', 'transfers', serverId!);
  const action = async (body: Record<string, unknown>, status: string) => {
    const r = await aio.api('POST', `/compute/v2.1/servers/${serverId}/action`, body);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const s = await aio.waitForServer(serverId!, [status, 'ERROR'], 60_000);
    assert.equal(s.status, status, JSON.stringify(s.fault));
    return s;
  };
  const settled = (status: string, host: string) => eventually(`${status} on ${host}`, async () => {
    const s = await server();
    return s['OS-EXT-STS:task_state'] === null && (s.status === status || s.status === 'ERROR') ? s : null;
  }, 120_000).then((s) => {
    assert.equal(s.status, status, JSON.stringify(s.fault));
    assert.equal(s['OS-EXT-SRV-ATTR:host'], host);
    return s;
  }).catch(async (e) => {
    throw new Error(`${(e as Error).message}\n${JSON.stringify((await server()).fault ?? null)}\n`
      + hosts.map((h) => `${h.name}: ${h.agent.output().slice(-2000)}`).join('\n'));
  });

  before(async () => {
    aio = await startAllInOneProcess({ args: ['--no-simulated-hosts'] });
    work = await reachableTempDir('vdpa-cm-');
    const password = agentPassword(aio.dataDir);
    const specs = [
      { name: 'cm-a', address: '127.0.0.6', uuid: '6f1d2b7f-8e4c-4d2f-8b66-00000000000a', ports: 49340 },
      { name: 'cm-b', address: '127.0.0.7', uuid: '6f1d2b7f-8e4c-4d2f-8b66-00000000000b', ports: 49360 },
    ];
    for (const s of specs) {
      const daemon = await startPrivateLibvirtd(s.name, s.address, s.uuid, s.ports);
      const dirs = await libvirtAgentDirs(password);
      hosts.push({ name: s.name, daemon, dirs, agent: undefined as unknown as AgentProcess });
      hosts.at(-1)!.agent = await startLibvirtAgent(aio.url, s.name, daemon.uri, dirs, ['--host-ip', s.address]);
    }
    for (const [name, disk] of [['cm.small', 1], ['cm.big', 2]] as const) {
      const flavor = await aio.api('POST', '/compute/v2.1/flavors', { flavor: { name, ram: 128, disk, vcpus: 1 } });
      assert.equal(flavor.status, 200, JSON.stringify(flavor.body));
      flavors[name] = flavor.body.flavor.id as string;
    }
    const image = await aio.api('POST', '/image/v2/images', { name: 'cm-image', disk_format: 'qcow2', container_format: 'bare' });
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

  test('migrate + confirm: the data is on the destination\'s disk, the source has nothing left, the blob is gone; '
    + 'resize to the other host grows the moved disk, and its revert boots the source\'s own disk', { timeout: 280_000 }, async () => {
    const created = await aio.api('POST', '/compute/v2.1/servers', {
      server: { name: 'cm-guest', imageRef: imageId, flavorRef: flavors['cm.small'], networks: 'none' },
    }, { headers: { 'openstack-api-version': 'compute 2.37' } });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    serverId = created.body.server.id as string;
    const booted = await aio.waitForServer(serverId, ['ACTIVE', 'ERROR'], 60_000);
    assert.equal(booted.status, 'ACTIVE', JSON.stringify(booted.fault));
    const first = hosts.find((h) => h.name === booted['OS-EXT-SRV-ATTR:host'])!;
    const second = hosts.find((h) => h !== first)!;
    const dom = domainOf(serverId);
    const diskOn = (h: Hypervisor) => join(h.dirs.instances, serverId!, 'disk');

    // The guest's data: written into its overlay on the first host while it is off.
    await action({ 'os-stop': null }, 'SHUTOFF');
    await run('qemu-io', ['-f', 'qcow2', '-c', `write -P ${MARK} 0 64k`, diskOn(first)]);
    assert.ok(await holdsMark(diskOn(first), MARK));
    await action({ 'os-start': null }, 'ACTIVE');

    // Cold migration to the second host (2.56: --host), its agent down meanwhile (its service still
    // counts as up): the source uploads the disk, and the destination, restarted, picks the move up.
    await second.agent.stop();
    const migrate = await aio.openstack(['--os-compute-api-version', '2.56', 'server', 'migrate', '--host', second.name, serverId]);
    assert.equal(migrate.code, 0, migrate.stderr);
    await eventually('the source to upload the disk', async () => (await readdir(transfers()).catch(() => [])).filter((f) => !f.endsWith('.part')).length === 1, 60_000);
    assert.equal(await domstate(first.daemon.uri, dom), 'shut off');
    assert.equal(await domstate(second.daemon.uri, dom), null);
    assert.equal((await server()).status, 'RESIZE');
    second.agent = await startLibvirtAgent(aio.url, second.name, second.daemon.uri, second.dirs, ['--host-ip', second.daemon.address]);
    await settled('VERIFY_RESIZE', second.name);
    // Until confirm: the source guest is off with its own disk; the blob is on the controller.
    assert.equal(await domstate(first.daemon.uri, dom), 'shut off');
    assert.ok(await holdsMark(diskOn(first), MARK), 'the source keeps its disk until confirm');
    assert.equal((await readdir(transfers())).length, 1, 'one transfer blob while the move waits for confirm');
    assert.equal(await domstate(second.daemon.uri, dom), 'running');
    // The agent API: only the move's destination may download the blob, only its source upload it.
    const [migrationUuid] = await readdir(transfers());
    const blobPath = (h: Hypervisor) => `${aio.url}/agent/v1/hosts/${h.name}/guests/${serverId}/disk-transfers/${migrationUuid}`;
    const token = await aio.token();
    const bySource = await fetch(blobPath(first), { headers: { 'x-auth-token': token } });
    assert.equal(bySource.status, 403, await bySource.text());
    const uploadByDest = await fetch(blobPath(second), {
      method: 'PUT', headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream' }, body: Buffer.from('not the disk'),
    });
    assert.equal(uploadByDest.status, 403, await uploadByDest.text());
    const byDest = await fetch(blobPath(second), { headers: { 'x-auth-token': token } });
    assert.equal(byDest.status, 200);
    assert.equal(Buffer.from(await byDest.arrayBuffer()).length, (await stat(join(transfers(), migrationUuid!))).size);
    const openApi = (await (await fetch(`${aio.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const route = Object.entries(openApi.paths).find(([p]) => p.endsWith('/guests/{uuid}/disk-transfers/{migration}'));
    assert.deepEqual(Object.keys(route?.[1] ?? {}).sort(), ['get', 'put']);
    const confirm = await aio.openstack(['server', 'resize', 'confirm', serverId]);
    assert.equal(confirm.code, 0, confirm.stderr);
    await settled('ACTIVE', second.name);

    assert.equal(await domstate(second.daemon.uri, dom), 'running');
    assert.ok(await holdsMark(diskOn(second), MARK), 'the guest\'s data came along');
    // A standalone disk: no backing file on the destination.
    assert.equal((await qemuImgInfo(diskOn(second)))['backing-filename'], undefined);
    await eventually('the source\'s domain to go', async () => (await domstate(first.daemon.uri, dom)) === null, 30_000);
    await eventually('the source\'s instance directory to go', () => gone(join(first.dirs.instances, serverId!)), 30_000);
    assert.ok(await gone(transfers()), 'the transfer blob is gone after confirm');
    assert.deepEqual(await readdir(join(first.dirs.instances, 'transfers')).catch(() => []), [], 'the source\'s flattened copy is gone');

    // A second mark on the second host's disk, then a resize back to the first host with a bigger flavor.
    await action({ 'os-stop': null }, 'SHUTOFF');
    await run('qemu-io', ['-f', 'qcow2', '-c', `write -P ${SECOND_MARK} 64k 64k`, diskOn(second)]);
    await action({ 'os-start': null }, 'ACTIVE');
    const resize = await aio.openstack(['server', 'resize', '--flavor', flavors['cm.big']!, serverId]);
    assert.equal(resize.code, 0, resize.stderr);
    await settled('VERIFY_RESIZE', first.name);
    assert.equal(await domstate(first.daemon.uri, dom), 'running');
    assert.ok(await holdsMark(diskOn(first), MARK));
    assert.ok(await holdsMark(diskOn(first), SECOND_MARK, 64 * 1024), 'the data written on the second host came along');
    assert.equal((await qemuImgInfo(diskOn(first)))['virtual-size'], 2 * GiB, 'grown to the bigger flavor\'s root disk');
    assert.equal(await domstate(second.daemon.uri, dom), 'shut off');

    // Revert: the second host's own disk boots again, as it was; the first host keeps nothing.
    const revert = await aio.openstack(['server', 'resize', 'revert', serverId]);
    assert.equal(revert.code, 0, revert.stderr);
    await settled('ACTIVE', second.name);
    assert.equal(await domstate(second.daemon.uri, dom), 'running');
    assert.ok(await holdsMark(diskOn(second), MARK));
    assert.ok(await holdsMark(diskOn(second), SECOND_MARK, 64 * 1024), 'the source kept its data');
    assert.equal((await qemuImgInfo(diskOn(second)))['virtual-size'], GiB, 'the source\'s disk as it was');
    await eventually('the reverted destination\'s domain to go', async () => (await domstate(first.daemon.uri, dom)) === null, 30_000);
    await eventually('the reverted destination\'s instance directory to go', () => gone(join(first.dirs.instances, serverId!)), 30_000);
    assert.ok(await gone(transfers()), 'the transfer blob is gone after revert');

    const migrations = (await aio.api('GET', `/compute/v2.1/os-migrations?instance_uuid=${serverId}`, undefined,
      { headers: { 'openstack-api-version': 'compute 2.23' } })).body.migrations;
    assert.deepEqual(migrations.map((m: any) => `${m.migration_type}:${m.status}`).sort(), ['migration:confirmed', 'resize:reverted']);

    assert.equal((await aio.api('DELETE', `/compute/v2.1/servers/${serverId}`)).status, 204);
    await aio.waitForServer(serverId, ['DELETED'], 30_000);
    assert.equal(await domstate(second.daemon.uri, dom), null);
    serverId = undefined;
  });
});
