import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { loadConfig, type Config } from '../config.js';
import { validatePciAliases } from '../domain/pci/request.js';
import { parseHostInventory, type HostInventoryEntry } from '../domain/inventory/hostInventory.js';
import { buildApp } from '../controller/app.js';
import { bootstrap, type BootstrapResult } from '../controller/bootstrap.js';
import type { ControllerContext, HostSignals } from '../controller/context.js';
import type { ControllerLink, WorkWatcher } from '../protocol/agentProtocol.js';
import { createAgentLink } from '../controller/services/agentLink.js';
import { createHostSignals } from '../controller/services/hostSignals.js';
import { createTokenService } from '../controller/services/tokens.js';
import { startOperations } from '../controller/operations/cluster.js';
import { processIdentity } from '../controller/operations/engine.js';
import { clusterLink } from './clusterLink.js';
import { openStore, type Store } from '../storage/db.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ComputeAgent } from '../agent/computeAgent.js';
import { simulatedAgent } from '../agent/simulatedHost.js';
import { readFileSync } from 'node:fs';

export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const DEFAULT_HOSTS_FILE = join(PACKAGE_ROOT, 'config/hosts.default.yaml');

/** Simulated agents started together; the rest wait for the batch to register. */
const AGENT_START_BATCH = 128;

export interface AllInOneOptions {
  host: string;
  port: number;
  dataDir: string;
  databaseUrl?: string;
  hostsFile?: string;
  configFile?: string;
  adminPassword?: string;
  logLevel?: string;
  /**
   * The base URL the identity catalog, links and clouds.yaml advertise (replicas
   * behind a load balancer advertise the balancer); default: the listen address.
   */
  publicUrl?: string;
  /** Start no simulated hosts (a controller for remote agents only). */
  noSimulatedHosts?: boolean;
  /** Serve HTTPS with this PEM certificate (chain) and key; clouds.yaml then names the certificate as `cacert`. */
  tls?: { certFile: string; keyFile: string };
  log?: Logger;
}

export interface AllInOne {
  url: string;
  ctx: ControllerContext;
  app: FastifyInstance;
  agents: ComputeAgent[];
  credentials: BootstrapResult;
  cloudsYaml: string;
  stop(): Promise<void>;
}

export async function readHostsFile(path: string): Promise<HostInventoryEntry[]> {
  return parseHostInventory(await readFile(path, 'utf8'), path);
}

/**
 * A full collection between agent batches of a large fleet. Registering
 * hosts promotes much of its garbage to the old generation (a sampling heap
 * profile puts most of it in the inventory sync's transaction, which holds a
 * host's 65 device rows and statements across awaits, and in the device
 * lists waiting behind it); V8 then lets the old generation grow to ~4x the
 * live size before collecting: 10,000 hosts took the heap to ~210 MB for
 * ~40 MB live, 345 MB peak RSS. Collecting after each batch keeps the startup
 * peak near the live size (~80 collections). Once the agents run, their
 * steady traffic promotes almost nothing, so no collection is forced then.
 */
function fullCollector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/**
 * Host signals for an all-in-one: a host whose agent runs in this process is
 * told directly (a method call on the agent), so its idle agent holds no
 * waiting promise and timer; any other host (a remote agent long-polling
 * /agent/v1) is signalled through the usual waiters.
 */
export function inProcessSignals(base: HostSignals) {
  const watchers = new Map<string, WorkWatcher>();
  const signals: HostSignals = {
    notify(host) {
      const watcher = watchers.get(host);
      if (watcher) watcher.workMayBeWaiting();
      else base.notify(host);
    },
    wait: (host, timeoutMs, signal) => base.wait(host, timeoutMs, signal),
  };
  return {
    signals,
    watches: (host: string) => watchers.has(host),
    wakeAll() {
      for (const watcher of watchers.values()) watcher.workMayBeWaiting();
    },
    watchWork(host: string, watcher: WorkWatcher) {
      watchers.set(host, watcher);
    },
    unwatchWork(host: string, watcher: WorkWatcher) {
      if (watchers.get(host) === watcher) watchers.delete(host);
    },
  };
}

/** The controller and, unless told otherwise, one simulated compute agent per inventory host, in one process. */
export async function startAllInOne(o: AllInOneOptions): Promise<AllInOne> {
  const log = o.log ?? pino({ level: o.logLevel ?? 'info' });
  const config: Config = loadConfig(o.configFile);
  validatePciAliases(config.pci.alias);
  const hosts = o.noSimulatedHosts ? [] : await readHostsFile(o.hostsFile ?? DEFAULT_HOSTS_FILE);
  const databaseUrl = o.databaseUrl ?? join(o.dataDir, 'vdpa-compute.sqlite');
  const store: Store = await openStore(databaseUrl);
  const wakeups = inProcessSignals(createHostSignals());
  // SQLite has one process; PostgreSQL may have several, which must wake each other's agents.
  const cluster = store.dialect === 'postgres' ? clusterLink(databaseUrl, store, wakeups, log) : null;
  const ctx: ControllerContext = {
    store, config, log,
    tokens: createTokenService(store, config.token_ttl_seconds),
    signals: cluster?.signals ?? wakeups.signals,
    publicUrl: `http://${o.host}:${o.port}`,
    // A fixed port names this process the same after a restart, so it takes its own leases back.
    ...(o.port ? { processId: processIdentity(`${o.host}:${o.port}`) } : {}),
  };
  await cluster?.start(ctx);
  const https = o.tls ? { cert: readFileSync(o.tls.certFile, 'utf8'), key: readFileSync(o.tls.keyFile, 'utf8') } : undefined;
  const app = await buildApp(ctx, https ? { https } : {});
  const address = await app.listen({ host: o.host, port: o.port });
  ctx.publicUrl = o.publicUrl ?? address;
  const credentials = await bootstrap(ctx, {
    adminPassword: o.adminPassword, dataDir: o.dataDir, publicUrl: ctx.publicUrl,
    ...(o.tls ? { cacert: resolve(o.tls.certFile) } : {}),
  });

  const link: ControllerLink = { ...createAgentLink(ctx), watchWork: wakeups.watchWork, unwatchWork: wakeups.unwatchWork };
  const heartbeatMs = config.report_interval * 1000;
  const agents: ComputeAgent[] = [];
  const collectGarbage = hosts.length > AGENT_START_BATCH ? fullCollector() : undefined;
  // Bounded batches: starting 10,000 agents at once queued 10,000 registrations
  // and first polls together, and V8 kept the heap that burst grew to.
  for (let i = 0; i < hosts.length; i += AGENT_START_BATCH) {
    const batch = hosts.slice(i, i + AGENT_START_BATCH).map((h) => simulatedAgent(h, link, log, { heartbeatMs }).agent);
    agents.push(...batch);
    await Promise.all(batch.map((a) => a.start()));
    // Registrations resolve promise after promise without a macrotask turn;
    // one turn per batch lets V8's scheduled GC work run before the heap grows.
    await new Promise((r) => setImmediate(r));
    collectGarbage?.();
  }
  const operations = await startOperations(ctx);

  return {
    url: address, ctx, app, agents, credentials, cloudsYaml: join(o.dataDir, 'clouds.yaml'),
    async stop() {
      await operations.stop();
      await Promise.all(agents.map((a) => a.stop()));
      await app.close();
      await cluster?.stop();
      await store.close();
    },
  };
}
