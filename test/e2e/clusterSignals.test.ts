/**
 * Two controller processes, A and B, on one PostgreSQL database; the remote
 * agents run as processes attached to B only, with a 25 s poll: a change made
 * through A that reaches them in well under that was carried by a
 * notification, not found by a poll.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { vdpaHost } from '../helpers/allInOneProcess.js';
import { startCluster, type Cluster, type ControllerProcess } from '../helpers/cluster.js';

/** The agents' poll: what a server would wait for if no wake-up crossed the processes. */
const POLL_SECONDS = 25;
/** "At once", with room for a loaded two-core machine; a missed wake-up would take POLL_SECONDS. */
const QUICK_MS = 3000;

// The larger host (more RAM, more free devices) wins every weigher: B places servers there unless told it may not.
const BIG = 'compute-big';
const SMALL = 'compute-small';

describe('controller processes on one PostgreSQL database wake each other', () => {
  let cluster: Cluster;
  let a: ControllerProcess;
  let b: ControllerProcess;

  before(async () => {
    // A candidate page of one host makes B decide from its in-memory candidate index,
    // the state a service change must reach (with a page bigger than the fleet the database decides).
    cluster = await startCluster({ controllers: 2, config: { scheduler_candidate_limit: 1 }, logLevel: 'info' });
    [a, b] = [cluster.controllers[0]!, cluster.controllers[1]!];
    await cluster.startAgent(vdpaHost(BIG, { memoryMb: 262144, vfs: 8 }), { controller: 1, pollSeconds: POLL_SECONDS });
    await cluster.startAgent(vdpaHost(SMALL), { controller: 1, pollSeconds: POLL_SECONDS });
  });

  after(async () => {
    await cluster?.stop();
  });

  /** Boots a server through `via` and resolves with how long it took to become ACTIVE, and where. */
  async function bootTimed(via: ControllerProcess, name: string): Promise<{ ms: number; host: string }> {
    const started = Date.now();
    const id = await cluster.bootServer(via, name);
    const server = await via.waitForServer(id, ['ACTIVE', 'ERROR'], POLL_SECONDS * 2000);
    assert.equal(server.status, 'ACTIVE', JSON.stringify(server.fault ?? server));
    return { ms: Date.now() - started, host: server['OS-EXT-SRV-ATTR:host'] };
  }

  test('a server created through A becomes ACTIVE on an agent of B at once', { timeout: 300_000 }, async () => {
    const { ms } = await bootTimed(a, 'through-a');
    assert.ok(ms < QUICK_MS, `ACTIVE after ${ms} ms: the agent found the work by polling (every ${POLL_SECONDS} s), not by a wake-up`);
  });

  test('forced down through A: B stops scheduling on the host at once', { timeout: 300_000 }, async () => {
    // B's first decision loads its index; from then on B decides from memory, where BIG stays up
    // (until the next reload, 2 s on) unless the change reaches B.
    await bootTimed(b, 'warm-b');
    assert.equal((await bootTimed(b, 'warm-b-2')).host, BIG);
    const since = b.mark();
    const services = await a.api('GET', `/compute/v2.1/os-services?host=${BIG}`);
    const id = services.body.services[0].id;
    const down = await a.api('PUT', `/compute/v2.1/os-services/${id}`, { forced_down: true }, { 'openstack-api-version': 'compute 2.53' });
    assert.equal(down.status, 200, JSON.stringify(down.body));
    const put = Date.now();
    await b.waitFor(/"host":"compute-big"[^\n]*service change from another controller process applied/, QUICK_MS, since);
    const seenMs = Date.now() - put;
    assert.ok(seenMs < QUICK_MS, `B applied the change after ${seenMs} ms`);
    const placed = await bootTimed(b, 'after-force-down');
    assert.equal(placed.host, SMALL, 'B placed a server on a forced-down host');

    const up = await a.api('PUT', `/compute/v2.1/os-services/${id}`, { forced_down: false }, { 'openstack-api-version': 'compute 2.53' });
    assert.equal(up.status, 200, JSON.stringify(up.body));
  });

  test('the listening connection dropped: B listens again and wake-ups work again', { timeout: 300_000 }, async () => {
    const backend = async () => (await cluster.query<{ pid: number }>(
      'select pid from pg_stat_activity where datname = current_database() and application_name = $1', [`vdpa-compute listen ${b.child.pid}`]))[0]?.pid;
    const old = await backend();
    assert.ok(old, 'B has no LISTEN connection');
    const since = b.mark();
    await cluster.query('select pg_terminate_backend($1)', [old]);
    await b.waitFor('cluster notifications: listening again', 10_000, since);
    const fresh = await backend();
    assert.ok(fresh && fresh !== old, `B listens on backend ${fresh} (was ${old})`);
    const { ms } = await bootTimed(a, 'after-reconnect');
    assert.ok(ms < QUICK_MS, `ACTIVE after ${ms} ms: no wake-up reached B after its reconnect`);
  });
});
