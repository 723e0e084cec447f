/**
 * Chaos on two controllers (issue 12, "Done when", on PostgreSQL): controller
 * processes A and B on one database, three remote simulated agents given both
 * (`--controller A,B`), and servers with vdpa ports driven by a seeded random
 * mix of lifecycle operations through both controllers' APIs. Controller A is
 * SIGKILLed at a random moment while operations are in flight and is not
 * restarted: B alone must finish every operation (the leases A held expire
 * after lease_seconds and B's periodic jobs, whose lease it takes over too,
 * queue those servers again).
 *
 * Afterwards, unconditionally: no server has a task state within
 * operation_timeout + slack (and none is in ERROR); servers in VERIFY_RESIZE
 * are confirmed; `vdpa-compute doctor --json` exits 0 with no findings; each
 * host's devices in os-pci/detail (through B) match the servers on it.
 *
 * The seed is printed; VDPA_CHAOS_SEED=<n> repeats its choices (the timing,
 * and so what each choice meets, is the machine's).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { vdpaHost } from '../helpers/allInOneProcess.js';
import { startCluster, type ApiResult, type Cluster, type ControllerProcess } from '../helpers/cluster.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const MAIN = join(ROOT, 'dist/src/cli/main.js');

const OPERATION_TIMEOUT = 30;
const LEASE_SECONDS = 3;
const CONFIG = { reconcile_interval: 1, lease_seconds: LEASE_SECONDS, operation_timeout: OPERATION_TIMEOUT };
const HOSTS = ['chaos-0', 'chaos-1', 'chaos-2'];
const VFS_PER_HOST = 6;
const SERVERS = 6;
/** How long operations are thrown at the cluster; A dies somewhere in [KILL_FROM_MS, KILL_TO_MS). */
const CHAOS_MS = 20_000;
const KILL_FROM_MS = 2_000;
const KILL_TO_MS = 13_000;
/** After the chaos: every task state gone within this (a step waiting on a host would end at its deadline). */
const SETTLE_MS = OPERATION_TIMEOUT * 1000 + 15_000;
/** An operation in flight when A dies moves on within lease_seconds + this (B's tick, its step, the agent's answer, a loaded machine). */
const TAKEOVER_SLACK_MS = 10_000;
const MAX_PORTS_PER_SERVER = 2;
const LIVE_MIGRATION_VERSION = { 'openstack-api-version': 'compute 2.30' };

