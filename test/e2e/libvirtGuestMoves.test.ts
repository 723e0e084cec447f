/**
 * Real guests that change definition through a remote libvirt agent
 * (qemu:///system, TCG): resize to the same host (allow_resize_to_same_host)
 * and its confirm (the copy of the pre-resize disk kept until then, removed
 * after), and its revert (that copy booted again: the old size, the data of
 * before the resize, none written since), a cold migration with no other host refused, a snapshot
 * uploaded as a standalone image that boots another server, rebuild with
 * another image, and rescue/unrescue. Each through the real `openstack`
 * client; each checks libvirt's state (virsh, qemu-img) as well as the API's.
 */
import assert from 'node:assert/strict';
import { lockSystemLibvirt } from '../helpers/systemLibvirtLock.js';
import { execFile } from 'node:child_process';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startAllInOneProcess, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import {
  SYSTEM_URI, domstate, eventually, libvirtAgentDirs, makeTinyImage, qemuProcess, reachableTempDir, startLibvirtAgent, virsh,
  type LibvirtAgentDirs,
} from '../helpers/libvirtRig.js';
import { agentPassword, type AgentProcess } from './remoteAgentProcess.js';

const run = promisify(execFile);
const HOST = 'lv-moves';
const domainOf = (id: string) => `instance-${id.slice(0, 8)}`;
/** A pattern written into the guest's disk, to find in the snapshot. */
const MARK = '0x5a';
/** Patterns written into the disk before a resize and during its VERIFY_RESIZE. */
const BEFORE_RESIZE = '0x3c';
const DURING_RESIZE = '0xc3';
const GiB = 1024 ** 3;

/** The disks of a domain as virsh domblklist lists them: [target, source]. */
async function disks(dom: string): Promise<Array<[string, string]>> {
  return (await virsh(SYSTEM_URI, 'domblklist', dom)).split('\n').slice(2)
    .map((l) => l.trim().split(/\s+/) as [string, string]).filter((r) => r.length === 2 && r[0] !== '');
}

async function qemuImgInfo(file: string): Promise<Record<string, unknown>> {
  return JSON.parse((await run('qemu-img', ['info', '-U', '--output=json', file])).stdout) as Record<string, unknown>;
}

/** Whether 64 KiB of the image at `offset` hold the pattern (qemu-io reads through any backing chain). */
async function holdsMark(file: string, format: string, pattern = MARK, offset = 0): Promise<boolean> {
  // qemu-io exits 1 when the pattern is not there.
  const { stdout } = await run('qemu-io', ['-r', '-U', '-f', format, '-c', `read -P ${pattern} ${offset} 64k`, file])
    .catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
  return /read 65536\/65536 bytes/.test(stdout) && !/Pattern verification failed/.test(stdout);
}

