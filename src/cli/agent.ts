/**
 * `agent`: the compute agent as its own process on a hypervisor host. It talks
 * to a controller over HTTP (/agent/v1) with the agents' service credential,
 * through the same ComputeAgent the all-in-one runs in-process.
 *
 * --driver libvirt (default): sysfs discovery + device_spec, guests through libvirt.
 * --driver simulated --inventory FILE: one host of the inventory format (labs, tests).
 * Discovery runs again every --rediscover-seconds and on SIGHUP.
 */
import { readFile, statfs } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { pino, type Logger } from 'pino';
import { parse as parseYaml, stringify } from 'yaml';
import { parseHostInventory, type HostInventoryEntry } from '../domain/inventory/hostInventory.js';
import { CURRENT_SERVICE_VERSION } from '../domain/inventory/serviceVersion.js';
import { DeviceSpecError } from '../domain/pci/deviceSpec.js';
import { ComputeAgent } from '../agent/computeAgent.js';
import { ControllerRejected, HttpControllerLink, type ServiceCredential } from '../agent/httpControllerLink.js';
import { libvirtHostDiscovery } from '../agent/libvirtHost.js';
import { simulatedAgent } from '../agent/simulatedHost.js';
import { parseHttpBaseUrls } from './httpUrl.js';
import type { VirtDriver } from '../agent/drivers/driver.js';
import { readFileSync } from 'node:fs';
import { DEFAULT_LIVE_MIGRATION_URI, LibvirtDriver, libvirtHostVersions } from '../agent/drivers/libvirt/libvirtDriver.js';
import { ImageCache } from '../agent/imageCache.js';
import { AgentConfigFileError, readAgentConfig, withConfigFile } from './agentConfig.js';
import { DEFAULT_INSTANCES_PATH } from '../domain/guest/domainXml.js';
import { CpuSetOptionError, withCpuSets, type CpuSetOptions } from '../domain/numa/cpuSets.js';
import { singleCellTopology, type HostNumaTopology } from '../domain/numa/hostTopology.js';
import { discoverNumaCells } from '../agent/discovery/numa.js';

export const DEFAULT_IMAGE_CACHE = '/var/lib/vdpa-compute/images';

export class AgentConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AgentConfigError';
  }
}

export interface AgentCommandOptions {
  /** As given: each a URL or a comma-separated list (the option may be repeated); required, here or in --config. */
  controller?: string | string[];
  host?: string;
  driver: 'libvirt' | 'simulated';
  inventory?: string;
  libvirtUri: string;
  sysfsRoot: string;
  procRoot: string;
  /** A file, or (from --config) the entries themselves. */
  deviceSpec?: string | unknown[];
  trackSoftwareVdpa: boolean;
  /** A file, or (from --config) the credential itself. */
  credentials?: string | Record<string, unknown>;
  /** PEM file of the CA the controller's HTTPS certificate is checked against. */
  caFile?: string;
  heartbeatSeconds: number;
  rediscoverSeconds: number;
  pollSeconds?: number;
  hostIp?: string;
  instancesPath: string;
  imageCache: string;
  liveMigrationUri?: string;
  /** Nova's [compute] cpu_dedicated_set / cpu_shared_set (CPU lists): replace what discovery or the inventory says. */
  cpuDedicatedSet?: string;
  cpuSharedSet?: string;
  /** A settings file (agentConfig.ts); read by the command, merged under the command line's options. */
  config?: string;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Every --controller URL, checked, in the order given: the link tries them in this order. */
export function controllerUrls(given: string | string[]): string[] {
  try {
    return (Array.isArray(given) ? given : [given]).flatMap((v) => parseHttpBaseUrls(v, '--controller'));
  } catch (e) {
    throw new AgentConfigError((e as Error).message);
  }
}

function positiveSeconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a number of seconds > 0');
  return n;
}

async function readDoc(file: string, what: string): Promise<unknown> {
  try {
    return parseYaml(await readFile(file, 'utf8'));
  } catch (e) {
    throw new AgentConfigError(`${what} ${file}: ${(e as Error).message}`);
  }
}

/**
 * The service credential: a file ({username, password, project_name, domain?},
 * or the same under `auth`, as in clouds.yaml), else VDPA_AGENT_PASSWORD with
 * VDPA_AGENT_USER (default compute-agent) and VDPA_AGENT_PROJECT (default service).
 */
