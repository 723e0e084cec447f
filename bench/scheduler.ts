/**
 * `npm run bench:scheduler`: the scheduling decision alone (candidates,
 * filters, weighers and the claim of one vdpa device) at 1,000 and 10,000
 * hosts of 1 PF + 64 vdpa VFs, for a plain vdpa guest and for an NFV guest
 * (pinned CPUs, 1 GiB pages, required PCI NUMA affinity) on hosts of two
 * NUMA cells:
 *  - memory: the controller's CandidateIndex, selectHosts, the index's
 *    reserve and settle around an in-memory claim (allocateDevice, poolDeltas);
 *  - database: scheduleAndClaim, exactly as a build calls it, on a SQLite
 *    store filled through the controller's own registerHost/syncInventory.
 * Then the controller's peak RSS with 10,000 such hosts registered (the
 * all-in-one in its own process). One JSON line per figure, then a summary.
 */
import { Command, InvalidArgumentError } from 'commander';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { simulatedDiscovery } from '../src/agent/simulatedHost.js';
import { DEFAULT_CONFIG } from '../src/config.js';
import type { ControllerContext } from '../src/controller/context.js';
import { resourceRequestFor } from '../src/controller/lifecycle/resources.js';
import { CandidateIndex } from '../src/controller/services/candidateIndex.js';
import { CANDIDATE_INDEX_RELOAD_MS, scheduleAndClaim } from '../src/controller/services/scheduler.js';
import { generateInventory, type HostInventoryEntry } from '../src/domain/inventory/hostInventory.js';
import type { HostDevice } from '../src/domain/pci/device.js';
import type { PoolDelta } from '../src/domain/pci/pools.js';
import { requestForPort } from '../src/domain/pci/request.js';
import { selectHosts } from '../src/domain/scheduling/pipeline.js';
import type { ResourceRequest } from '../src/domain/scheduling/types.js';
import { openStore } from '../src/storage/db.js';
import { syncInventory } from '../src/storage/devices/deviceWrites.js';
import { registerHost } from '../src/storage/repositories/hosts.js';
import { startController } from './lib/controllerProcess.js';
import { JsonClient } from './lib/http.js';
import { generatedInventoryJson } from './lib/inventoryFile.js';
import { MemoryInventory } from './lib/memoryInventory.js';
import { round } from './lib/stats.js';
import { machineReferenceMs } from './lib/machineReference.js';
import { asUnit } from '../test/helpers/storageAccess.js';

function count(v: string): number {
  const n = Number.parseInt(v, 10);
  if (!Number.isInteger(n) || n < 0 || String(n) !== v.trim()) throw new InvalidArgumentError('must be a whole number');
  return n;
}

const program = new Command()
  .name('bench:scheduler')
  .description('scheduling decisions per second, in memory and with the database, at 1,000 and 10,000 hosts')
  .option('--hosts <list>', 'comma-separated host counts', '1000,10000')
  .option('--vfs <n>', 'vdpa VFs per host', count, 64)
  .option('--decisions <n>', 'decisions measured per figure', count, 5000)
  .option('--concurrency <n>', 'database decisions in flight at once, as concurrent API requests put them (1: one after another)', count, 32)
  .option('--requests <list>', 'which requests to measure: plain, numa or both (comma-separated)', 'plain,numa')
  .option('--no-database', 'only the in-memory figures')
  .option('--rss-hosts <n>', 'hosts for the controller RSS figure (0 skips it)', count, 10000)
  .option('--cpu-prof <dir>', 'write a V8 CPU profile of each database figure\'s measured decisions to this directory');

const log = (msg: string) => process.stderr.write(`[bench:scheduler] ${msg}\n`);
const emit = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

const FLAVOR = { id: '1', name: 'm1.tiny', vcpus: 1, ram: 512, disk: 1, ephemeral: 0, swap: 0, extra_specs: {} };

/** An NFV guest (issue 15): 2 pinned vCPUs, 2 GiB in 1 GiB pages, its vdpa device required on its own cell. */
const NUMA_FLAVOR = {
  id: '2', name: 'nfv.small', vcpus: 2, ram: 2048, disk: 1, ephemeral: 0, swap: 0,
  extra_specs: { 'hw:cpu_policy': 'dedicated', 'hw:mem_page_size': '1GB', 'hw:pci_numa_affinity_policy': 'required' },
};

