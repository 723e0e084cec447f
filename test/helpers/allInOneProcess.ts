import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { runClient, type CliResult } from './clientCommands.js';

const ROOT = resolve(import.meta.dirname, '../../..');

export type { CliResult } from './clientCommands.js';

export interface AllInOneProcess {
  url: string;
  dataDir: string;
  /** The running `serve` process (a new one after each restart). */
  readonly child: ChildProcess;
  /** Output of every `serve` process so far (restarts included). */
  output(): string;
  /** SIGKILLs `serve` (no shutdown of any kind) and waits for it to be gone. */
  kill(): Promise<void>;
  /** Kills `serve` if it still runs and starts it again on the same port, data directory, inventory and config. */
  restart(): Promise<void>;
  /** Runs the real `openstack` client as admin (default) or demo; never throws on a non-zero exit. */
  openstack(args: string[], opts?: { user?: 'admin' | 'demo'; env?: Record<string, string> }): Promise<CliResult>;
  /** Runs `openstack … -f json` and parses stdout; throws with stderr on failure. */
  openstackJson<T = any>(args: string[], opts?: { user?: 'admin' | 'demo'; env?: Record<string, string> }): Promise<T>;
  /** Runs the `nova` client (used for evacuate). */
  nova(args: string[], opts?: { user?: 'admin' | 'demo'; env?: Record<string, string> }): Promise<CliResult>;
  /** A raw API call with a token of that user. */
  api<T = any>(method: string, path: string, body?: unknown, opts?: { user?: 'admin' | 'demo'; headers?: Record<string, string> }): Promise<{ status: number; body: T }>;
  token(user?: 'admin' | 'demo'): Promise<string>;
  /** Polls a server until its status is one of `statuses` (or the timeout passes). */
  waitForServer(id: string, statuses: string[], timeoutMs?: number): Promise<any>;
  /** The host's devices from os-pci/detail. */
  pci(host: string): Promise<any[]>;
  stop(): Promise<void>;
}

export interface AllInOneProcessOptions {
  /** Host inventory (the `hosts` list); the repo's default file when omitted. */
  hosts?: unknown[];
  /** Operator config (VDPA_CONFIG) as an object. */
  config?: Record<string, unknown>;
  databaseUrl?: string;
  env?: Record<string, string>;
  /** Extra arguments for `serve`. */
  args?: string[];
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
    srv.on('error', rej);
  });
}

/**
 * Starts `vdpa-compute serve` as its own process (exactly as `npm start` does)
 * on a free port with a fresh data directory, and drives it with the real
 * openstack client through the clouds.yaml it writes.
 */