describe('real guests moved, snapshotted, rebuilt and rescued through a remote libvirt agent (qemu:///system, TCG)', { timeout: 1_500_000 }, () => {
  let unlockSystemLibvirt: (() => Promise<void>) | undefined;
  let aio: AllInOneProcess;
  let agent: AgentProcess;
  let dirs: LibvirtAgentDirs;
  let work: string;
  const images: Record<string, string> = {};
  const servers: Record<string, string> = {};
  const flavors: Record<string, string> = {};

  const server = async (id: string) => (await aio.api('GET', `/compute/v2.1/servers/${id}`)).body.server;
  /** The instance directory's disk files: the disk and any copy a resize keeps. */
  const diskFiles = async (id: string) => (await readdir(join(dirs.instances, id))).filter((f) => f.startsWith('disk')).sort();
  /** The newest move of the server, with its uuid (2.59). */
  const lastMove = async (id: string) => (await aio.api('GET', `/compute/v2.1/os-migrations?instance_uuid=${id}`, undefined,
    { headers: { 'openstack-api-version': 'compute 2.59' } })).body.migrations[0];
  const domainsNamed = async (dom: string) =>
    (await virsh(SYSTEM_URI, 'list', '--all', '--name')).split('\n').map((n) => n.trim()).filter((n) => n === dom).length;
  const action = async (id: string, body: Record<string, unknown>, status: string) => {
    const r = await aio.api('POST', `/compute/v2.1/servers/${id}/action`, body);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const s = await aio.waitForServer(id, [status, 'ERROR'], 45_000);
    assert.equal(s.status, status, JSON.stringify(s.fault));
  };
  const uploadImage = async (name: string, size: string) => {
    const file = await makeTinyImage(work, `${name}.qcow2`);
    await run('qemu-img', ['resize', '-q', file, size]);
    const created = await aio.openstackJson(['image', 'create', '--file', file, '--disk-format', 'qcow2', '--container-format', 'bare', name]);
    images[name] = created.id;
  };

  before(async () => {
    unlockSystemLibvirt = await lockSystemLibvirt();
    aio = await startAllInOneProcess({ args: ['--no-simulated-hosts'], config: { allow_resize_to_same_host: true } });
    work = await reachableTempDir('vdpa-e2e-moves-');
    dirs = await libvirtAgentDirs(agentPassword(aio.dataDir));
    agent = await startLibvirtAgent(aio.url, HOST, SYSTEM_URI, dirs);
    for (const f of [{ name: 'lv.tiny', ram: 128, disk: 1 }, { name: 'lv.small', ram: 192, disk: 2 }, { name: 'lv.medium', ram: 256, disk: 3 }]) {
      const r = await aio.api('POST', '/compute/v2.1/flavors', { flavor: { ...f, vcpus: 1 } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      flavors[f.name] = r.body.flavor.id;
    }
    await uploadImage('tiny', '16M');
    await uploadImage('other', '32M');
    const created = await aio.openstackJson(['--os-compute-api-version', '2.37', 'server', 'create', '--flavor', 'lv.tiny', '--image', images.tiny!, '--nic', 'none', '--wait', 'lv-moves']);
    servers.main = created.id;
    const s = await server(created.id);
    assert.equal(s.status, 'ACTIVE', JSON.stringify(s.fault));
    assert.equal(await domstate(SYSTEM_URI, domainOf(created.id)), 'running');
  });

  after(async () => {
    for (const id of Object.values(servers)) await virsh(SYSTEM_URI, 'destroy', domainOf(id)).catch(() => undefined);
    for (const id of Object.values(servers)) await virsh(SYSTEM_URI, 'undefine', '--managed-save', domainOf(id)).catch(() => undefined);
    await agent?.stop();
    await aio?.stop();
    for (const d of [work, dirs?.root, dirs?.sysfs]) if (d) await rm(d, { recursive: true, force: true });
    await unlockSystemLibvirt?.();
  });

  test('resize to the same host (allow_resize_to_same_host) and confirm: ACTIVE with the new flavor in one running domain', { timeout: 120_000 }, async () => {
    const id = servers.main!;
    const dom = domainOf(id);
    const disk = join(dirs.instances, id, 'disk');
    const diskBefore = await stat(disk);
    const r = await aio.openstack(['server', 'resize', '--flavor', 'lv.small', id]);
    assert.equal(r.code, 0, r.stderr);
    const resized = await aio.waitForServer(id, ['VERIFY_RESIZE', 'ERROR'], 60_000);
    assert.equal(resized.status, 'VERIFY_RESIZE', JSON.stringify(resized.fault));
    assert.equal(resized['OS-EXT-SRV-ATTR:host'], HOST);
    assert.equal(await domstate(SYSTEM_URI, dom), 'running');
    assert.equal(await domainsNamed(dom), 1, 'one domain on the one host');
    assert.match(await virsh(SYSTEM_URI, 'dominfo', dom), /Max memory:\s+196608 KiB/);
    // Until confirm, a copy of the disk as it was before the resize, beside the grown one (Nova's `<instance>_resize`).
    const backup = `disk.resize-${(await lastMove(id)).uuid}`;
    assert.deepEqual(await diskFiles(id), ['disk', backup]);
    assert.equal((await qemuImgInfo(join(dirs.instances, id, backup)))['virtual-size'], GiB, 'the old flavor\'s root disk');

    const c = await aio.openstack(['server', 'resize', 'confirm', id]);
    assert.equal(c.code, 0, c.stderr);
    const s = await aio.waitForServer(id, ['ACTIVE', 'ERROR'], 45_000);
    assert.equal(s.status, 'ACTIVE', JSON.stringify(s.fault));
    assert.equal(s.flavor.id, flavors['lv.small']);
    assert.equal(s['OS-EXT-STS:task_state'], null);
    assert.equal(await domstate(SYSTEM_URI, dom), 'running');
    assert.equal(await domainsNamed(dom), 1);
    assert.match(await virsh(SYSTEM_URI, 'dominfo', dom), /Max memory:\s+196608 KiB/);
    // The guest keeps its disk (Nova's same-host resize), grown to the new flavor's root disk.
    assert.equal((await stat(disk)).ino, diskBefore.ino, 'the same overlay, not a new one');
    assert.equal((await qemuImgInfo(disk))['virtual-size'], 2 * 1024 ** 3, 'the new flavor\'s root disk');
    assert.equal((await qemuImgInfo(disk))['full-backing-filename'], join(dirs.images, images.tiny!));
    await eventually('the copy of the pre-resize disk to go', async () => (await diskFiles(id)).length === 1, 30_000);
    assert.deepEqual(await diskFiles(id), ['disk'], 'no copy left after confirm');
    const migrations = (await aio.api('GET', `/compute/v2.1/os-migrations?instance_uuid=${id}`)).body.migrations;
    assert.equal(migrations[0].status, 'confirmed');
    assert.equal(migrations[0].dest_compute, HOST);
  });

  test('resize to the same host and revert: the old flavor boots the disk as it was before the resize (its size, its data, nothing written in VERIFY_RESIZE), no copy left', { timeout: 180_000 }, async () => {
    const id = servers.main!;
    const dom = domainOf(id);
    const disk = join(dirs.instances, id, 'disk');
    // Stopped, so that qemu-io may write into the disk before the resize and in VERIFY_RESIZE (QEMU locks a running guest's disk).
    await action(id, { 'os-stop': null }, 'SHUTOFF');
    await run('qemu-io', ['-f', 'qcow2', '-c', `write -P ${BEFORE_RESIZE} 0 64k`, disk]);
    const before = {
      flavor: (await server(id)).flavor.id, size: (await qemuImgInfo(disk))['virtual-size'],
      memory: /Max memory:\s+\d+ KiB/.exec(await virsh(SYSTEM_URI, 'dominfo', dom))?.[0],
    };
    assert.equal((await aio.openstack(['server', 'resize', '--flavor', 'lv.medium', id])).code, 0);
    const resized = await aio.waitForServer(id, ['VERIFY_RESIZE', 'ERROR'], 60_000);
    assert.equal(resized.status, 'VERIFY_RESIZE', JSON.stringify(resized.fault));
    assert.equal(await domstate(SYSTEM_URI, dom), 'shut off');
    assert.match(await virsh(SYSTEM_URI, 'dominfo', dom), /Max memory:\s+262144 KiB/);
    assert.equal((await qemuImgInfo(disk))['virtual-size'], 3 * GiB, 'grown for lv.medium');
    const backup = join(dirs.instances, id, `disk.resize-${(await lastMove(id)).uuid}`);
    assert.equal((await qemuImgInfo(backup))['virtual-size'], before.size);
    await run('qemu-io', ['-f', 'qcow2', '-c', `write -P ${DURING_RESIZE} 64k 64k`, disk]);
    assert.ok(await holdsMark(disk, 'qcow2', DURING_RESIZE, 64 * 1024));

    const r = await aio.openstack(['server', 'resize', 'revert', id]);
    assert.equal(r.code, 0, r.stderr);
    const s = await aio.waitForServer(id, ['SHUTOFF', 'ERROR'], 60_000);
    assert.equal(s.status, 'SHUTOFF', JSON.stringify(s.fault));
    assert.equal(s.flavor.id, before.flavor);
    assert.equal(await domstate(SYSTEM_URI, dom), 'shut off');
    assert.equal(await domainsNamed(dom), 1);
    assert.equal(/Max memory:\s+\d+ KiB/.exec(await virsh(SYSTEM_URI, 'dominfo', dom))?.[0], before.memory);
    // Nova's finish_revert_migration: `<instance>_resize` back, so the disk as it was before the resize.
    assert.equal((await qemuImgInfo(disk))['virtual-size'], before.size, 'the old size');
    assert.ok(await holdsMark(disk, 'qcow2', BEFORE_RESIZE, 0), 'the data of before the resize');
    assert.equal(await holdsMark(disk, 'qcow2', DURING_RESIZE, 64 * 1024), false, 'nothing written in VERIFY_RESIZE');
    assert.equal((await qemuImgInfo(disk))['full-backing-filename'], join(dirs.images, images.tiny!));
    assert.deepEqual(await diskFiles(id), ['disk'], 'the grown disk is gone, the copy is the disk');
    const migrations = (await aio.api('GET', `/compute/v2.1/os-migrations?instance_uuid=${id}`)).body.migrations;
    assert.equal(migrations.find((m: { status: string }) => m.status === 'reverted')?.dest_compute, HOST);

    await action(id, { 'os-start': null }, 'ACTIVE');
    assert.equal(await domstate(SYSTEM_URI, dom), 'running');
  });

  test('a cold migration with no other host is refused (libvirt cannot migrate to itself): the guest runs on untouched', { timeout: 90_000 }, async () => {
    const id = servers.main!;
    const dom = domainOf(id);
    const before = { domid: await virsh(SYSTEM_URI, 'domid', dom), pid: (await qemuProcess(dom)).pid };
    const r = await aio.openstack(['server', 'migrate', id]);
    assert.equal(r.code, 0, r.stderr);
    const migration = async () => (await aio.api('GET', `/compute/v2.1/os-migrations?instance_uuid=${id}&migration_type=migration`)).body.migrations[0];
    const until = Date.now() + 30_000;
    while ((await migration())?.status !== 'error' && Date.now() < until) await new Promise((res) => setTimeout(res, 200));
    assert.equal((await migration()).status, 'error');
    assert.equal((await aio.waitForServer(id, ['ACTIVE'], 20_000))['OS-EXT-STS:task_state'], null);
    const migrate = (await aio.api('GET', `/compute/v2.1/servers/${id}/os-instance-actions`)).body.instanceActions[0];
    assert.equal(migrate.action, 'migrate');
    assert.match(migrate.message, /No valid host was found/);
    assert.deepEqual({ domid: await virsh(SYSTEM_URI, 'domid', dom), pid: (await qemuProcess(dom)).pid }, before);
  });

  test('openstack server image create uploads the flattened disk: a qcow2 without backing file, with the guest\'s data, that boots a new server', { timeout: 180_000 }, async () => {
    const id = servers.main!;
    const dom = domainOf(id);
    const disk = join(dirs.instances, id, 'disk');
    // Data in the overlay (written while the guest is off), which only a flattened image carries.
    await action(id, { 'os-stop': null }, 'SHUTOFF');
    await run('qemu-io', ['-f', 'qcow2', '-c', `write -P ${MARK} 0 64k`, disk]);
    assert.ok(await holdsMark(disk, 'qcow2'));
    assert.equal(await holdsMark(join(dirs.images, images.tiny!), 'qcow2'), false, 'the mark is in the overlay only');
    await action(id, { 'os-start': null }, 'ACTIVE');

    const r = await aio.openstack(['server', 'image', 'create', '--name', 'lv-snap', '--wait', id]);
    assert.equal(r.code, 0, r.stderr);
    const image = (await aio.api('GET', '/image/v2/images?name=lv-snap')).body.images[0];
    assert.equal(image.status, 'active');
    assert.equal(image.disk_format, 'qcow2');
    assert.equal(image.image_type, 'snapshot');
    assert.ok(image.size > 0 && typeof image.checksum === 'string', JSON.stringify(image));
    images.snap = image.id;
    const s = await aio.waitForServer(id, ['ACTIVE'], 20_000);
    assert.equal(s['OS-EXT-STS:task_state'], null);
    // Nova's cold snapshot: saved, flattened, restored.
    assert.match((await domstate(SYSTEM_URI, dom, true))!, /^running \(restored\)/);
    await assert.rejects(stat(join(dirs.instances, 'snapshots', image.id)), { code: 'ENOENT' }, 'the flattened file is gone once uploaded');

    const saved = join(work, 'snap.qcow2');
    const save = await aio.openstack(['image', 'save', '--file', saved, image.id]);
    assert.equal(save.code, 0, save.stderr);
    const info = await qemuImgInfo(saved);
    assert.equal(info.format, 'qcow2');
    assert.equal(info['backing-filename'], undefined, JSON.stringify(info));
    assert.equal(info['full-backing-filename'], undefined);
    assert.equal(info['virtual-size'], 2 * GiB, 'lv.small\'s root disk: the size the revert gave back');
    assert.ok(await holdsMark(saved, 'qcow2'), 'the overlay\'s data is in the image');

    const booted = await aio.openstackJson(['--os-compute-api-version', '2.37', 'server', 'create', '--flavor', 'lv.medium', '--image', image.id, '--nic', 'none', '--wait', 'lv-from-snap']);
    servers.fromSnap = booted.id;
    assert.equal((await server(booted.id)).status, 'ACTIVE');
    assert.equal(await domstate(SYSTEM_URI, domainOf(booted.id)), 'running');
    const bootedDisk = await qemuImgInfo(join(dirs.instances, booted.id, 'disk'));
    assert.equal(bootedDisk['full-backing-filename'], join(dirs.images, image.id));
    assert.ok(await holdsMark(join(dirs.instances, booted.id, 'disk'), 'qcow2'), 'the new server\'s disk has the snapshot\'s data');
    assert.equal((await aio.openstack(['server', 'delete', '--wait', booted.id])).code, 0);
    assert.equal(await domstate(SYSTEM_URI, domainOf(booted.id)), null);
    delete servers.fromSnap;
  });

  test('openstack server rebuild with another image: a new disk on that image, the domain running', { timeout: 120_000 }, async () => {
    const id = servers.main!;
    const dom = domainOf(id);
    const r = await aio.openstack(['server', 'rebuild', '--image', images.other!, '--wait', id]);
    assert.equal(r.code, 0, r.stderr);
    const s = await server(id);
    assert.equal(s.status, 'ACTIVE', JSON.stringify(s.fault));
    assert.equal(s.image.id, images.other);
    assert.equal(await domstate(SYSTEM_URI, dom), 'running');
    assert.equal(await domainsNamed(dom), 1);
    const disk = join(dirs.instances, id, 'disk');
    const info = await qemuImgInfo(disk);
    assert.equal(info['full-backing-filename'], join(dirs.images, images.other!), 'an overlay on the new image');
    assert.equal(await holdsMark(disk, 'qcow2'), false, 'the old disk\'s data is gone');
    assert.deepEqual(await disks(dom), [['vda', disk]]);
  });

  test('openstack server rescue boots the rescue disk with the original attached; unrescue restores the original domain', { timeout: 120_000 }, async () => {
    const id = servers.main!;
    const dom = domainOf(id);
    const disk = join(dirs.instances, id, 'disk');
    const rescueDisk = join(dirs.instances, id, 'disk.rescue');
    const r = await aio.openstack(['server', 'rescue', '--image', images.tiny!, id]);
    assert.equal(r.code, 0, r.stderr);
    const rescued = await aio.waitForServer(id, ['RESCUE', 'ERROR'], 60_000);
    assert.equal(rescued.status, 'RESCUE', JSON.stringify(rescued.fault));
    assert.equal(await domstate(SYSTEM_URI, dom), 'running');
    assert.equal(await domainsNamed(dom), 1);
    assert.deepEqual(await disks(dom), [['vda', rescueDisk], ['vdb', disk]]);
    assert.equal((await qemuImgInfo(rescueDisk))['full-backing-filename'], join(dirs.images, images.tiny!), 'the rescue disk is an overlay on the rescue image');
    const xml = await virsh(SYSTEM_URI, 'dumpxml', dom);
    // The rescue disk boots: vda, the first disk of the domain.
    assert.match(xml, new RegExp(`<source file='${rescueDisk}'[^>]*/>(?:(?!</disk>)[\\s\\S])*<target dev='vda'`));

    const u = await aio.openstack(['server', 'unrescue', id]);
    assert.equal(u.code, 0, u.stderr);
    const back = await aio.waitForServer(id, ['ACTIVE', 'ERROR'], 60_000);
    assert.equal(back.status, 'ACTIVE', JSON.stringify(back.fault));
    assert.equal(await domstate(SYSTEM_URI, dom), 'running');
    assert.deepEqual(await disks(dom), [['vda', disk]]);
    await assert.rejects(stat(rescueDisk), { code: 'ENOENT' }, 'the rescue disk went with the rescue');
    assert.equal((await qemuImgInfo(disk))['full-backing-filename'], join(dirs.images, images.other!), 'the rebuilt disk, kept');
  });

  test('delete leaves no domain and no instance directory', { timeout: 60_000 }, async () => {
    const id = servers.main!;
    assert.equal((await aio.openstack(['server', 'delete', '--wait', id])).code, 0);
    assert.equal(await domstate(SYSTEM_URI, domainOf(id)), null);
    await assert.rejects(stat(join(dirs.instances, id)), { code: 'ENOENT' });
    delete servers.main;
  });
});
