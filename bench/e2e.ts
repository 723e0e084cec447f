/**
 * `npm run bench`: the all-in-one in its own process with H simulated hosts
 * of 1 PF + V vdpa VFs, S servers with one vdpa port each created over the
 * real HTTP API by C concurrent clients, all ACTIVE, checked against
 * os-pci/detail, then deleted. The last line printed is one JSON object.
 */
import { Command, InvalidArgumentError } from 'commander';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { startController, type ControllerProcess } from './lib/controllerProcess.js';
import { JsonClient, runConcurrently } from './lib/http.js';
import { generatedInventoryJson } from './lib/inventoryFile.js';
import { createBenchDatabase } from './lib/postgres.js';
import { perSecond, quantile, round } from './lib/stats.js';
import { machineReferenceMs } from './lib/machineReference.js';

function positive(v: string): number {
  const n = Number.parseInt(v, 10);
  if (!Number.isInteger(n) || n < 1 || String(n) !== v.trim()) throw new InvalidArgumentError('must be a positive whole number');
  return n;
}

const program = new Command()
  .name('bench')
  .description('end-to-end benchmark: create, boot and delete servers with a vdpa port over the HTTP API')
  .option('--hosts <n>', 'simulated compute hosts', positive, 1000)
  .option('--vfs <n>', 'vdpa VFs per host (one PF each)', positive, 64)
  .option('--servers <n>', 'servers to create', positive, 5000)
  .option('--concurrency <n>', 'concurrent API clients', positive, 32)
  .option('--backend <kind>', 'sqlite or postgres', (v) => {
    if (v !== 'sqlite' && v !== 'postgres') throw new InvalidArgumentError('must be sqlite or postgres');
    return v;
  }, 'sqlite')
  .option('--cpu-prof <dir>', 'write a V8 CPU profile of the controller process into <dir>')
  .option('--timeout <s>', 'give up waiting for ACTIVE or deletion after this many seconds', positive, 600);

interface Options { hosts: number; vfs: number; servers: number; concurrency: number; backend: 'sqlite' | 'postgres'; cpuProf?: string; timeout: number }

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function token(api: JsonClient, dataDir: string): Promise<string> {
  const clouds = parseYaml(await readFile(join(dataDir, 'clouds.yaml'), 'utf8')) as { clouds: Record<string, { auth: Record<string, string> }> };
  const auth = clouds.clouds['vdpa-compute']!.auth;
  const r = await api.call('POST', '/identity/v3/auth/tokens', { auth: {
    identity: { methods: ['password'], password: { user: { name: auth.username, domain: { name: 'Default' }, password: auth.password } } },
    scope: { project: { name: auth.project_name, domain: { name: 'Default' } } },
  } });
  const t = r.headers['x-subject-token'];
  if (r.status !== 201 || typeof t !== 'string') throw new Error(`token request failed: ${r.status} ${JSON.stringify(r.body)}`);
  return t;
}