export async function readCredential(
  file: string | Record<string, unknown> | undefined, env: NodeJS.ProcessEnv = process.env,
): Promise<ServiceCredential> {
  if (file !== undefined) {
    let doc = typeof file === 'string' ? await readDoc(file, '--credentials') : file;
    if (doc && typeof doc === 'object' && 'auth' in doc) doc = (doc as { auth: unknown }).auth;
    const d = (doc ?? {}) as Record<string, unknown>;
    const username = d.username ?? d.user;
    const projectName = d.project_name ?? d.project;
    const domain = d.domain ?? d.user_domain_name;
    const where = typeof file === 'string' ? `--credentials ${file}` : 'credentials (--config)';
    if (typeof d.password !== 'string' || d.password === '') throw new AgentConfigError(`${where}: password is required`);
    return {
      username: typeof username === 'string' ? username : 'compute-agent',
      password: d.password,
      projectName: typeof projectName === 'string' ? projectName : 'service',
      ...(typeof domain === 'string' ? { domain } : {}),
    };
  }
  const password = env.VDPA_AGENT_PASSWORD;
  if (!password) throw new AgentConfigError('no service credential: give --credentials FILE or set VDPA_AGENT_PASSWORD');
  return { username: env.VDPA_AGENT_USER || 'compute-agent', password, projectName: env.VDPA_AGENT_PROJECT || 'service' };
}

/** One host of an inventory file: the file's only host, or the one --host names. */
export async function readInventoryHost(file: string, host: string | undefined): Promise<HostInventoryEntry> {
  let doc = await readDoc(file, '--inventory');
  // A file holding one host entry is the same as a list of one.
  if (doc && typeof doc === 'object' && !Array.isArray(doc) && !('hosts' in doc) && 'name' in doc) doc = { hosts: [doc] };
  let hosts: HostInventoryEntry[];
  try {
    hosts = parseHostInventory(stringify(doc), file);
  } catch (e) {
    throw new AgentConfigError((e as Error).message);
  }
  if (host !== undefined) {
    const entry = hosts.find((h) => h.name === host);
    if (!entry) throw new AgentConfigError(`--inventory ${file}: no host named ${host} (it has ${hosts.map((h) => h.name).join(', ') || 'none'})`);
    return entry;
  }
  if (hosts.length !== 1) {
    throw new AgentConfigError(`--inventory ${file}: holds ${hosts.length} hosts; name the one to run with --host`);
  }
  return hosts[0]!;
}

async function readDeviceSpec(file: string | unknown[] | undefined, log: Logger): Promise<unknown[]> {
  if (file === undefined) {
    log.warn('no --device-spec given: no PCI or vDPA device will be offered by this host');
    return [];
  }
  if (Array.isArray(file)) return file;
  let doc = await readDoc(file, '--device-spec');
  if (doc && typeof doc === 'object' && !Array.isArray(doc) && 'device_spec' in doc) doc = (doc as { device_spec: unknown }).device_spec;
  if (!Array.isArray(doc)) throw new AgentConfigError(`--device-spec ${file}: expected a list of device_spec entries`);
  return doc;
}