function vdpaRequest(): ResourceRequest {
  const pci = requestForPort({ id: randomUUID(), vnicType: 'vdpa', physicalNetwork: 'physnet0' })!;
  return resourceRequestFor(FLAVOR, [pci]);
}

function numaVdpaRequest(): ResourceRequest {
  const pci = requestForPort({ id: randomUUID(), vnicType: 'vdpa', physicalNetwork: 'physnet0' })!;
  const request = resourceRequestFor(NUMA_FLAVOR, [pci]);
  if (!request.numa) throw new Error('the NUMA flavor gave no NUMA topology');
  return request;
}

/** The two requests measured: a plain vdpa guest on the plain fleet, an NFV guest on a fleet of two-cell hosts. */
const KINDS = [
  { kind: 'plain', request: vdpaRequest, numaCells: false },
  { kind: 'numa', request: numaVdpaRequest, numaCells: true },
] as const;

/** The garbage of the setup (the inventory, the other figure) is collected before a figure's measured loop, when node runs with --expose-gc. */
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

async function devicesOf(entry: HostInventoryEntry) {
  return (await simulatedDiscovery(entry).devices()).devices;
}

/**
 * The decision as scheduleAndClaim makes it from a warm index, in memory: the
 * controller's own CandidateIndex (fed from an in-memory IndexSource of the
 * simulated inventory) gives the candidates, selectHosts picks, the index
 * reserves the host, the claim runs on the in-memory inventory with the
 * domain's rules, and its exact pool changes settle the reservation. Not
 * here: the transaction, the aggregate directory (no zone is asked for), and
 * reloadIfOld (the index is loaded once before the loop; its reload is
 * the database's read, on its own schedule).
 */
async function memoryFigure(inventory: HostInventoryEntry[], decisions: number, makeRequest: () => ResourceRequest) {
  let id = 0;
  const config = DEFAULT_CONFIG;
  const store = new MemoryInventory(Date.now());
  for (const entry of inventory) {
    const devices: HostDevice[] = (await devicesOf(entry)).map((d) => ({
      ...d, id: ++id, host: entry.name, status: 'available', instanceUuid: null, missing: false,
    }));
    store.add({
      host: entry.name, devices, vcpus: entry.vcpus, memoryMb: entry.memoryMb, diskGb: entry.diskGb, numa: entry.numa,
      ratios: { cpu: config.cpu_allocation_ratio, ram: config.ram_allocation_ratio, disk: config.disk_allocation_ratio },
    });
  }
  const index = new CandidateIndex(store.source, { reloadMs: CANDIDATE_INDEX_RELOAD_MS });
  await index.reload();
  const limit = config.scheduler_candidate_limit;
  const serviceDownTime = 86_400; // as the database figure: the figure is the decision, not liveness
  const decide = (request: ResourceRequest, instanceUuid: string): string | null => {
    const candidates = index.size > limit ? index.candidates(request, limit, serviceDownTime, Date.now()) : null;
    if (!candidates) throw new Error('the candidate index cannot answer this request');
    const best = selectHosts(candidates, request).ranked[0];
    if (!best) return null;
    const reservation = index.reserve(best.host, request);
    let poolChanges: PoolDelta[];
    try {
      poolChanges = store.claim(best.host, request, instanceUuid);
    } catch (e) {
      index.cancel(reservation);
      throw e;
    }
    // As scheduleAndClaim: a NUMA claim's cells' usage settles the entry too.
    index.settle(reservation, poolChanges, request.numa ? store.numaUsage(best.host) : undefined);
    return best.host;
  };
  const requests = Array.from({ length: decisions + 1000 }, makeRequest);
  for (let i = 0; i < 1000; i++) decide(requests[i]!, randomUUID()); // warm-up
  const uuids = Array.from({ length: decisions }, () => randomUUID());
  collectGarbage();
  const cpu = process.cpuUsage();
  const t = performance.now();
  let placed = 0;
  for (let i = 0; i < decisions; i++) if (decide(requests[1000 + i]!, uuids[i]!)) placed += 1;
  const ms = performance.now() - t;
  return { placed, ms, cpuMs: cpuMsSince(cpu) };
}

