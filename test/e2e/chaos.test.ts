/**
 * Issue 12, "Done when" on SQLite: a controller killed at any moment loses
 * no operation. `vdpa-compute serve` runs as a real process with three
 * simulated hosts; rounds of random lifecycle operations go in through the
 * API and the process is SIGKILLed a few milliseconds after each round, then
 * started again on the same port and data directory. Afterwards every server
 * must be out of its task state, the doctor must find nothing, and each
 * host's devices must be those of the servers on it.
 *
 * The simulated hypervisors live in the killed process too, so a restart also
 * loses every guest they ran: agents define the running ones again from the
 * database and the shut-off ones again, stopped (VirtDriver.define), but a
 * suspended guest's memory is gone, and its next operation fails on the host
 * ("guest … does not exist on compute-N"). Those are settled states like any
 * other; the checks hold for them too.
 *
 * Evacuation is left out: it needs a compute service forced down, which
 * every other operation on that host would then refuse.
 *
 * The sequence of operations comes from a seeded PRNG (printed; set
 * VDPA_CHAOS_SEED to replay it; the kill moments depend on timing as well).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { computeVersion, cirrosImageId, createPort } from '../helpers/e2eFixtures.js';
import { assertDevicesMatchServers, assertDoctorClean, assertGuestsMatchServers, allServers, waitAllSettled } from '../helpers/settledChecks.js';

const HOSTS = ['compute-0', 'compute-1', 'compute-2'];
const VFS = 8;
const CONFIG = {
  reconcile_interval: 1, lease_seconds: 3, operation_timeout: 20,
  // Same-host resizes take their own path (one guest row, redefined): let the scheduler pick it.
  allow_resize_to_same_host: true,
};
const KILLS = Number(process.env.VDPA_CHAOS_KILLS ?? 6);
const INITIAL_SERVERS = 6;
const SPARE_PORTS = 6;

/** mulberry32: small, seedable, good enough to pick operations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = process.env.VDPA_CHAOS_SEED ? Number(process.env.VDPA_CHAOS_SEED) : Math.floor(Math.random() * 2 ** 31);

describe(`a controller SIGKILLed in the middle of random operations (seed ${SEED})`, { timeout: 45_000 + KILLS * 7_500 }, () => {
  let aio: AllInOneProcess;
  let image: string;
  const random = prng(SEED);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const log: string[] = [];
  let created = 0;

  const action = (id: string, body: unknown, version = '2.1') =>
    aio.api('POST', `/compute/v2.1/servers/${id}/action`, body, { headers: computeVersion(version) });

  async function createServer(portIds: string[] | 'none'): Promise<{ status: number }> {
    created += 1;
    const networks = portIds === 'none' ? 'none' : portIds.map((port) => ({ port }));
    const flavorRef = pick(['1', '2']);
    return aio.api('POST', '/compute/v2.1/servers', { server: { name: `chaos-${created}`, imageRef: image, flavorRef, networks } },
      { headers: computeVersion('2.37') });
  }

  /** Ports nobody uses now: for creates and attaches. */
  async function freePorts(): Promise<string[]> {
    const ports: any[] = (await aio.api('GET', '/network/v2.0/ports')).body.ports;
    return ports.filter((p) => p.device_id === '' && p['binding:vnic_type'] === 'vdpa').map((p) => p.id);
  }

  /**
   * One random operation the server's state allows (mostly; a few are
   * refused on purpose: a refusal must change nothing either). Returns the
   * request, not awaited: the kill comes while some are still in flight.
   */
  function randomOperation(s: any, ports: string[], spare: string[]): [string, () => Promise<{ status: number }>] | null {
    const id = s.id;
    // Resizes go up (down is refused: disk); a revert brings the smaller flavor back.
    const flavor = s.flavor.id === '1' ? pick(['2', '3']) : '3';
    const mine = ports;
    const choices: Array<[string, () => Promise<{ status: number }>]> = [];
    const add = (name: string, f: () => Promise<{ status: number }>) => choices.push([name, f]);
    const attach = () => {
      const port = spare.shift();
      if (port) add('attach', () => aio.api('POST', `/compute/v2.1/servers/${id}/os-interface`, { interfaceAttachment: { port_id: port } }));
    };
    const detach = () => {
      if (mine.length) add('detach', () => aio.api('DELETE', `/compute/v2.1/servers/${id}/os-interface/${pick(mine)}`));
    };
    switch (s.status) {
      case 'ACTIVE':
        add('stop', () => action(id, { 'os-stop': null }));
        add('suspend', () => action(id, { suspend: null }));
        add('migrate', () => action(id, { migrate: null }));
        add('resize', () => action(id, { resize: { flavorRef: flavor } }));
        add('live-migrate', () => action(id, { 'os-migrateLive': { block_migration: 'auto', host: null } }, '2.30'));
        add('shelve', () => action(id, { shelve: null }));
        attach();
        detach();
        break;
      case 'SHUTOFF':
        add('start', () => action(id, { 'os-start': null }));
        add('migrate', () => action(id, { migrate: null }));
        add('resize', () => action(id, { resize: { flavorRef: flavor } }));
        add('shelve', () => action(id, { shelve: null }));
        attach();
        detach();
        break;
      case 'SUSPENDED':
        add('resume', () => action(id, { resume: null }));
        add('resume', () => action(id, { resume: null }));
        add('shelve', () => action(id, { shelve: null }));
        break;
      case 'VERIFY_RESIZE':
        add('confirm', () => action(id, { confirmResize: null }));
        add('revert', () => action(id, { revertResize: null }));
        break;
      case 'SHELVED_OFFLOADED':
        add('unshelve', () => action(id, { unshelve: null }));
        add('unshelve', () => action(id, { unshelve: null }));
        break;
      case 'ERROR':
        add('delete', () => aio.api('DELETE', `/compute/v2.1/servers/${id}`));
        break;
      default:
        // Busy: a delete may come at any moment of an operation.
        if (random() < 0.15) add('delete mid-operation', () => aio.api('DELETE', `/compute/v2.1/servers/${id}`));
        return choices.length ? choices[0]! : null;
    }
    if (random() < 0.08) add('delete', () => aio.api('DELETE', `/compute/v2.1/servers/${id}`));
    return pick(choices);
  }

  before(async () => {
    console.log(`chaos seed ${SEED} (VDPA_CHAOS_SEED=${SEED} replays the operations)`);
    aio = await startAllInOneProcess({ hosts: HOSTS.map((h) => vdpaHost(h, { vfs: VFS })), config: CONFIG });
    image = await cirrosImageId(aio);
    const ports = [];
    for (let i = 0; i < INITIAL_SERVERS + 1 + SPARE_PORTS; i++) ports.push((await createPort(aio, `chaos-port-${i}`)).id);
    // One server with two vdpa ports, one with none, the rest with one each.
    const requests: string[][] = [[ports[0]!, ports[1]!]];
    for (let i = 2; i < INITIAL_SERVERS + 1; i++) requests.push([ports[i]!]);
    for (const r of requests) assert.equal((await createServer(r)).status, 202);
    created += 1;
    const none = await aio.openstack(['--os-compute-api-version', '2.37', 'server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros',
      '--nic', 'none', `chaos-${created}`]);
    assert.equal(none.code, 0, none.stderr);
  });
  after(async () => {
    await aio?.stop();
  });

  test('every server settles, the doctor is clean and each host\'s devices are its servers\'', { timeout: 45_000 + KILLS * 7_500 }, async () => {
    const inFlight: Promise<unknown>[] = [];
    for (let round = 1; round <= KILLS; round++) {
      const servers = await allServers(aio);
      const ports: any[] = (await aio.api('GET', '/network/v2.0/ports')).body.ports;
      const spare = await freePorts();
      const vdpaPortsOf = (id: string) => ports.filter((p) => p.device_id === id && p['binding:vnic_type'] === 'vdpa').map((p) => p.id);
      for (const s of servers.filter((x) => x.status === 'ERROR')) log.push(`round ${round}: ${s.name} in ERROR: ${s.fault?.message}`);
      const chosen = servers.filter(() => random() < 0.7);
      for (const s of chosen) {
        const op = randomOperation(s, vdpaPortsOf(s.id), spare);
        if (!op) continue;
        const [name, run] = op;
        inFlight.push(run().then(
          (r) => log.push(`round ${round}: ${s.name} ${s.status} ${name} -> ${r.status}`),
          (e) => log.push(`round ${round}: ${s.name} ${s.status} ${name} -> ${(e as Error).message} (killed)`),
        ));
        // A delete may come at any step of an operation, including its first.
        if (random() < 0.12) {
          const wait = Math.floor(random() * 40);
          inFlight.push(new Promise((r) => setTimeout(r, wait)).then(() => aio.api('DELETE', `/compute/v2.1/servers/${s.id}`)).then(
            (r) => log.push(`round ${round}: ${s.name} delete ${wait} ms after ${name} -> ${r.status}`),
            (e) => log.push(`round ${round}: ${s.name} delete ${wait} ms after ${name} -> ${(e as Error).message} (killed)`),
          ));
        }
      }
      if (servers.length < INITIAL_SERVERS || random() < 0.3) {
        const useNone = random() < 0.2;
        const port = spare.shift();
        inFlight.push(createServer(useNone || !port ? 'none' : [port]).then(
          (r) => log.push(`round ${round}: create ${useNone || !port ? 'without a port' : 'with a port'} -> ${r.status}`),
          (e) => log.push(`round ${round}: create -> ${(e as Error).message} (killed)`),
        ));
      }
      // A few to ~100 ms: some requests not yet answered, some steps half done, some reports not yet sent.
      const killAfter = 2 + Math.floor(random() * 100);
      await new Promise((r) => setTimeout(r, killAfter));
      await aio.kill();
      log.push(`round ${round}: SIGKILL ${killAfter} ms after the operations`);
      await aio.restart();
      // Usually the restarted process gets some way first; often the next round (and kill) comes while it catches up.
      await new Promise((r) => setTimeout(r, Math.floor(random() * (random() < 0.3 ? 100 : 1500))));
    }
    await Promise.allSettled(inFlight);
    console.log(log.join('\n'));

    // Anything waiting on a host that will never answer ends at its deadline, found by the next resync.
    let servers = await waitAllSettled(aio, (CONFIG.operation_timeout + 2 * CONFIG.reconcile_interval + 10) * 1000);
    // VERIFY_RESIZE is settled but holds claims on two hosts: confirm, and the checks see one.
    for (const s of servers.filter((x) => x.status === 'VERIFY_RESIZE')) {
      const r = await action(s.id, { confirmResize: null });
      assert.equal(r.status, 204, `confirm ${s.name}: ${JSON.stringify(r.body)}`);
    }
    servers = await waitAllSettled(aio, 15_000);
    console.log(`after ${KILLS} kills: ${servers.map((s) => `${s.name} ${s.status}`).join(', ')}`);
    const faults = servers.filter((s) => s.status === 'ERROR').map((s) => `${s.name}: ${s.fault?.message}`);
    if (faults.length) console.log(`servers in ERROR: ${faults.join('; ')}`);
    await assertDevicesMatchServers(aio, HOSTS, VFS);
    await assertDoctorClean(aio, join(aio.dataDir, 'config.yaml'));
    // The guests of moves that ended go once their hosts have answered: a short wait, bounded.
    const end = Date.now() + 10_000;
    for (;;) {
      try {
        await assertGuestsMatchServers(aio, HOSTS);
        break;
      } catch (e) {
        if (Date.now() > end) throw e;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  });
});