async function expectStatus(api: JsonClient, method: string, path: string, body: unknown, status: number): Promise<any> {
  const r = await api.call(method, path, body);
  if (r.status !== status) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body).slice(0, 500)}`);
  return r.body;
}

async function waitForHosts(api: JsonClient, hosts: number, deadline: number): Promise<void> {
  for (;;) {
    const r = await api.call('GET', '/compute/v2.1/os-hypervisors');
    const n = r.status === 200 ? r.body.hypervisors.length : -1;
    if (n >= hosts) return;
    if (Date.now() > deadline) throw new Error(`only ${n} of ${hosts} hosts registered`);
    await sleep(200);
  }
}

async function run(o: Options): Promise<Record<string, unknown>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'vdpa-bench-'));
  const hostsFile = join(dataDir, 'hosts.json');
  await writeFile(hostsFile, generatedInventoryJson(o.hosts, o.vfs));
  const database = o.backend === 'postgres' ? await createBenchDatabase() : null;
  let controller: ControllerProcess | null = null;
  let api: JsonClient | null = null;
  const referenceBefore = machineReferenceMs();
  try {
    const env: Record<string, string> = { VDPA_DATA_DIR: dataDir, VDPA_HOSTS_FILE: hostsFile };
    if (database) env.VDPA_DATABASE_URL = database.url;
    const started = Date.now();
    controller = await startController(env, o.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProf] : []);
    api = new JsonClient(controller.url, o.concurrency);
    api.token = await token(api, dataDir);
    await waitForHosts(api, o.hosts, Date.now() + 600_000);
    const startupMs = Date.now() - started;
    log(`${o.hosts} hosts registered in ${startupMs} ms (${o.backend})`);
    const figures = await measure(o, api, controller);
    return { ...figures, startup_ms: startupMs, machine_reference_ms: { before: referenceBefore, after: machineReferenceMs() } };
  } finally {
    api?.close();
    await controller?.stop();
    await database?.drop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function measure(o: Options, api: JsonClient, controller: ControllerProcess): Promise<Record<string, unknown>> {
  let errors = 0;
  const fail = (what: string) => {
    errors += 1;
    if (errors <= 10) log(`error: ${what}`);
  };

  // Nova's and Neutron's default quotas (10 servers, 500 ports) would stop the run: the admin project is unlimited.
  const project = (await expectStatus(api, 'GET', '/identity/v3/projects?name=admin', undefined, 200)).projects[0].id;
  await expectStatus(api, 'PUT', `/compute/v2.1/os-quota-sets/${project}`, { quota_set: { instances: -1, cores: -1, ram: -1 } }, 200);
  await expectStatus(api, 'PUT', `/network/v2.0/quotas/${project}`, { quota: { port: -1, network: -1, subnet: -1 } }, 200);

  // vdpa-net's /24 holds 253 ports: the servers get a provider network of their own.
  const net = (await expectStatus(api, 'POST', '/network/v2.0/networks', { network: {
    name: 'bench-net', shared: true, 'provider:physical_network': 'physnet0', 'provider:network_type': 'vlan',
  } }, 201)).network;
  await expectStatus(api, 'POST', '/network/v2.0/subnets', { subnet: {
    name: 'bench-subnet', network_id: net.id, ip_version: 4, cidr: '10.128.0.0/9',
  } }, 201);
  const image = (await expectStatus(api, 'GET', '/image/v2/images?name=cirros', undefined, 200)).images[0];
  const flavorRef = '1'; // m1.tiny: RAM is never what runs out first

  const portIds: string[] = new Array(o.servers);
  let t = Date.now();
  await runConcurrently(o.servers, o.concurrency, async (i) => {
    const r = await api.call('POST', '/network/v2.0/ports', { port: { network_id: net.id, name: `bench-port-${i}`, 'binding:vnic_type': 'vdpa' } });
    if (r.status !== 201) throw new Error(`port create: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    portIds[i] = r.body.port.id;
  });
  const portsPerS = perSecond(o.servers, Date.now() - t);
  log(`${o.servers} ports created (${portsPerS}/s)`);

  // Create: each client posts its next server as soon as the previous one is accepted.
  const latencies: number[] = [];
  const serverIds: string[] = [];
  const cpuBefore = await controller.cpuMs();
  const firstPost = Date.now();
  await runConcurrently(o.servers, o.concurrency, async (i) => {
    const sent = performance.now();
    const r = await api.call('POST', '/compute/v2.1/servers', { server: {
      name: `bench-${i}`, imageRef: image.id, flavorRef, networks: [{ port: portIds[i] }],
    } });
    latencies.push(performance.now() - sent);
    if (r.status === 202) serverIds.push(r.body.server.id);
    else fail(`create ${i}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  });
  const acceptedAt = Date.now();
  log(`${serverIds.length} servers accepted in ${acceptedAt - firstPost} ms`);

  // Wait for ACTIVE. launched_at is stamped in the same transaction that makes a
  // server ACTIVE, so the last ACTIVE time does not depend on the poll interval.
  const deadline = Date.now() + o.timeout * 1000;
  let servers: any[] = [];
  for (;;) {
    const r = await api.call('GET', '/compute/v2.1/servers/detail?all_tenants=1');
    servers = r.status === 200 ? r.body.servers : [];
    const settled = servers.filter((s) => s.status === 'ACTIVE' || s.status === 'ERROR').length;
    if (settled >= serverIds.length) break;
    if (Date.now() > deadline) {
      fail(`only ${settled} of ${serverIds.length} servers settled in ${o.timeout} s`);
      break;
    }
    await sleep(250);
  }
  const observedActiveAt = Date.now();
  const cpuCreate = (await controller.cpuMs()) - cpuBefore;
  const mine = new Set(serverIds);
  let lastActive = 0;
  for (const s of servers) {
    if (!mine.has(s.id)) continue;
    if (s.status !== 'ACTIVE') {
      fail(`server ${s.id} is ${s.status}: ${JSON.stringify(s.fault ?? null).slice(0, 300)}`);
      continue;
    }
    lastActive = Math.max(lastActive, Date.parse(`${s['OS-SRV-USG:launched_at']}Z`));
  }
  if (!lastActive) lastActive = observedActiveAt;
  log(`all servers settled; last ACTIVE ${lastActive - firstPost} ms after the first POST (observed at ${observedActiveAt - firstPost} ms)`);

  // Every server holds exactly one vdpa device, and no device is shared.
  const pci = (await expectStatus(api, 'GET', '/compute/v2.1/os-pci/detail', undefined, 200)).pci_devices as any[];
  const allocated = pci.filter((d) => d.dev_type === 'vdpa' && d.status === 'allocated');
  const holders = new Set(allocated.map((d) => d.instance_uuid));
  if (allocated.length !== serverIds.length) fail(`${allocated.length} vdpa devices allocated for ${serverIds.length} servers`);
  if (holders.size !== allocated.length) fail(`${allocated.length - holders.size} vdpa devices share a server`);
  for (const id of serverIds) if (!holders.has(id)) fail(`server ${id} holds no vdpa device`);
  const hostsUsed = new Set(allocated.map((d) => d.host)).size;

  // Delete, then wait until the list is empty.
  const firstDelete = Date.now();
  await runConcurrently(serverIds.length, o.concurrency, async (i) => {
    const r = await api.call('DELETE', `/compute/v2.1/servers/${serverIds[i]}`);
    if (r.status !== 204) fail(`delete ${serverIds[i]}: ${r.status}`);
  });
  for (;;) {
    const r = await api.call('GET', '/compute/v2.1/servers?all_tenants=1');
    const left = r.status === 200 ? r.body.servers.filter((s: { id: string }) => mine.has(s.id)).length : -1;
    if (left === 0) break;
    if (Date.now() > deadline + o.timeout * 1000) {
      fail(`${left} servers still present after deletion`);
      break;
    }
    await sleep(100);
  }
  const goneAt = Date.now();
  const freed = (await expectStatus(api, 'GET', '/compute/v2.1/os-pci/detail', undefined, 200)).pci_devices as any[];
  const stillHeld = freed.filter((d) => d.status === 'allocated' || d.status === 'claimed').length;
  if (stillHeld > 0) fail(`${stillHeld} devices still held after every server was deleted`);

  latencies.sort((a, b) => a - b);
  return {
    hosts: o.hosts,
    vfs_per_host: o.vfs,
    servers: o.servers,
    concurrency: o.concurrency,
    backend: o.backend,
    create_per_s: perSecond(serverIds.length, acceptedAt - firstPost),
    active_per_s: perSecond(serverIds.length, lastActive - firstPost),
    create_latency_ms: { p50: round(quantile(latencies, 0.5)), p99: round(quantile(latencies, 0.99)) },
    delete_per_s: perSecond(serverIds.length, goneAt - firstDelete),
    controller_rss_mb: await controller.peakRssMb(),
    errors,
    ports_per_s: portsPerS,
    // Controller CPU per server from the first POST until all were seen ACTIVE (polling included):
    // less sensitive than rates to other work on the machine.
    controller_cpu_ms_per_server: round(cpuCreate / Math.max(1, serverIds.length), 2),
    hosts_used: hostsUsed,
  };
}

program.action(async (o: Options) => {
  const result = await run(o);
  process.stdout.write(`${JSON.stringify(result)}\n`);
});
program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