/** Profiles only what `work` does (not the registration before it): the figure's own time, for bench/profile.ts. */
async function profiled<T>(file: string | undefined, work: () => Promise<T>): Promise<T> {
  if (!file) return work();
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await work();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(file, JSON.stringify(profile));
    session.disconnect();
    log(`CPU profile written to ${file}`);
  }
}

async function databaseFigure(inventory: HostInventoryEntry[], decisions: number, concurrency: number, makeRequest: () => ResourceRequest, profileFile?: string) {
  const dir = await mkdtemp(join(tmpdir(), 'vdpa-bench-sched-'));
  const store = await openStore(join(dir, 'vdpa-compute.sqlite'));
  try {
    const ratios = { cpu: DEFAULT_CONFIG.cpu_allocation_ratio, ram: DEFAULT_CONFIG.ram_allocation_ratio, disk: DEFAULT_CONFIG.disk_allocation_ratio };
    let t = performance.now();
    for (const entry of inventory) {
      await registerHost(asUnit(store.db), {
        host: entry.name, serviceVersion: entry.serviceVersion, hypervisorType: 'QEMU', hostIp: entry.hostIp,
        vcpus: entry.vcpus, memoryMb: entry.memoryMb, diskGb: entry.diskGb, versions: entry.versions, vdpaUnsupportedReason: null,
        numaTopology: entry.numa ?? null,
      }, ratios);
      await syncInventory(asUnit(store.db), entry.name, await devicesOf(entry));
    }
    const registerMs = performance.now() - t;
    log(`${inventory.length} hosts registered in the database in ${Math.round(registerMs)} ms`);
    // No agent heartbeats here: registering 10,000 hosts takes longer than
    // service_down_time, and down hosts would be filtered out (the figure is
    // the decision, not liveness).
    const ctx = {
      store, config: { ...DEFAULT_CONFIG, service_down_time: 86_400 }, log: pino({ level: 'silent' }),
    } as unknown as ControllerContext;
    const decide = async () => {
      const uuid = randomUUID();
      const outcome = await scheduleAndClaim(ctx, makeRequest(), { consumer: uuid, instanceUuid: uuid }, async () => {});
      return outcome.placed;
    };
    // `concurrency` decisions in flight, as that many concurrent creates put them: the controller
    // runs them one after another, but those asked for together share one commit.
    const run = async (n: number) => {
      let started = 0;
      let placed = 0;
      await Promise.all(Array.from({ length: Math.max(1, concurrency) }, async () => {
        while (started < n) {
          started += 1;
          if (await decide()) placed += 1;
        }
      }));
      return placed;
    };
    await run(500); // warm-up
    collectGarbage();
    return await profiled(profileFile, async () => {
      const cpu = process.cpuUsage();
      const start = performance.now();
      const placed = await run(decisions);
      const ms = performance.now() - start;
      return { placed, ms, registerMs, cpuMs: cpuMsSince(cpu) };
    });
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function rssFigure(hosts: number, vfs: number) {
  const dir = await mkdtemp(join(tmpdir(), 'vdpa-bench-rss-'));
  const hostsFile = join(dir, 'hosts.json');
  await writeFile(hostsFile, generatedInventoryJson(hosts, vfs));
  const t = Date.now();
  const controller = await startController({ VDPA_DATA_DIR: dir, VDPA_HOSTS_FILE: hostsFile });
  try {
    const api = new JsonClient(controller.url, 1);
    const { readFile } = await import('node:fs/promises');
    const { parse } = await import('yaml');
    const clouds = parse(await readFile(join(dir, 'clouds.yaml'), 'utf8')) as { clouds: Record<string, { auth: Record<string, string> }> };
    const auth = clouds.clouds['vdpa-compute']!.auth;
    const r = await api.call('POST', '/identity/v3/auth/tokens', { auth: {
      identity: { methods: ['password'], password: { user: { name: auth.username, domain: { name: 'Default' }, password: auth.password } } },
      scope: { project: { name: auth.project_name, domain: { name: 'Default' } } },
    } });
    api.token = String(r.headers['x-subject-token']);
    const h = await api.call('GET', '/compute/v2.1/os-hypervisors');
    const registered = h.body.hypervisors.length as number;
    const startupMs = Date.now() - t;
    // Let a heartbeat round pass: the figure is the steady state too, not only the start.
    await new Promise((res) => setTimeout(res, 12_000));
    api.close();
    return { registered, startupMs, rssMb: await controller.peakRssMb() };
  } finally {
    await controller.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

program.action(async (o: { hosts: string; requests: string; vfs: number; decisions: number; concurrency: number; database: boolean; rssHosts: number; cpuProf?: string }) => {
  if (o.cpuProf) await mkdir(o.cpuProf, { recursive: true });
  const summary: Record<string, unknown> = { vfs_per_host: o.vfs, decisions: o.decisions, concurrency: o.concurrency };
  const referenceBefore = machineReferenceMs();
  const kinds = o.requests.split(',').map((s) => s.trim());
  const unknown = kinds.filter((k) => !KINDS.some((x) => x.kind === k));
  if (unknown.length > 0) throw new InvalidArgumentError(`unknown request kind(s) ${unknown.join(', ')}: plain or numa`);
  const sizes = o.hosts.split(',').map((s) => count(s.trim())).filter((n) => n > 0);
  for (const hosts of sizes) {
    for (const { kind, request, numaCells } of KINDS.filter((k) => kinds.includes(k.kind))) {
      const inventory = generateInventory({ hosts, vfsPerHost: o.vfs, numaCells });
      const mem = await memoryFigure(inventory, o.decisions, request);
      const memRate = round((mem.placed * 1000) / mem.ms, 0);
      emit({ figure: 'memory', request: kind, hosts, vfs_per_host: o.vfs, decisions: mem.placed, decisions_per_s: memRate, us_per_decision: round((mem.ms * 1000) / o.decisions, 1), cpu_us_per_decision: round((mem.cpuMs * 1000) / o.decisions, 1) });
      summary[`memory_${kind === 'plain' ? '' : `${kind}_`}${hosts}_per_s`] = memRate;
      if (!o.database) continue;
      const profile = o.cpuProf && join(o.cpuProf, kind === 'plain' ? `database-${hosts}.cpuprofile` : `database-${kind}-${hosts}.cpuprofile`);
      const db = await databaseFigure(inventory, o.decisions, o.concurrency, request, profile);
      const dbRate = round((db.placed * 1000) / db.ms, 0);
      emit({ figure: 'database', request: kind, backend: 'sqlite', hosts, vfs_per_host: o.vfs, concurrency: o.concurrency, decisions: db.placed, decisions_per_s: dbRate, us_per_decision: round((db.ms * 1000) / o.decisions, 1), cpu_us_per_decision: round((db.cpuMs * 1000) / o.decisions, 1), register_hosts_ms: Math.round(db.registerMs) });
      summary[`database_${kind === 'plain' ? '' : `${kind}_`}${hosts}_per_s`] = dbRate;
    }
    // The NUMA request's cost against the plain one's (issue 15: within 2x).
    if (kinds.length < 2) continue;
    const ratio = (plain: unknown, numa: unknown) => round(Number(plain) / Number(numa), 2);
    summary[`memory_numa_${hosts}_slowdown`] = ratio(summary[`memory_${hosts}_per_s`], summary[`memory_numa_${hosts}_per_s`]);
    if (o.database) summary[`database_numa_${hosts}_slowdown`] = ratio(summary[`database_${hosts}_per_s`], summary[`database_numa_${hosts}_per_s`]);
  }
  if (o.rssHosts > 0) {
    const rss = await rssFigure(o.rssHosts, o.vfs);
    emit({ figure: 'controller_rss', hosts: o.rssHosts, vfs_per_host: o.vfs, registered: rss.registered, startup_ms: rss.startupMs, controller_rss_mb: rss.rssMb });
    summary.controller_rss_mb = rss.rssMb;
    summary.rss_hosts = o.rssHosts;
  }
  summary.machine_reference_ms = { before: referenceBefore, after: machineReferenceMs() };
  emit({ summary });
});
program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`bench:scheduler: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
