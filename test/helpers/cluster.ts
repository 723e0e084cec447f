/**
 * Several `vdpa-compute serve` processes on one fresh PostgreSQL database,
 * with remote simulated agents (`vdpa-compute agent`) as processes attached
 * to chosen controllers: for tests of what crosses processes and of
 * controllers killed mid-operation.
 *
 *   const cluster = await startCluster({ controllers: 2 });
 *   after(() => cluster.stop());             // kills every process, drops the database
 *   const agent = await cluster.startAgent(vdpaHost('compute-r'), { controller: 1 });
 *   // or { controller: [0, 1] }: --controller A,B, failing over to B when A dies
 *   const id = await cluster.bootServer(cluster.controllers[0]!, 'vm-1');
 *   await cluster.controllers[1]!.waitForServer(id, ['ACTIVE']);
 *   await cluster.controllers[0]!.kill();    // SIGKILL
 *   await cluster.controllers[0]!.restart(); // same port and data dir
 *
 * Every child is also killed when the test process exits, however it exits;
 * databases such runs left behind (a test process killed) are dropped by the
 * next cluster once they are an hour old and nobody is connected to them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { stringify } from 'yaml';
import { freePort } from './allInOneProcess.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const MAIN = join(ROOT, 'dist/src/cli/main.js');
const POSTGRES = 'postgres://postgres@127.0.0.1:5432';
const DB_PREFIX = 'vdpa_cluster_';
/** A database of a dead run is dropped only when this old (its name carries its creation time). */
const STALE_DB_SECONDS = 3600;
/** Output kept per process: enough for a failure message, bounded for long runs at log level info. */
const MAX_OUTPUT = 1 << 20;

export interface ApiResult<T = any> {
  status: number;
  body: T;
}

/** A child process whose output is kept and can be waited on. */
export interface Watched {
  child: ChildProcess;
  /** What it printed (stdout and stderr, across restarts; the last MiB or so). */
  output(): string;
  /** A position in its output, for waitFor's `since`. */
  mark(): number;
  /** Resolves when its output after `since` (a mark(); default: all of it) contains `text`; rejects after timeoutMs or when it exits. */
  waitFor(text: string | RegExp, timeoutMs?: number, since?: number): Promise<void>;
  readonly running: boolean;
}

export interface ControllerProcess extends Watched {
  /** 0-based position in the cluster. */
  index: number;
  url: string;
  port: number;
  dataDir: string;
  /** A raw API call with an admin token from this process's identity API. */
  api<T = any>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResult<T>>;
  token(): Promise<string>;
  /** Polls a server through this process until its status is one of `statuses` ('DELETED': gone). */
  waitForServer(id: string, statuses: string[], timeoutMs?: number): Promise<any>;
  /** Kills the process (SIGKILL unless told) and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port, data dir and settings (kills it first if it runs). */
  restart(): Promise<void>;
  /** SIGTERM, then SIGKILL after 5 s. */
  stop(): Promise<void>;
}

export interface AgentProcess extends Watched {
  host: string;
  /** The controller it talks to now (with several: the first it was given). */
  controller: ControllerProcess;
  /** Every controller it was given (--controller URL,URL...), in order. */
  controllers: ControllerProcess[];
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again, on another controller (or list of them) if named. */
  restart(opts?: { controller?: number | number[] }): Promise<void>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Controller processes (default 2); the first bootstraps the database, then the others start together. */
  controllers?: number;
  /** Operator settings (VDPA_CONFIG) for every controller. */
  config?: Record<string, unknown>;
  /** Extra environment for every controller. */
  env?: Record<string, string>;
  /** VDPA_LOG_LEVEL of the controllers (default VDPA_TEST_LOG, else warn). */
  logLevel?: string;
  /** How long a controller or agent may take to start (default 30 s). */
  startTimeoutMs?: number;
}

export interface AgentOptions {
  /**
   * Index of the controller it attaches to; several indexes: `--controller URL,URL...`
   * in that order, so it fails over to the next when one dies (docs/agent.md).
   */
  controller: number | number[];
  /** --poll-seconds: its fallback poll and long-poll timeout (default: the agent's own). */
  pollSeconds?: number;
  /** --heartbeat-seconds (default 1, so a restarted controller sees it up at once). */
  heartbeatSeconds?: number;
  /** VDPA_LOG_LEVEL (default info: the helper waits for its 'compute agent running' line). */
  logLevel?: string;
  args?: string[];
}

