/**
 * Two more libvirtd instances on this machine, each its own hypervisor host
 * for libvirt: its own configuration, sockets, run directory, state and
 * host_uuid (libvirt refuses a migration between daemons with one host UUID:
 * "Attempt to migrate guest to the same host"). A privileged libvirtd keeps
 * its paths under /run/libvirt, /var/lib/libvirt, … whatever its config says,
 * so each runs in its own mount namespace with private copies of those
 * directories. They listen on TCP (no auth) on their own loopback address,
 * as hypervisors listen for each other's peer-to-peer migrations, and QEMU's
 * migration and NBD streams go to that address too (qemu.conf migration_host,
 * migration_address, their own port ranges). cgroups are off, so the two
 * daemons cannot clash over the cgroup of a guest that both run during a migration.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, reachableTempDir, virsh } from './libvirtRig.js';

export interface PrivateLibvirtd {
  name: string;
  address: string;
  uri: string;
  hostUuid: string;
  dir: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function startPrivateLibvirtd(name: string, address: string, hostUuid: string, migrationPortMin: number): Promise<PrivateLibvirtd> {
  const dir = await reachableTempDir(`vdpa-libvirtd-${name}-`);
  for (const sub of ['etc', 'lib', 'cache', 'log', 'run']) await mkdir(join(dir, sub), { mode: 0o755 });
  await writeFile(join(dir, 'etc', 'libvirtd.conf'), [
    'listen_tls = 0', 'listen_tcp = 1', `listen_addr = "${address}"`, 'auth_tcp = "none"', 'auth_unix_rw = "none"',
    `host_uuid = "${hostUuid}"`, `log_outputs = "3:file:${join(dir, 'log', 'libvirtd.log')}"`, '',
  ].join('\n'));
  await writeFile(join(dir, 'etc', 'qemu.conf'), [
    'stdio_handler = "file"', 'cgroup_controllers = [ ]', `migration_host = "${address}"`, `migration_address = "${address}"`,
    `migration_port_min = ${migrationPortMin}`, `migration_port_max = ${migrationPortMin + 15}`, '',
  ].join('\n'));
  const mounts = [
    'mount -t tmpfs -o mode=755 tmpfs /run/libvirt',
    `mount --bind ${dir}/etc /etc/libvirt`,
    `mount --bind ${dir}/lib /var/lib/libvirt`,
    `mount --bind ${dir}/cache /var/cache/libvirt`,
    `mount --bind ${dir}/log /var/log/libvirt`,
  ].join(' && ');
  // unshare and sh exec into libvirtd: the child's pid is the daemon's.
  const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c',
    `mkdir -p /run/libvirt /var/cache/libvirt /var/log/libvirt && ${mounts} && exec libvirtd --listen -f /etc/libvirt/libvirtd.conf -p ${dir}/run/libvirtd.pid`,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += String(d); });
  child.stderr!.on('data', (d) => { out += String(d); });
  const uri = `qemu+tcp://${address}/system`;
  try {
    await eventually(`libvirtd ${name} on ${uri}`, async () => {
      if (child.exitCode !== null) throw new Error(`libvirtd ${name} exited (${child.exitCode}): ${out}`);
      return (await virsh(uri, 'version')).includes('libvirt');
    }, 30_000);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return {
    name, address, uri, hostUuid, dir, child,
    async stop() {
      // Its guests' QEMU processes would outlive the daemon.
      const names = (await virsh(uri, 'list', '--all', '--name').catch(() => '')).split('\n').map((n) => n.trim()).filter(Boolean);
      for (const n of names) {
        await virsh(uri, 'destroy', n).catch(() => undefined);
        await virsh(uri, 'undefine', '--managed-save', n).catch(() => undefined);
      }
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise<void>((res) => child.once('exit', () => res()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await gone;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
