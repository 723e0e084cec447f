/**
 * Takeover of a server lease: controller A is SIGKILLed while it is in the
 * middle of a server's operation step (holding the server's lease), and is
 * not restarted; controller B, on the same PostgreSQL database, must finish
 * the operation within lease_seconds (plus one periodic tick and slack).
 *
 * Deterministic: the test holds a row lock on the compute nodes, so A's
 * placement of a server created through it blocks inside PostgreSQL (the
 * claim's first write is the compute node row, and the transaction's commit
 * has not been sent yet); A is killed while it waits there, holding the lease
 * its create wrote. The lock is then let go: A's half transaction dies with
 * its connection, and nothing but B's takeover of the expired lease can place
 * the server.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { vdpaHost } from '../helpers/allInOneProcess.js';
import { startCluster, type Cluster, type ControllerProcess } from '../helpers/cluster.js';

const LEASE_SECONDS = 3;
/** cluster.ts: the periodic tick is lease_seconds / 3, at least 200 ms. */
const TICK_MS = Math.max(200, LEASE_SECONDS * 1000 / 3);
/** Room for a loaded two-core machine: B's placement, the agent's spawn and its report. */
const SLACK_MS = 5000;
const CONFIG = { reconcile_interval: 1, lease_seconds: LEASE_SECONDS, operation_timeout: 30 };

describe('a controller killed mid-step: the other takes the server over when its lease expires', () => {
  let cluster: Cluster;
  let a: ControllerProcess;
  let b: ControllerProcess;
  let locker: pg.Client | null = null;

  before(async () => {
    cluster = await startCluster({ controllers: 2, config: CONFIG, logLevel: 'info' });
    [a, b] = [cluster.controllers[0]!, cluster.controllers[1]!];
    await cluster.startAgent(vdpaHost('compute-t0'), { controller: [0, 1] });
    await cluster.startAgent(vdpaHost('compute-t1'), { controller: [0, 1] });
  });

  after(async () => {
    await locker?.end().catch(() => undefined);
    await cluster?.stop();
  });

  test('a server whose placement A never finishes is placed and ACTIVE through B', { timeout: 90_000 }, async () => {
    // A warm-up through A, so both hosts are known and A's paths are loaded.
    const warm = await cluster.bootServer(a, 'warm-up');
    assert.equal((await a.waitForServer(warm, ['ACTIVE', 'ERROR'], 30_000)).status, 'ACTIVE');

    const [leader] = await cluster.query<{ owner: string }>("select owner from cluster_leases where name = 'periodic-jobs'");
    assert.ok(leader, 'nobody holds the periodic-jobs lease');

    locker = new pg.Client({ connectionString: cluster.databaseUrl, application_name: 'takeover-test-locker' });
    locker.on('error', () => undefined);
    await locker.connect();
    await locker.query('begin');
    await locker.query('select host from compute_nodes for update');
    const lockerPid = (await locker.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;

    const id = await cluster.bootServer(a, 'taken-over');
    // A's placement waits for the lock: a backend blocked by ours.
    const waitUntil = Date.now() + 15_000;
    let blocked: number[] = [];
    while (blocked.length === 0) {
      assert.ok(Date.now() < waitUntil, 'A\'s placement never reached the compute node row lock');
      blocked = (await cluster.query<{ pid: number }>(
        'select pid from pg_stat_activity where datname = current_database() and $1 = any(pg_blocking_pids(pid))', [lockerPid])).map((r) => r.pid);
      if (blocked.length === 0) await new Promise((r) => setTimeout(r, 20));
    }
    const [before] = await cluster.query('select task_state, host, lease_owner, lease_expires_at from instances where uuid = $1', [id]);
    assert.equal(before.task_state, 'scheduling');
    assert.equal(before.host, null);
    assert.ok(before.lease_owner, 'the created server has no lease');
    const [leaderNow] = await cluster.query<{ owner: string }>("select owner from cluster_leases where name = 'periodic-jobs'");
    assert.equal(leaderNow?.owner, before.lease_owner, 'A (the server\'s lease owner) should also hold the periodic-jobs lease');

    await a.kill('SIGKILL');
    const killedAt = Date.now();
    await locker.query('rollback');
    await locker.end();
    locker = null;

    const server = await b.waitForServer(id, ['ACTIVE', 'ERROR'], LEASE_SECONDS * 1000 + TICK_MS + 30_000);
    const ms = Date.now() - killedAt;
    assert.equal(server.status, 'ACTIVE', JSON.stringify(server.fault ?? server));
    const leaseLeftMs = Date.parse(before.lease_expires_at) - killedAt;
    console.log(`takeover: server ${id} ACTIVE through B ${ms} ms after A was killed `
      + `(A's lease had ${leaseLeftMs} ms left; bound ${LEASE_SECONDS * 1000 + TICK_MS + SLACK_MS} ms)`);
    assert.ok(ms <= LEASE_SECONDS * 1000 + TICK_MS + SLACK_MS,
      `ACTIVE ${ms} ms after A was killed; lease_seconds ${LEASE_SECONDS} s + a tick ${TICK_MS} ms + ${SLACK_MS} ms slack`);

    const [row] = await cluster.query('select task_state, host, lease_owner from instances where uuid = $1', [id]);
    assert.equal(row.task_state, null);
    assert.equal(row.lease_owner, null, 'B left the lease held');
    const [jobs] = await cluster.query<{ owner: string }>("select owner from cluster_leases where name = 'periodic-jobs'");
    assert.ok(jobs && jobs.owner !== before.lease_owner, `the periodic-jobs lease is still ${jobs?.owner} (A's)`);
    // Exactly one placement: the device on the server's host names it, and nothing else does.
    const devices = await cluster.query('select host, address, status from pci_devices where instance_uuid = $1', [id]);
    assert.deepEqual(devices.map((d) => [d.host, d.status]), [[server['OS-EXT-SRV-ATTR:host'], 'allocated']]);
    const allocations = await cluster.query('select host from allocations where consumer = $1', [id]);
    assert.deepEqual(allocations.map((r) => r.host), [server['OS-EXT-SRV-ATTR:host']]);
  });
});