/** mulberry32: small, seedable, good enough to pick operations. */
function rngOf(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Outcome { op: string; via: string; server: string; status: number | 'lost'; at: number; note?: string }

describe('chaos: two controllers, A SIGKILLed mid-operations, B finishes everything', () => {
  let cluster: Cluster;
  let a: ControllerProcess;
  let b: ControllerProcess;
  const seed = process.env.VDPA_CHAOS_SEED ? Number(process.env.VDPA_CHAOS_SEED) : Math.floor(Math.random() * 2 ** 31);
  const rng = rngOf(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;
  const log: Outcome[] = [];
  /** Every server seen in ERROR (nothing here injects a fault, so none should be) and every fault seen, by server. */
  const errorsSeen = new Map<string, unknown>();
  const faultsSeen = new Map<string, Set<string>>();
  let t0 = Date.now();

  before(async () => {
    console.log(`chaos seed ${seed} (VDPA_CHAOS_SEED=${seed} repeats its choices)`);
    cluster = await startCluster({ controllers: 2, config: CONFIG });
    [a, b] = [cluster.controllers[0]!, cluster.controllers[1]!];
    await Promise.all(HOSTS.map((h) => cluster.startAgent(vdpaHost(h, { vfs: VFS_PER_HOST }), { controller: [0, 1] })));
  });

  after(async () => {
    await cluster?.stop();
  });

  /** A controller for the next call: either while A lives, B after. */
  const via = (): ControllerProcess => (a.running && rng() < 0.5 ? a : b);

  async function call(c: ControllerProcess, op: string, server: string, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResult | null> {
    try {
      const r = await c.api(method, path, body, headers);
      log.push({ op, via: c === a ? 'A' : 'B', server, status: r.status, at: Date.now() - t0,
        ...(r.status >= 400 ? { note: JSON.stringify(r.body).slice(0, 200) } : {}) });
      return r;
    } catch (e) {
      // A died under the request (or before it): whether it took effect is the database's to say.
      log.push({ op, via: c === a ? 'A' : 'B', server, status: 'lost', at: Date.now() - t0, note: (e as Error).message });
      return null;
    }
  }

  async function newPort(c: ControllerProcess, name: string): Promise<string | null> {
    try {
      const net = await c.api('GET', '/network/v2.0/networks?name=vdpa-net');
      const port = await c.api('POST', '/network/v2.0/ports', { port: { name, network_id: net.body.networks[0].id, 'binding:vnic_type': 'vdpa' } });
      return port.status === 201 ? port.body.port.id : null;
    } catch {
      return null;
    }
  }

  async function boot(name: string): Promise<string | null> {
    for (let i = 0; i < 5; i++) {
      const c = via();
      try {
        const id = await cluster.bootServer(c, name);
        log.push({ op: 'create', via: c === a ? 'A' : 'B', server: id, status: 202, at: Date.now() - t0 });
        return id;
      } catch (e) {
        log.push({ op: 'create', via: c === a ? 'A' : 'B', server: name, status: 'lost', at: Date.now() - t0, note: (e as Error).message });
      }
    }
    return null;
  }

  /** Ports of the server (through `c`), first one first. */
  async function portsOf(c: ControllerProcess, id: string): Promise<string[] | null> {
    try {
      const r = await c.api('GET', `/compute/v2.1/servers/${id}/os-interface`);
      return r.status === 200 ? r.body.interfaceAttachments.map((x: any) => x.port_id) : null;
    } catch {
      return null;
    }
  }

  /** One random operation that the server's status allows (sometimes one it does not: a refusal must change nothing). */
  async function operate(id: string, server: any, busy: boolean): Promise<'deleted' | void> {
    const c = via();
    const status: string = server.status;
    const flavor = Number(server.flavor?.id ?? 1);
    const action = (op: string, body: unknown, headers?: Record<string, string>) =>
      call(c, op, id, 'POST', `/compute/v2.1/servers/${id}/action`, body, headers);
    const ops: Array<[string, () => Promise<unknown>]> = [];
    const add = (name: string, fn: () => Promise<unknown>) => ops.push([name, fn]);
    const active = status === 'ACTIVE';
    const stopped = status === 'SHUTOFF';
    const blind = rng() < 0.1;
    if (active || blind) {
      add('stop', () => action('stop', { 'os-stop': null }));
      add('suspend', () => action('suspend', { suspend: null }));
      add('live-migrate', () => action('live-migrate', { 'os-migrateLive': { block_migration: 'auto', host: null } }, LIVE_MIGRATION_VERSION));
    }
    if (stopped || blind) add('start', () => action('start', { 'os-start': null }));
    if (status === 'SUSPENDED' || blind) add('resume', () => action('resume', { resume: null }));
    if (active || stopped || blind) {
      add('migrate', () => action('migrate', { migrate: null }));
      if (flavor < 3) add('resize', () => action('resize', { resize: { flavorRef: String(flavor + 1) } }));
      add('attach', async () => {
        const ports = await portsOf(c, id);
        if (!ports || ports.length >= MAX_PORTS_PER_SERVER) return;
        const port = await newPort(c, `chaos-extra-${log.length}`);
        if (port) await call(c, 'attach', id, 'POST', `/compute/v2.1/servers/${id}/os-interface`, { interfaceAttachment: { port_id: port } });
      });
      add('detach', async () => {
        const ports = await portsOf(c, id);
        if (!ports || ports.length < 2) return;
        await call(c, 'detach', id, 'DELETE', `/compute/v2.1/servers/${id}/os-interface/${ports[ports.length - 1]}`);
      });
    }
    if (active || stopped || status === 'SUSPENDED' || blind) add('shelve', () => action('shelve', { shelve: null }));
    if (status === 'SHELVED_OFFLOADED' || blind) add('unshelve', () => action('unshelve', { unshelve: null }));
    if (status === 'VERIFY_RESIZE' || blind) {
      add('confirm', () => action('confirm', { confirmResize: null }));
      add('revert', () => action('revert', { revertResize: null }));
    }
    if (status === 'VERIFY_RESIZE') add('confirm', () => action('confirm', { confirmResize: null })); // confirm twice as likely
    // Deletes are rarer, and any state may be deleted (in the middle of an operation more often).
    if (rng() < (busy ? 0.3 : 0.06) || status === 'ERROR') {
      const r = await call(c, 'delete', id, 'DELETE', `/compute/v2.1/servers/${id}`);
      return r?.status === 204 ? 'deleted' : undefined;
    }
    if (ops.length === 0) return;
    await pick(ops)[1]();
  }

  /** One slot of the fleet: a server operated on until the chaos ends, replaced when deleted. */
  async function worker(slot: number, first: string, until: number, ids: Set<string>): Promise<void> {
    let id: string | null = first;
    while (Date.now() < until) {
      if (!id) {
        id = await boot(`chaos-${slot}-${log.length}`);
        if (id) ids.add(id);
        await sleep(200);
        continue;
      }
      let server: any = null;
      let gone = false;
      try {
        const r = await via().api('GET', `/compute/v2.1/servers/${id}`);
        if (r.status === 404) gone = true;
        else server = r.body?.server;
      } catch { /* A died under it: ask again */ }
      if (gone) {
        id = null;
        continue;
      }
      if (server?.fault?.message) {
        const seen = faultsSeen.get(id) ?? new Set<string>();
        seen.add(server.fault.message);
        faultsSeen.set(id, seen);
      }
      if (server?.status === 'ERROR' && !errorsSeen.has(id)) errorsSeen.set(id, server.fault ?? null);
      // Mostly wait for the running operation; now and then throw one in anyway (a 409 must change nothing).
      const busy = Boolean(server?.['OS-EXT-STS:task_state']);
      if (server && (!busy || rng() < 0.1)) {
        if ((await operate(id, server, busy)) === 'deleted' && rng() < 0.5) id = null;
      }
      await sleep(50 + Math.floor(rng() * 400));
    }
  }

  function history(id: string): string {
    return log.filter((o) => o.server === id).map((o) => `${o.at}ms ${o.op} via ${o.via}: ${o.status}${o.note ? ` ${o.note}` : ''}`).join('\n  ');
  }

  async function diagnosis(ids: string[]): Promise<string> {
    const rows = await cluster.query(
      `select uuid, vm_state, task_state, host, lease_owner, lease_expires_at, task_changed_at from instances where uuid = any($1)`, [ids]);
    const guests = await cluster.query('select instance_uuid, host, desired_state, observed_state, generation, observed_generation, error from guests where instance_uuid = any($1)', [ids]);
    const migrations = await cluster.query('select instance_uuid, uuid, migration_type, status, source_compute, dest_compute from migrations where instance_uuid = any($1) order by id', [ids]);
    const leases = await cluster.query('select * from cluster_leases');
    return JSON.stringify({ instances: rows, guests, migrations, leases }, null, 1)
      + ids.map((id) => `\n${id}:\n  ${history(id)}`).join('');
  }

  test('B alone finishes every operation; doctor clean; devices match the servers', { timeout: 200_000 }, async () => {
    t0 = Date.now();
    const ids = new Set<string>();
    const first: string[] = [];
    for (let i = 0; i < SERVERS; i++) {
      const id = await cluster.bootServer(i % 2 === 0 ? a : b, `chaos-${i}`);
      first.push(id);
      ids.add(id);
    }
    for (const id of first) {
      const s = await b.waitForServer(id, ['ACTIVE', 'ERROR'], 30_000);
      assert.equal(s.status, 'ACTIVE', JSON.stringify(s.fault ?? s));
    }

    t0 = Date.now();
    const until = t0 + CHAOS_MS;
    const stuck: string[] = [];
    const killAt = KILL_FROM_MS + Math.floor(rng() * (KILL_TO_MS - KILL_FROM_MS));
    const killer = (async () => {
      await sleep(killAt);
      // "While operations are in flight": wait (briefly) for one if none runs at this very moment,
      // and for up to 2 s for one whose step A is taking right now (it holds the server's lease).
      let inFlight: any[] = [];
      const aOwns = () => inFlight.some((r) => r.lease_owner?.endsWith(`:${a.port}`));
      for (let i = 0; i < 100 && !aOwns(); i++) {
        inFlight = await cluster.query('select uuid, task_state, lease_owner from instances where task_state is not null');
        if (inFlight.length > 0 && i >= 40) break;
        if (!aOwns()) await sleep(20);
      }
      await a.kill('SIGKILL');
      const killedAt = Date.now();
      console.log(`A SIGKILLed at ${Date.now() - t0} ms with ${inFlight.length} operation(s) in flight: `
        + inFlight.map((r) => `${r.task_state}${r.lease_owner ? ` (lease: ${r.lease_owner.endsWith(`:${a.port}`) ? 'A' : 'B'})` : ''}`).join(', '));
      // Each operation in flight at the kill moves on (or its server is gone) through B: the ones whose
      // step A was taking once A's lease expires (lease_seconds, then B's next tick), the others at once.
      const moved: string[] = [];
      for (const r of inFlight) {
        const bound = LEASE_SECONDS * 1000 + TAKEOVER_SLACK_MS;
        for (;;) {
          const [now] = await cluster.query('select task_state from instances where uuid = $1', [r.uuid]);
          if (!now || now.task_state !== r.task_state) break;
          if (Date.now() - killedAt > bound) {
            stuck.push(`${r.uuid} still ${r.task_state} ${Date.now() - killedAt} ms after A was killed`);
            break;
          }
          await sleep(20);
        }
        moved.push(`${r.task_state} ${Date.now() - killedAt} ms`);
      }
      console.log(`operations in flight at the kill moved on through B after: ${moved.join(', ')}`);
      return inFlight.length;
    })();
    await Promise.all(first.map((id, slot) => worker(slot, id, until, ids)));
    const inFlightAtKill = await killer;
    assert.equal(a.running, false);
    assert.ok(inFlightAtKill > 0, 'A was killed with no operation in flight');
    assert.deepEqual(stuck, [], `operations in flight at the kill did not move on within lease_seconds + ${TAKEOVER_SLACK_MS} ms`);

    // Settle: no task state anywhere (through B, the only controller left).
    const settleStart = Date.now();
    const settled = async (): Promise<any[]> => {
      let servers: any[] = [];
      let busy: any[] = [];
      do {
        if (busy.length > 0) await sleep(200);
        const r = await b.api('GET', '/compute/v2.1/servers/detail');
        assert.equal(r.status, 200);
        servers = r.body.servers;
        busy = servers.filter((s: any) => s['OS-EXT-STS:task_state']);
      } while (busy.length > 0 && Date.now() - settleStart <= SETTLE_MS);
      const why = busy.length > 0 ? await diagnosis(busy.map((s: any) => s.id)) : '';
      assert.deepEqual(busy.map((s: any) => `${s.id} ${s['OS-EXT-STS:task_state']}`), [],
        `servers still in a task state ${SETTLE_MS} ms after the chaos\n${why}`);
      return servers;
    };
    let servers = await settled();
    const settleMs = Date.now() - settleStart;
    for (const s of servers.filter((x: any) => x.status === 'VERIFY_RESIZE')) {
      const r = await b.api('POST', `/compute/v2.1/servers/${s.id}/action`, { confirmResize: null });
      assert.equal(r.status, 204, `confirm ${s.id}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    servers = await settled();
    const summary: Record<string, Record<string, number>> = {};
    for (const o of log) {
      const k = String(o.status);
      summary[o.op] ??= {};
      summary[o.op]![k] = (summary[o.op]![k] ?? 0) + 1;
    }
    console.log(`operations (op: {HTTP status: count}): ${JSON.stringify(summary)}`);
    console.log(`settled ${settleMs} ms after the chaos; ${servers.length} servers: `
      + JSON.stringify(servers.reduce((m: Record<string, number>, s: any) => ({ ...m, [s.status]: (m[s.status] ?? 0) + 1 }), {})));

    if (faultsSeen.size > 0) {
      console.log(`faults seen: ${JSON.stringify(Object.fromEntries([...faultsSeen].map(([k, v]) => [k, [...v]])))}`);
    }
    assert.deepEqual([...errorsSeen.keys()], [], `servers seen in ERROR during the chaos: ${JSON.stringify(Object.fromEntries(errorsSeen))}`
      + `\n${await diagnosis([...errorsSeen.keys()])}`);
    const errors = servers.filter((s: any) => s.status === 'ERROR');
    assert.deepEqual(errors.map((s: any) => s.id), [],
      `servers in ERROR:\n${errors.map((s: any) => `${s.id}: ${JSON.stringify(s.fault)}`).join('\n')}\n${await diagnosis(errors.map((s: any) => s.id))}`);
    for (const s of servers) assert.ok(['ACTIVE', 'SHUTOFF', 'SUSPENDED', 'SHELVED_OFFLOADED'].includes(s.status), `${s.id} is ${s.status}`);

    const [jobs] = await cluster.query("select owner from cluster_leases where name = 'periodic-jobs'");
    assert.ok(jobs?.owner.endsWith(`:${b.port}`), `periodic-jobs lease held by ${jobs?.owner}, not B`);
    const leased = await cluster.query('select uuid, lease_owner from instances where lease_owner is not null and lease_owner not like $1', [`%:${b.port}`]);
    assert.deepEqual(leased, [], 'leases of the dead A left on servers');

    // The doctor, as an operator would run it.
    const doctor = await new Promise<{ code: number; stdout: string; stderr: string }>((res) => {
      execFile(process.execPath, [MAIN, 'doctor', '--database-url', cluster.databaseUrl, '--json'], { timeout: 60_000 }, (err, stdout, stderr) => {
        res({ code: err ? (typeof (err as any).code === 'number' ? (err as any).code : 1) : 0, stdout, stderr });
      });
    });
    assert.equal(doctor.code, 0, `doctor exit ${doctor.code}: ${doctor.stdout}${doctor.stderr}`);
    assert.deepEqual(JSON.parse(doctor.stdout).findings, []);

    // Devices (os-pci/detail through B) against the servers on each host and their vdpa ports.
    const byId = new Map(servers.map((s: any) => [s.id, s]));
    const held = new Map<string, string[]>();
    for (const host of HOSTS) {
      const r = await b.api('GET', `/compute/v2.1/os-pci/detail?host=${host}`);
      assert.equal(r.status, 200);
      const inUse = (d: any) => d.status === 'claimed' || d.status === 'allocated';
      const strays = r.body.pci_devices.filter((d: any) => !inUse(d) && d.instance_uuid);
      assert.deepEqual(strays.map((d: any) => `${host} ${d.address} is ${d.status} but names ${d.instance_uuid}`), []);
      for (const d of r.body.pci_devices.filter(inUse)) {
        const s = byId.get(d.instance_uuid);
        assert.ok(s, `${host} ${d.address} (${d.status}) names ${d.instance_uuid}, which is no server`);
        assert.equal(s['OS-EXT-SRV-ATTR:host'], host, `${host} ${d.address} is held by ${d.instance_uuid}, which is on ${s['OS-EXT-SRV-ATTR:host']}`);
        assert.equal(d.dev_type, 'vdpa', `${host} ${d.address}: a ${d.dev_type} in use`);
        held.set(d.instance_uuid, [...(held.get(d.instance_uuid) ?? []), `${host}/${d.address}`]);
      }
    }
    for (const s of servers) {
      const ports = await b.api('GET', `/network/v2.0/ports?device_id=${s.id}`);
      assert.equal(ports.status, 200);
      const vdpa = ports.body.ports.filter((p: any) => p['binding:vnic_type'] === 'vdpa');
      const host = s['OS-EXT-SRV-ATTR:host'];
      const expected = host ? vdpa.map((p: any) => `${host}/${p['binding:profile']?.pci_slot}`).sort() : [];
      assert.deepEqual((held.get(s.id) ?? []).sort(), expected, `server ${s.id} (${s.status} on ${host}): devices against its vdpa ports`);
      // A server on no host (shelved offloaded) has no bound port.
      const bound = host ? [] : vdpa.filter((p: any) => p['binding:host_id']).map((p: any) => p.id);
      assert.deepEqual(bound, [], `shelved ${s.id} has bound ports`);
    }
  });
});