export async function startAllInOneProcess(o: AllInOneProcessOptions = {}): Promise<AllInOneProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), 'vdpa-e2e-'));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, VDPA_PORT: String(port), VDPA_DATA_DIR: dataDir, VDPA_LOG_LEVEL: process.env.VDPA_TEST_LOG ?? 'warn' };
  if (o.hosts) {
    const file = join(dataDir, 'hosts.yaml');
    await writeFile(file, stringify({ hosts: o.hosts }));
    env.VDPA_HOSTS_FILE = file;
  }
  if (o.config) {
    const file = join(dataDir, 'config.yaml');
    await writeFile(file, stringify(o.config));
    env.VDPA_CONFIG = file;
  }
  if (o.databaseUrl) env.VDPA_DATABASE_URL = o.databaseUrl;
  Object.assign(env, o.env ?? {});
  const url = `http://127.0.0.1:${port}`;
  let child!: ChildProcess;
  let earlier = '';
  let output = '';
  const launch = async () => {
    if (output) earlier += `${output}\n--- serve restarted ---\n`;
    output = '';
    const proc = spawn(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), 'serve', ...(o.args ?? [])], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout!.on('data', (d) => { output += String(d); });
    proc.stderr!.on('data', (d) => { output += String(d); });
    const started = Date.now();
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`vdpa-compute serve exited (${proc.exitCode ?? proc.signalCode}):\n${output}`);
      if (output.includes('vdpa-compute is listening')) break;
      if (Date.now() - started > 30_000) {
        proc.kill('SIGKILL');
        throw new Error(`vdpa-compute serve did not start in 30 s:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const killHard = async () => {
    const proc = child;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((res) => proc.once('exit', () => res()));
    proc.kill('SIGKILL');
    await gone;
  };
  await launch();

  const cliEnv = (user: 'admin' | 'demo', extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
    const clean: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OS_')) clean[k] = v;
    return {
      ...clean,
      OS_CLIENT_CONFIG_FILE: join(dataDir, 'clouds.yaml'),
      OS_CLOUD: user === 'admin' ? 'vdpa-compute' : 'vdpa-compute-demo',
      ...extra,
    };
  };
  const tokens = new Map<string, string>();
  const { parse } = await import('yaml');
  const { readFile } = await import('node:fs/promises');
  const clouds = parse(await readFile(join(dataDir, 'clouds.yaml'), 'utf8')) as { clouds: Record<string, { auth: Record<string, string> }> };

  const self: AllInOneProcess = {
    url, dataDir,
    get child() { return child; },
    output: () => earlier + output,
    kill: killHard,
    async restart() {
      await killHard();
      await launch();
    },
    openstack: (args, opts = {}) => runClient('openstack', args, cliEnv(opts.user ?? 'admin', opts.env)),
    async openstackJson(args, opts = {}) {
      const r = await runClient('openstack', [...args, '-f', 'json'], cliEnv(opts.user ?? 'admin', opts.env));
      if (r.code !== 0) throw new Error(`openstack ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
      return JSON.parse(r.stdout);
    },
    // novaclient ignores OS_CLOUD: it gets the same credentials as plain OS_* variables.
    nova: (args, opts = {}) => {
      const auth = clouds.clouds[(opts.user ?? 'admin') === 'admin' ? 'vdpa-compute' : 'vdpa-compute-demo']!.auth;
      return runClient('nova', args, cliEnv(opts.user ?? 'admin', {
        OS_AUTH_URL: auth.auth_url!, OS_USERNAME: auth.username!, OS_PASSWORD: auth.password!,
        OS_PROJECT_NAME: auth.project_name!, OS_USER_DOMAIN_NAME: 'Default', OS_PROJECT_DOMAIN_NAME: 'Default',
        OS_IDENTITY_API_VERSION: '3', ...(opts.env ?? {}),
      }));
    },
    async token(user = 'admin') {
      const cached = tokens.get(user);
      if (cached) return cached;
      const auth = clouds.clouds[user === 'admin' ? 'vdpa-compute' : 'vdpa-compute-demo']!.auth;
      const res = await fetch(`${url}/identity/v3/auth/tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ auth: {
          identity: { methods: ['password'], password: { user: { name: auth.username, domain: { name: 'Default' }, password: auth.password } } },
          scope: { project: { name: auth.project_name, domain: { name: 'Default' } } },
        } }),
      });
      const token = res.headers.get('x-subject-token');
      if (!token) throw new Error(`cannot get a token for ${user}: ${res.status}`);
      tokens.set(user, token);
      return token;
    },
    async api(method, path, body, opts = {}) {
      const headers: Record<string, string> = { 'x-auth-token': await self.token(opts.user ?? 'admin'), ...(opts.headers ?? {}) };
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)) });
      const text = await res.text();
      let parsed: unknown = text;
      try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
      return { status: res.status, body: parsed as any };
    },
    async waitForServer(id, statuses, timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      let last: any;
      while (Date.now() < until) {
        const r = await self.api('GET', `/compute/v2.1/servers/${id}`);
        last = r.body?.server;
        if (r.status === 404 && statuses.includes('DELETED')) return null;
        if (last && statuses.includes(last.status)) return last;
        await new Promise((res) => setTimeout(res, 50));
      }
      throw new Error(`server ${id} did not reach ${statuses.join('/')} (last: ${JSON.stringify(last)?.slice(0, 500)})`);
    },
    async pci(host) {
      const r = await self.api('GET', `/compute/v2.1/os-pci/detail?host=${encodeURIComponent(host)}`);
      if (r.status !== 200) throw new Error(`os-pci/detail failed: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.pci_devices;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await new Promise<void>((res) => {
          const t = setTimeout(() => { child.kill('SIGKILL'); res(); }, 5000);
          child.once('exit', () => { clearTimeout(t); res(); });
        });
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return self;
}

/** Free devices of a host, counted as Nova does (status available). */
export function freeCount(devices: { status: string }[]): number {
  return devices.filter((d) => d.status === 'available').length;
}

/** A host entry like the default inventory's (1 PF 15b3:101d with `vfs` vdpa VFs on physnet0). */
export function vdpaHost(name: string, opts: { vfs?: number; serviceVersion?: number; versions?: Record<string, string>; vcpus?: number; memoryMb?: number } = {}) {
  return {
    name,
    vcpus: opts.vcpus ?? 32,
    memory_mb: opts.memoryMb ?? 131072,
    disk_gb: 1000,
    versions: opts.versions ?? { kernel: '6.1.0', libvirt: '9.0.0', qemu: '7.2.0' },
    ...(opts.serviceVersion !== undefined ? { service_version: opts.serviceVersion } : {}),
    device_spec: [
      { vendor_id: '15b3', product_id: '101d', physical_network: 'physnet0' },
      { vendor_id: '15b3', product_id: '101e', physical_network: 'physnet0' },
    ],
    nics: [{ pf: '0000:06:00.0', vendor_id: '15b3', product_id: '101d', numa_node: 0, vfs: opts.vfs ?? 4, vf_product_id: '101e', vdpa: true }],
  };
}
