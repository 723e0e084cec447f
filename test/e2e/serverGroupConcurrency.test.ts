/**
 * A group's policy is decided inside the claim's transaction, under the
 * group's row lock: 10 concurrent creates in an anti-affinity group on four
 * hosts give exactly 4 ACTIVE servers on 4 hosts and 6 ERROR (No valid host),
 * on SQLite (one process) and on PostgreSQL with two controller processes
 * taking the creates half each.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { startCluster, type Cluster } from '../helpers/cluster.js';

const HOSTS = ['compute-0', 'compute-1', 'compute-2', 'compute-3'];
const CREATES = 10;
const TIMEOUT = { timeout: 300_000 };

type Api = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;
type Wait = (id: string) => Promise<any>;

/** Makes an anti-affinity group, sends every create at once (round robin over `apis`) and waits for each to settle. */
async function raceGroupCreates(apis: Api[], wait: Wait): Promise<any[]> {
  const [first] = apis as [Api];
  const group = await first('POST', '/compute/v2.1/os-server-groups', { server_group: { name: 'race-anti', policies: ['anti-affinity'] } });
  assert.equal(group.status, 200, JSON.stringify(group.body));
  const image = (await first('GET', '/image/v2/images?name=cirros')).body.images[0].id;
  const created = await Promise.all(Array.from({ length: CREATES }, (_, i) => apis[i % apis.length]!('POST', '/compute/v2.1/servers', {
    server: { name: `race-${i}`, imageRef: image, flavorRef: '1', networks: 'none' },
    'os:scheduler_hints': { group: group.body.server_group.id },
  })));
  for (const r of created) assert.equal(r.status, 202, JSON.stringify(r.body));
  return Promise.all(created.map((r) => wait(r.body.server.id)));
}

function assertFourOnFourHosts(servers: any[]): void {
  const summary = JSON.stringify(servers.map((s) => [s.status, s['OS-EXT-SRV-ATTR:host'], s.fault?.message]));
  const active = servers.filter((s) => s.status === 'ACTIVE');
  assert.equal(active.length, 4, summary);
  assert.deepEqual(active.map((s) => s['OS-EXT-SRV-ATTR:host']).sort(), HOSTS, summary);
  const failed = servers.filter((s) => s.status === 'ERROR');
  assert.equal(failed.length, CREATES - 4, summary);
  for (const s of failed) assert.equal(s.fault.message, 'No valid host was found.');
}

describe('concurrent creates in an anti-affinity group', TIMEOUT, () => {
  let aio: AllInOneProcess | undefined;
  let cluster: Cluster | undefined;
  after(async () => {
    await aio?.stop();
    await cluster?.stop();
  });

  test('SQLite: 10 creates, 4 hosts: exactly 4 ACTIVE on 4 hosts and 6 ERROR', TIMEOUT, async () => {
    aio = await startAllInOneProcess({ hosts: HOSTS.map((h) => vdpaHost(h)) });
    const a = aio;
    const servers = await raceGroupCreates([(m, p, b) => a.api(m, p, b)], (id) => a.waitForServer(id, ['ACTIVE', 'ERROR'], 120_000));
    assertFourOnFourHosts(servers);
  });

  test('PostgreSQL, two controllers: 10 creates, 4 hosts: exactly 4 ACTIVE on 4 hosts and 6 ERROR', TIMEOUT, async () => {
    cluster = await startCluster({ controllers: 2 });
    const c = cluster;
    for (const [i, h] of HOSTS.entries()) await c.startAgent(vdpaHost(h), { controller: i % 2 });
    const [c0] = c.controllers as [typeof c.controllers[number]];
    // Every host's service must be up before the race, or a host would be missing for a reason other than the policy.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const services = (await c0.api('GET', '/compute/v2.1/os-services?binary=nova-compute')).body.services as any[];
      if (services.filter((s) => s.state === 'up').length === HOSTS.length) break;
      assert.ok(Date.now() < deadline, JSON.stringify(services));
      await new Promise((r) => setTimeout(r, 200));
    }
    const servers = await raceGroupCreates(
      c.controllers.map((ctl) => (m: string, p: string, b?: unknown) => ctl.api(m, p, b)),
      (id) => c0.waitForServer(id, ['ACTIVE', 'ERROR'], 120_000),
    );
    assertFourOnFourHosts(servers);
    const rows = await c.query('select count(*)::int as n from server_group_members');
    assert.equal(rows[0].n, CREATES);

    // The rest of the group's life on PostgreSQL: paging, a deleted member leaving, the group's delete.
    const page = await c0.api('GET', '/compute/v2.1/os-server-groups?limit=1&offset=0', undefined, { 'openstack-api-version': 'compute 2.64' });
    assert.equal(page.body.server_groups.length, 1);
    const group = page.body.server_groups[0];
    assert.equal(group.policy, 'anti-affinity');
    assert.equal(group.members.length, CREATES);
    assert.equal((await c0.api('GET', '/compute/v2.1/os-server-groups?offset=1')).body.server_groups.length, 0);
    const failed = servers.find((s) => s.status === 'ERROR');
    assert.equal((await c0.api('DELETE', `/compute/v2.1/servers/${failed.id}`)).status, 204);
    await c0.waitForServer(failed.id, ['DELETED'], 60_000);
    const shown = await c0.api('GET', `/compute/v2.1/os-server-groups/${group.id}`);
    assert.equal(shown.body.server_group.members.length, CREATES - 1);
    assert.ok(!shown.body.server_group.members.includes(failed.id));
    assert.equal((await c0.api('DELETE', `/compute/v2.1/os-server-groups/${group.id}`)).status, 204);
    assert.equal((await c0.api('GET', `/compute/v2.1/os-server-groups/${group.id}`)).status, 404);
  });
});
