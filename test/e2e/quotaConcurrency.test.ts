/**
 * The instances quota is checked in the create's own transaction: 20
 * concurrent creates in a project whose `instances` quota is 5 give exactly
 * 5 servers and 15 of Nova's 403, on SQLite (one process) and on PostgreSQL
 * with two controller processes taking the creates half each.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startAllInOneProcess, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { startCluster, type Cluster } from '../helpers/cluster.js';

const CREATES = 20;
const LIMIT = 5;
const TIMEOUT = { timeout: 180_000 };

type Api = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;

/** Sets the admin project's instances quota, makes one port per create, then sends every create at once (round robin over `apis`). */
async function raceCreates(apis: Api[]): Promise<{ statuses: number[]; messages: string[]; projectId: string }> {
  const [first] = apis as [Api];
  const projectId = (await first('GET', '/identity/v3/projects?name=admin')).body.projects[0].id as string;
  const set = await first('PUT', `/compute/v2.1/os-quota-sets/${projectId}`, { quota_set: { instances: LIMIT } });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  assert.equal(set.body.quota_set.instances, LIMIT);
  const net = (await first('GET', '/network/v2.0/networks?name=vdpa-net')).body.networks[0].id;
  const image = (await first('GET', '/image/v2/images?name=cirros')).body.images[0].id;
  const ports: string[] = [];
  for (let i = 0; i < CREATES; i++) {
    const p = await first('POST', '/network/v2.0/ports', { port: { name: `race-${i}`, network_id: net, 'binding:vnic_type': 'vdpa' } });
    assert.equal(p.status, 201);
    ports.push(p.body.port.id);
  }
  const results = await Promise.all(ports.map((port, i) => apis[i % apis.length]!('POST', '/compute/v2.1/servers', {
    server: { name: `race-${i}`, imageRef: image, flavorRef: '1', networks: [{ port }] },
  })));
  return {
    statuses: results.map((r) => r.status),
    messages: results.filter((r) => r.status === 403).map((r) => r.body.forbidden.message as string),
    projectId,
  };
}

function assertExactlyLimit(r: { statuses: number[]; messages: string[] }): void {
  assert.equal(r.statuses.filter((s) => s === 202).length, LIMIT, `statuses: ${r.statuses.join(',')}`);
  assert.equal(r.statuses.filter((s) => s === 403).length, CREATES - LIMIT);
  for (const m of r.messages) assert.equal(m, `Quota exceeded for instances: Requested 1, but already used ${LIMIT} of ${LIMIT} instances`);
}

describe('concurrent creates against the instances quota', TIMEOUT, () => {
  let aio: AllInOneProcess | undefined;
  let cluster: Cluster | undefined;
  after(async () => {
    await aio?.stop();
    await cluster?.stop();
  });

  test('SQLite: 20 creates, quota 5: exactly 5 servers', TIMEOUT, async () => {
    aio = await startAllInOneProcess();
    const a = aio;
    const r = await raceCreates([(m, p, b) => a.api(m, p, b)]);
    assertExactlyLimit(r);
    const servers = (await a.api('GET', '/compute/v2.1/servers')).body.servers;
    assert.equal(servers.length, LIMIT);
    const limits = (await a.api('GET', '/compute/v2.1/limits')).body.limits.absolute;
    assert.equal(limits.totalInstancesUsed, LIMIT);
    // Ports of refused creates stay free.
    const bound = (await a.api('GET', '/network/v2.0/ports')).body.ports.filter((p: any) => p.name.startsWith('race-') && p.device_id !== '');
    assert.equal(bound.length, LIMIT);
  });

  test('PostgreSQL, two controllers: 20 creates, quota 5: exactly 5 servers', TIMEOUT, async () => {
    cluster = await startCluster({ controllers: 2 });
    const c = cluster;
    const r = await raceCreates(c.controllers.map((ctl) => (m: string, p: string, b?: unknown) => ctl.api(m, p, b)));
    assertExactlyLimit(r);
    const [rows] = await c.query('select count(*)::int as n from instances where project_id = $1', [r.projectId]);
    assert.equal(rows.n, LIMIT);
    const [usage] = await c.query('select instances from quota_usages where project_id = $1', [r.projectId]);
    assert.equal(usage.instances, LIMIT);
  });
});
