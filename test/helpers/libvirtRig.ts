/**
 * What the end-to-end tests on a real libvirtd share: virsh with a time
 * limit, a tiny qcow2 image made with qemu-img, the directories a libvirt
 * agent writes (QEMU runs as libvirt-qemu and must reach them), and a
 * `vdpa-compute agent --driver libvirt` process.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { buildSysfs, type FixtureHost } from '../agent/discovery/sysfsFixture.js';
import { startAgentProcess, type AgentProcess } from '../e2e/remoteAgentProcess.js';

const run = promisify(execFile);

export const SYSTEM_URI = 'qemu:///system';

/** `virsh -c URI args…`; stdout trimmed. Throws with virsh's stderr on failure. */
export async function virsh(uri: string, ...args: string[]): Promise<string> {
  try {
    const { stdout } = await run('virsh', ['-c', uri, ...args], { timeout: 20_000 });
    return stdout.trim();
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`virsh ${args.join(' ')}: ${(err.stderr ?? err.message).trim()}`);
  }
}

/** virsh's domstate, e.g. "running", "shut off", or null when no such domain is defined. */
export async function domstate(uri: string, domain: string, reason = false): Promise<string | null> {
  try {
    return await virsh(uri, 'domstate', domain, ...(reason ? ['--reason'] : []));
  } catch (e) {
    if (/failed to get domain|Domain not found/.test((e as Error).message)) return null;
    throw e;
  }
}

/** Polls until `check` holds (or fails after timeoutMs with `what`). */
export async function eventually<T>(what: string, check: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The QEMU process of a running domain, from its pid file under libvirt's run directory. */
export async function qemuProcess(domain: string, runDir = '/run/libvirt/qemu'): Promise<{ pid: number; cmdline: string[] }> {
  const pid = Number((await readFile(join(runDir, `${domain}.pid`), 'utf8')).trim());
  const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
  return { pid, cmdline };
}

/** A directory QEMU (user libvirt-qemu) can reach: mkdtemp makes 0700 ones. */
export async function reachableTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await chmod(dir, 0o755);
  return dir;
}

/** A small qcow2 image, as an operator would upload one (nothing in it boots; libvirt does not care). */
export async function makeTinyImage(dir: string, name = 'tiny.qcow2'): Promise<string> {
  const file = join(dir, name);
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', file, '16M'], { timeout: 20_000 });
  return file;
}

/** One PF with two vdpa VFs (chardevs /dev/vhost-vdpa-0 and -1, which this kernel does not have). */
export const VDPA_FIXTURE: FixtureHost = {
  functions: [
    { address: '0000:06:00.0', vendor: '15b3', device: '101d', numaNode: 0, totalVfs: 4 },
    { address: '0000:06:00.2', vendor: '15b3', device: '101e', numaNode: 0, physfn: '0000:06:00.0', vdpa: { name: 'vdpa0', chardev: 0 } },
    { address: '0000:06:00.3', vendor: '15b3', device: '101e', numaNode: 0, physfn: '0000:06:00.0', vdpa: { name: 'vdpa1', chardev: 1 } },
  ],
};

export interface LibvirtAgentDirs {
  root: string;
  sysfs: string;
  proc: string;
  deviceSpec: string;
  credentials: string;
  instances: string;
  images: string;
}

/** What a libvirt agent is given: a sysfs fixture with vdpa VFs, a recent kernel, device_spec, credential, its disk and image dirs. */
export async function libvirtAgentDirs(agentPassword: string): Promise<LibvirtAgentDirs> {
  const root = await reachableTempDir('vdpa-lv-');
  const proc = join(root, 'proc');
  await mkdir(join(proc, 'sys/kernel'), { recursive: true });
  await writeFile(join(proc, 'sys/kernel/osrelease'), '6.1.0-18-amd64\n');
  const deviceSpec = join(root, 'device_spec.yaml');
  await writeFile(deviceSpec, 'device_spec:\n  - {vendor_id: "15b3", product_id: "101e", physical_network: physnet0}\n');
  const credentials = join(root, 'credentials.yaml');
  await writeFile(credentials, `username: compute-agent\npassword: "${agentPassword}"\nproject_name: service\n`);
  return {
    root, proc, deviceSpec, credentials,
    sysfs: await buildSysfs(VDPA_FIXTURE),
    instances: join(root, 'instances'),
    images: join(root, 'images'),
  };
}

/**
 * `vdpa-compute agent --driver libvirt` for `host` on `uri`, started and
 * registered. Its settings are in a --config file as a packaged agent has
 * them (docs/agent.md), the credential and device_spec inline; `extra`
 * options on the command line win over the file.
 */
export async function startLibvirtAgent(controllerUrl: string, host: string, uri: string, dirs: LibvirtAgentDirs, extra: string[] = []): Promise<AgentProcess> {
  const config = join(dirs.root, 'agent.yaml');
  const credential = parseYaml(await readFile(dirs.credentials, 'utf8')) as Record<string, string>;
  await writeFile(config, stringifyYaml({
    controller: [controllerUrl],
    host,
    libvirt_uri: uri,
    credentials: credential,
    device_spec: [{ vendor_id: '15b3', product_id: '101e', physical_network: 'physnet0' }],
    sysfs_root: dirs.sysfs,
    proc_root: dirs.proc,
    instances_path: dirs.instances,
    image_cache: dirs.images,
    heartbeat_seconds: 1,
    poll_seconds: 1,
    rediscover_seconds: 3600,
  }));
  const agent = startAgentProcess(['--config', config, ...extra], { VDPA_AGENT_PASSWORD: '' });
  await agent.waitFor('compute agent running', 30_000);
  return agent;
}