function firstExternalIpv4(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

async function diskGbAt(paths: string[]): Promise<number> {
  for (const p of paths) {
    try {
      const s = await statfs(p);
      return Math.floor((s.blocks * s.bsize) / 1024 ** 3);
    } catch { /* try the next */ }
  }
  return 0;
}

async function libvirtAgent(o: AgentCommandOptions, link: HttpControllerLink, log: Logger): Promise<{ agent: ComputeAgent; driver: VirtDriver }> {
  const hostAddress = o.hostIp ?? firstExternalIpv4();
  const host = o.host ?? hostname();
  const driver = new LibvirtDriver({
    // The host the domains' ownership metadata names: the agent's own, or it would leave its guests alone.
    uri: o.libvirtUri, hostName: host, instancesPath: o.instancesPath, images: new ImageCache(o.imageCache, link),
    hostAddress, liveMigrationUri: o.liveMigrationUri,
    diskTransfers: { download: (uuid, migration, file) => link.downloadDiskTransfer(host, uuid, migration, file) },
  });
  const node = await (await driver.connection()).nodeInfo();
  if (o.cpuDedicatedSet !== undefined || o.cpuSharedSet !== undefined) {
    // Checked once at start against the CPUs sysfs reports (the NUMA cells, else every CPU libvirt counts).
    const cells = await discoverNumaCells(o.sysfsRoot);
    checkedCpuSets(cells.length ? { cells, cpuDedicatedSet: null, cpuSharedSet: null } : singleCellTopology(node.cpus, Math.floor(node.memoryKiB / 1024)), o);
  }
  const discovery = libvirtHostDiscovery({
    sysfsRoot: o.sysfsRoot,
    ...cpuSetsOfLibvirt(o),
    procRoot: o.procRoot,
    deviceSpec: await readDeviceSpec(o.deviceSpec, log),
    trackSoftwareVdpa: o.trackSoftwareVdpa,
    libvirtVersions: async () => libvirtHostVersions(await driver.connection()),
    log,
  });
  const agent = new ComputeAgent({
    identity: {
      host, serviceVersion: CURRENT_SERVICE_VERSION, hypervisorType: 'QEMU', hostIp: hostAddress,
      vcpus: node.cpus, memoryMb: Math.floor(node.memoryKiB / 1024), diskGb: await diskGbAt(['/var/lib/libvirt', '/']),
    },
    discovery, driver, link,
    log: log.child({ host }),
    heartbeatMs: o.heartbeatSeconds * 1000,
    rediscoverMs: o.rediscoverSeconds * 1000,
    pollMs: pollMs(o),
    powerSync: true,
  });
  return { agent, driver };
}

function cpuSetsOfLibvirt(o: AgentCommandOptions): { cpuDedicatedSet?: string; cpuSharedSet?: string } {
  return { ...(o.cpuDedicatedSet !== undefined ? { cpuDedicatedSet: o.cpuDedicatedSet } : {}), ...(o.cpuSharedSet !== undefined ? { cpuSharedSet: o.cpuSharedSet } : {}) };
}

const CPU_SET_NAMES = { dedicated: '--cpu-dedicated-set', shared: '--cpu-shared-set' };

function cpuSetsOf(o: AgentCommandOptions): CpuSetOptions {
  return { ...(o.cpuDedicatedSet !== undefined ? { dedicated: o.cpuDedicatedSet } : {}), ...(o.cpuSharedSet !== undefined ? { shared: o.cpuSharedSet } : {}) };
}

/** The topology with the agent's CPU sets applied and checked against the host's CPUs. */
export function checkedCpuSets(topology: HostNumaTopology, o: AgentCommandOptions): HostNumaTopology {
  try {
    return withCpuSets(topology, cpuSetsOf(o), CPU_SET_NAMES);
  } catch (e) {
    if (e instanceof CpuSetOptionError) throw new AgentConfigError(e.message);
    throw e;
  }
}

/** A simulated host's entry with the agent's CPU sets in place of the inventory's. */
export function withAgentCpuSets(entry: HostInventoryEntry, o: AgentCommandOptions): HostInventoryEntry {
  if (o.cpuDedicatedSet === undefined && o.cpuSharedSet === undefined) return entry;
  return { ...entry, numa: checkedCpuSets(entry.numa ?? singleCellTopology(entry.vcpus, entry.memoryMb), o) };
}

function pollMs(o: AgentCommandOptions): number | undefined {
  return o.pollSeconds === undefined ? undefined : o.pollSeconds * 1000;
}

export interface RunningAgent {
  agent: ComputeAgent;
  link: HttpControllerLink;
  stop(): Promise<void>;
}

/** Builds the agent the options describe, authenticates (retrying while the controller is down) and starts it. */
export async function runAgent(o: AgentCommandOptions, log: Logger): Promise<RunningAgent> {
  if (o.controller === undefined) throw new AgentConfigError('no controller: give --controller URL or `controller:` in --config');
  const urls = controllerUrls(o.controller);
  const credential = await readCredential(o.credentials);
  let ca: string | undefined;
  if (o.caFile !== undefined) {
    try {
      ca = readFileSync(o.caFile, 'utf8');
    } catch (e) {
      throw new AgentConfigError(`--ca-file ${o.caFile}: ${(e as Error).message}`);
    }
  }
  const link = new HttpControllerLink({
    controllerUrl: urls, credential, log: log.child({ component: 'controller-link' }), ...(ca !== undefined ? { ca } : {}),
  });
  let built: { agent: ComputeAgent; driver: VirtDriver };
  if (o.driver === 'simulated') {
    if (o.inventory === undefined) throw new AgentConfigError('--driver simulated needs --inventory FILE');
    const entry = withAgentCpuSets(await readInventoryHost(o.inventory, o.host), o);
    built = simulatedAgent(entry, link, log, {
      heartbeatMs: o.heartbeatSeconds * 1000, rediscoverMs: o.rediscoverSeconds * 1000, pollMs: pollMs(o),
    });
  } else {
    built = await libvirtAgent(o, link, log);
  }
  // A wrong credential stops us here instead of being retried for ever.
  await link.connect();
  await built.agent.start();
  log.info({ host: built.agent.host, controller: link.controllerUrl, controllers: urls, driver: o.driver }, 'compute agent running');
  return {
    agent: built.agent,
    link,
    async stop() {
      link.close();
      await built.agent.stop();
      await built.driver.close();
    },
  };
}

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('run a compute agent for this host against a controller (over HTTP)')
    .option('--config <file>', 'YAML settings file (keys: the long options with _ for -; the command line wins)')
    .option('--controller <url[,url...]>',
      'the controller\'s base URL, e.g. http://controller:8774; several (comma-separated or repeated) fail over round robin', collect)
    .option('--host <name>', 'this compute host\'s name (default: the system hostname, or the inventory\'s only host)')
    .addOption(new Option('--driver <driver>', 'virt driver').choices(['libvirt', 'simulated']).default('libvirt'))
    .option('--inventory <file>', 'with --driver simulated: a host inventory file (one host, or pick with --host)')
    .option('--libvirt-uri <uri>', 'libvirt connection URI', 'qemu:///system')
    .option('--sysfs-root <dir>', 'sysfs mount point', '/sys')
    .option('--proc-root <dir>', 'procfs mount point (the kernel version is read there)', '/proc')
    .option('--device-spec <file>', 'JSON or YAML list of device_spec entries')
    .option('--track-software-vdpa', 'also report vDPA devices without a PCI VF parent (vdpa_sim)', false)
    .option('--credentials <file>', 'service credential file (else env VDPA_AGENT_PASSWORD, VDPA_AGENT_USER, VDPA_AGENT_PROJECT)')
    .option('--ca-file <file>', 'PEM CA certificate(s) to check the controller\'s HTTPS certificate against (instead of the system\'s)')
    .option('--instances-path <dir>', 'where instance disks are created (libvirt)', DEFAULT_INSTANCES_PATH)
    .option('--image-cache <dir>', 'where images are cached, fetched once from the controller (libvirt)', DEFAULT_IMAGE_CACHE)
    .option('--live-migration-uri <template>', 'how this host reaches a peer\'s libvirtd to live-migrate, %s the peer\'s address', DEFAULT_LIVE_MIGRATION_URI)
    .option('--host-ip <address>', 'the address the controller records for this host (default: the first non-loopback IPv4)')
    .option('--cpu-dedicated-set <cpus>', 'host CPUs guests\' vCPUs are pinned to, a CPU list like 2-15,18-31 (Nova\'s [compute] cpu_dedicated_set; replaces what discovery or the inventory says)')
    .option('--cpu-shared-set <cpus>', 'host CPUs unpinned vCPUs and emulator threads float on, a CPU list (Nova\'s [compute] cpu_shared_set)')
    .option('--heartbeat-seconds <n>', 'seconds between heartbeats', positiveSeconds, 10)
    .option('--rediscover-seconds <n>', 'seconds between device rediscoveries (also on SIGHUP)', positiveSeconds, 60)
    .option('--poll-seconds <n>', 'seconds between polls for work, each a long poll the controller ends early when there is work (at most 30)', positiveSeconds)
    .action(async (given: AgentCommandOptions, cmd: Command) => {
      const log = pino({ level: process.env.VDPA_LOG_LEVEL ?? 'info' });
      let running: RunningAgent;
      try {
        const o = given.config === undefined ? given
          : withConfigFile(given, await readAgentConfig(given.config), (field) => cmd.getOptionValueSource(field) === 'cli');
        running = await runAgent(o, log);
      } catch (e) {
        if (e instanceof AgentConfigError || e instanceof AgentConfigFileError || e instanceof DeviceSpecError || e instanceof ControllerRejected) {
          cmd.error(`error: ${e.message}`, { exitCode: 2 });
        }
        throw e;
      }
      process.on('SIGHUP', () => {
        log.info('SIGHUP: rediscovering devices');
        running.agent.rediscover().catch((err: Error) => log.warn({ err }, 'rediscovery failed'));
      });
      let stopping = false;
      const shutdown = async () => {
        if (stopping) return;
        stopping = true;
        await running.stop();
        process.exit(0);
      };
      process.on('SIGINT', shutdown);
      process.on('SIGTERM', shutdown);
    });
}