export interface Cluster {
  databaseName: string;
  databaseUrl: string;
  adminPassword: string;
  controllers: ControllerProcess[];
  agents: AgentProcess[];
  /** Starts `vdpa-compute agent --driver simulated` for this inventory entry (see vdpaHost) and waits until it runs. */
  startAgent(host: { name: string; [field: string]: unknown }, opts: AgentOptions): Promise<AgentProcess>;
  /** A query on the cluster's database (a connection of the test's own). */
  query<T = any>(text: string, params?: unknown[]): Promise<T[]>;
  /** Creates a vdpa port and a server on it (m1.tiny, cirros) through `via`; returns the server id once accepted. */
  bootServer(via: ControllerProcess, name: string, opts?: { flavorRef?: string; headers?: Record<string, string> }): Promise<string>;
  /** Kills every process, drops the database and removes the data dirs; safe to call twice. */
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
let exitHookInstalled = false;

/** The last resort against orphans: a test process that dies takes its children with it. */
function track(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });
  }
  children.add(child);
  child.once('exit', () => children.delete(child));
}


function watch(start: () => ChildProcess): Watched & { respawn(): void } {
  let child = start();
  let out = '';
  /** Characters trimmed off the front of `out` so far. */
  let dropped = 0;
  const attach = (c: ChildProcess) => {
    track(c);
    const add = (d: unknown) => {
      out += String(d);
      if (out.length > MAX_OUTPUT) {
        dropped += out.length - MAX_OUTPUT / 2;
        out = out.slice(out.length - MAX_OUTPUT / 2);
      }
    };
    c.stdout!.on('data', add);
    c.stderr!.on('data', add);
  };
  attach(child);
  return {
    get child() { return child; },
    get running() { return child.exitCode === null && child.signalCode === null; },
    output: () => out,
    mark: () => dropped + out.length,
    async waitFor(text, timeoutMs = 20_000, since = 0) {
      const until = Date.now() + timeoutMs;
      const c = child;
      const found = () => {
        const tail = out.slice(Math.max(0, since - dropped));
        return typeof text === 'string' ? tail.includes(text) : text.test(tail);
      };
      while (!found()) {
        if (c.exitCode !== null || c.signalCode !== null) throw new Error(`process exited (${c.exitCode ?? c.signalCode}) before printing ${text}:\n${out.slice(-8000)}`);
        if (Date.now() > until) throw new Error(`no ${text} in ${timeoutMs} ms:\n${out.slice(-8000)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    respawn() {
      child = start();
      attach(child);
    },
  };
}

async function ended(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exit = new Promise<void>((res) => child.once('exit', () => res()));
  child.kill(signal);
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exit;
  clearTimeout(t);
}

async function withAdmin<T>(fn: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: `${POSTGRES}/postgres` });
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end();
  }
}

/** Databases of earlier runs that died before their stop(): old enough, and nobody connected. */
async function dropStaleDatabases(admin: pg.Client): Promise<void> {
  const { rows } = await admin.query<{ datname: string }>(
    `select datname from pg_database d where datname like $1
       and not exists (select 1 from pg_stat_activity a where a.datname = d.datname)`, [`${DB_PREFIX}%`]);
  const now = Math.floor(Date.now() / 1000);
  for (const { datname } of rows) {
    const created = Number(datname.slice(DB_PREFIX.length).split('_')[0]);
    // No FORCE: a database someone connected to meanwhile stays.
    if (Number.isFinite(created) && now - created > STALE_DB_SECONDS) await admin.query(`DROP DATABASE IF EXISTS ${datname}`).catch(() => undefined);
  }
}

async function fetchJson(url: string, init: RequestInit, timeoutMs = 30_000): Promise<ApiResult> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body: unknown = text;
  try { body = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  return { status: res.status, body };
}

function controllerProcess(
  index: number, port: number, dataDir: string, env: NodeJS.ProcessEnv, databaseUrl: string, adminPassword: string, startTimeoutMs: number,
): ControllerProcess {
  const url = `http://127.0.0.1:${port}`;
  const w = watch(() => spawn(process.execPath, [MAIN, 'serve', '--no-simulated-hosts', '--database-url', databaseUrl, '--port', String(port), '--data-dir', dataDir], {
    env, stdio: ['ignore', 'pipe', 'pipe'],
  }));
  let token: string | null = null;
  const self: ControllerProcess = {
    index, url, port, dataDir,
    get child() { return w.child; },
    get running() { return w.running; },
    output: w.output,
    mark: w.mark,
    waitFor: w.waitFor,
    async token() {
      if (token) return token;
      const r = await fetch(`${url}/identity/v3/auth/tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        signal: AbortSignal.timeout(30_000),
        body: JSON.stringify({ auth: {
          identity: { methods: ['password'], password: { user: { name: 'admin', domain: { name: 'Default' }, password: adminPassword } } },
          scope: { project: { name: 'admin', domain: { name: 'Default' } } },
        } }),
      });
      const t = r.headers.get('x-subject-token');
      if (!t) throw new Error(`controller ${index}: no admin token (${r.status} ${await r.text()})`);
      token = t;
      return t;
    },
    async api(method, path, body, headers = {}) {
      const call = async () => {
        const h: Record<string, string> = { 'x-auth-token': await self.token(), ...headers };
        if (body !== undefined) h['content-type'] = 'application/json';
        return fetchJson(`${url}${path}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
      };
      const r = await call();
      if (r.status !== 401) return r;
      token = null;
      return call();
    },
    async waitForServer(id, statuses, timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      let last: any;
      while (Date.now() < until) {
        const r = await self.api('GET', `/compute/v2.1/servers/${id}`);
        if (r.status === 404 && statuses.includes('DELETED')) return null;
        last = r.body?.server;
        if (last && statuses.includes(last.status)) return last;
        await new Promise((res) => setTimeout(res, 50));
      }
      throw new Error(`server ${id} did not reach ${statuses.join('/')} through controller ${index} in ${timeoutMs} ms (last: ${JSON.stringify(last)?.slice(0, 500)})`);
    },
    kill: (signal = 'SIGKILL') => ended(w.child, signal, 5000),
    async restart() {
      await ended(w.child, 'SIGKILL', 5000);
      const from = w.mark();
      w.respawn();
      await w.waitFor('vdpa-compute is listening', startTimeoutMs, from);
    },
    stop: () => ended(w.child, 'SIGTERM', 5000),
  };
  return self;
}

/** Starts the controllers on a new database; on any failure everything started so far is stopped again. */
export async function startCluster(o: ClusterOptions = {}): Promise<Cluster> {
  const count = o.controllers ?? 2;
  const startTimeoutMs = o.startTimeoutMs ?? 30_000;
  const databaseName = `${DB_PREFIX}${Math.floor(Date.now() / 1000)}_${process.pid}_${randomBytes(3).toString('hex')}`;
  const databaseUrl = `${POSTGRES}/${databaseName}`;
  const adminPassword = `admin-${randomBytes(6).toString('hex')}`;
  const root = await mkdtemp(join(tmpdir(), 'vdpa-cluster-'));
  await withAdmin(async (admin) => {
    await dropStaleDatabases(admin);
    await admin.query(`CREATE DATABASE ${databaseName}`);
  });

  const controllers: ControllerProcess[] = [];
  const agents: AgentProcess[] = [];
  let client: pg.Client | null = null;
  let stopped = false;

  const cluster: Cluster = {
    databaseName, databaseUrl, adminPassword, controllers, agents,
    async query(text, params) {
      if (!client) {
        const c = new pg.Client({ connectionString: databaseUrl });
        c.on('error', () => undefined);
        await c.connect();
        client = c;
      }
      return (await client.query(text, params)).rows;
    },
    async startAgent(host, a) {
      const inventory = join(root, `agent-${host.name}.yaml`);
      await writeFile(inventory, stringify(host));
      const [{ value: password }] = await cluster.query<{ value: string }>("select value from settings where key = 'agent_password'");
      const pick = (which: number | number[]): ControllerProcess[] => {
        const list = (Array.isArray(which) ? which : [which]).map((i) => {
          const c = controllers[i];
          if (!c) throw new Error(`no controller ${i} (the cluster has ${controllers.length})`);
          return c;
        });
        if (list.length === 0) throw new Error('an agent needs at least one controller');
        return list;
      };
      let attached = pick(a.controller);
      const args = () => [
        MAIN, 'agent', '--driver', 'simulated', '--inventory', inventory, '--controller', attached.map((c) => c.url).join(','),
        '--heartbeat-seconds', String(a.heartbeatSeconds ?? 1),
        ...(a.pollSeconds !== undefined ? ['--poll-seconds', String(a.pollSeconds)] : []),
        ...(a.args ?? []),
      ];
      const w = watch(() => spawn(process.execPath, args(), {
        env: { ...process.env, VDPA_AGENT_PASSWORD: password!, VDPA_LOG_LEVEL: a.logLevel ?? 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      }));
      const agent: AgentProcess = {
        host: host.name,
        get controller() { return attached[0]!; },
        get controllers() { return [...attached]; },
        get child() { return w.child; },
        get running() { return w.running; },
        output: w.output,
        mark: w.mark,
        waitFor: w.waitFor,
        kill: (signal = 'SIGKILL') => ended(w.child, signal, 5000),
        async restart(r = {}) {
          await ended(w.child, 'SIGKILL', 5000);
          if (r.controller !== undefined) attached = pick(r.controller);
          const from = w.mark();
          w.respawn();
          await w.waitFor('compute agent running', startTimeoutMs, from);
        },
        stop: () => ended(w.child, 'SIGTERM', 5000),
      };
      agents.push(agent);
      await w.waitFor('compute agent running', startTimeoutMs);
      return agent;
    },
    async bootServer(via, name, b = {}) {
      const net = await via.api('GET', '/network/v2.0/networks?name=vdpa-net');
      const port = await via.api('POST', '/network/v2.0/ports', {
        port: { name: `${name}-port`, network_id: net.body.networks[0].id, 'binding:vnic_type': 'vdpa' },
      });
      if (port.status !== 201) throw new Error(`port for ${name}: ${port.status} ${JSON.stringify(port.body)}`);
      const image = await via.api('GET', '/image/v2/images?name=cirros');
      const created = await via.api('POST', '/compute/v2.1/servers', {
        server: { name, flavorRef: b.flavorRef ?? '1', imageRef: image.body.images[0].id, networks: [{ port: port.body.port.id }] },
      }, b.headers);
      if (created.status !== 202) throw new Error(`server ${name}: ${created.status} ${JSON.stringify(created.body)}`);
      return created.body.server.id as string;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all([...agents, ...controllers].map((p) => p.kill('SIGKILL')));
      await (client as pg.Client | null)?.end().catch(() => undefined);
      await withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`));
      await rm(root, { recursive: true, force: true });
    },
  };

  try {
    const env = async (i: number): Promise<NodeJS.ProcessEnv> => {
      const e: NodeJS.ProcessEnv = {
        ...process.env, VDPA_ADMIN_PASSWORD: adminPassword, VDPA_LOG_LEVEL: o.logLevel ?? process.env.VDPA_TEST_LOG ?? 'warn', ...o.env,
      };
      // Another process's settings would leak in through the environment.
      for (const k of ['VDPA_PORT', 'VDPA_DATA_DIR', 'VDPA_DATABASE_URL', 'VDPA_HOSTS_FILE']) delete e[k];
      if (o.config) {
        const file = join(root, `config-${i}.yaml`);
        await writeFile(file, stringify(o.config));
        e.VDPA_CONFIG = file;
      }
      return e;
    };
    const start = async (i: number) => {
      const dataDir = join(root, `controller-${i}`);
      const c = controllerProcess(i, await freePort(), dataDir, await env(i), databaseUrl, adminPassword, startTimeoutMs);
      controllers[i] = c;
      await c.waitFor('vdpa-compute is listening', startTimeoutMs);
    };
    // The first migrates and bootstraps alone; the rest find the database ready.
    await start(0);
    await Promise.all(Array.from({ length: count - 1 }, (_, i) => start(i + 1)));
    return cluster;
  } catch (e) {
    await cluster.stop().catch(() => undefined);
    throw e;
  }
}
