/**
 * Server groups with the real `openstack` client on four simulated hosts:
 * create/list/show/delete, `server create --hint group=`, each policy's
 * placement (anti-affinity spreads, affinity packs, max_server_per_host,
 * soft policies prefer but never fail), the quotas, 2.71's server_groups,
 * and a move under an affinity policy.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { cirrosImageId, computeVersion, lastMigration, until } from '../helpers/e2eFixtures.js';

const HOSTS = ['compute-0', 'compute-1', 'compute-2', 'compute-3'];
const TIMEOUT = { timeout: 300_000 };
const hostOf = (s: any): string => s['OS-EXT-SRV-ATTR:host'];

describe('server groups through the openstack client', () => {
  let aio: AllInOneProcess;
  let image: string;
  let projectId: string;

  /** A server without NICs in the group (raw API, as the client would send it). */
  async function bootInGroup(name: string, group: string): Promise<string> {
    const r = await aio.api('POST', '/compute/v2.1/servers', {
      server: { name, imageRef: image, flavorRef: '1', networks: 'none' }, 'os:scheduler_hints': { group },
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body.server.id;
  }

  async function settle(ids: string[]): Promise<any[]> {
    return Promise.all(ids.map((id) => aio.waitForServer(id, ['ACTIVE', 'ERROR'], 60_000)));
  }

  async function createGroup(name: string, policy: string, rules: string[] = []): Promise<any> {
    return aio.openstackJson(['server', 'group', 'create', '--policy', policy, ...rules.flatMap((r) => ['--rule', r]), name]);
  }

  before(async () => {
    aio = await startAllInOneProcess({ hosts: HOSTS.map((h) => vdpaHost(h)) });
    image = await cirrosImageId(aio);
    projectId = (await aio.api('GET', '/identity/v3/projects?name=admin')).body.projects[0].id;
    // Room for every server of this file (Nova's defaults are 10 instances and 20 cores).
    const set = await aio.api('PUT', `/compute/v2.1/os-quota-sets/${projectId}`, { quota_set: { instances: -1, cores: -1, ram: -1 } });
    assert.equal(set.status, 200, JSON.stringify(set.body));
  });
  after(async () => { await aio?.stop(); });

  test('create, list, show and delete with the client; Nova\'s body shapes by microversion', TIMEOUT, async () => {
    const g = await createGroup('sg-crud', 'anti-affinity', ['max_server_per_host=2']);
    assert.equal(g.name, 'sg-crud');
    assert.equal(g.policy, 'anti-affinity');
    assert.match(JSON.stringify(g.rules), /max_server_per_host/);
    assert.match(JSON.stringify(g.rules), /2/);
    assert.match(g.id, /^[0-9a-f-]{36}$/);

    const list = await aio.openstackJson(['server', 'group', 'list']);
    assert.ok(list.some((x: any) => x.ID === g.id && x.Name === 'sg-crud'), JSON.stringify(list));
    const shown = await aio.openstackJson(['server', 'group', 'show', 'sg-crud']);
    assert.equal(shown.id, g.id);

    const v264 = await aio.api('GET', `/compute/v2.1/os-server-groups/${g.id}`, undefined, { headers: computeVersion('2.64') });
    assert.deepEqual(v264.body.server_group, {
      id: g.id, name: 'sg-crud', policy: 'anti-affinity', rules: { max_server_per_host: 2 }, members: [],
      project_id: projectId, user_id: v264.body.server_group.user_id,
    });
    const v21 = await aio.api('GET', `/compute/v2.1/os-server-groups/${g.id}`);
    assert.deepEqual(v21.body.server_group, { id: g.id, name: 'sg-crud', policies: ['anti-affinity'], metadata: {}, members: [] });

    // Before 2.64 the one-item `policies` list; soft policies only from 2.15.
    const old = await aio.api('POST', '/compute/v2.1/os-server-groups', { server_group: { name: 'sg-old', policies: ['affinity'] } });
    assert.equal(old.status, 200, JSON.stringify(old.body));
    assert.deepEqual(old.body.server_group.policies, ['affinity']);
    const soft21 = await aio.api('POST', '/compute/v2.1/os-server-groups', { server_group: { name: 'sg-soft', policies: ['soft-affinity'] } });
    assert.equal(soft21.status, 400);

    const rulesOnAffinity = await aio.openstack(['server', 'group', 'create', '--policy', 'affinity', '--rule', 'max_server_per_host=2', 'sg-bad']);
    assert.notEqual(rulesOnAffinity.code, 0);
    assert.match(rulesOnAffinity.stderr, /Only anti-affinity policy supports rules\./);

    assert.equal((await aio.openstack(['server', 'group', 'delete', 'sg-crud'])).code, 0);
    const gone = await aio.api('GET', `/compute/v2.1/os-server-groups/${g.id}`);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.itemNotFound.message, `Instance group ${g.id} could not be found.`);
    assert.equal((await aio.api('DELETE', `/compute/v2.1/os-server-groups/${old.body.server_group.id}`)).status, 204);
  });

  test('`server create --hint group=`: anti-affinity spreads over the four hosts, the fifth is No valid host', TIMEOUT, async () => {
    const g = await createGroup('sg-anti', 'anti-affinity');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await aio.openstackJson(['--os-compute-api-version', '2.37', 'server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros',
        '--nic', 'none', '--hint', `group=${g.id}`, `anti-${i}`]);
      ids.push(r.id);
    }
    const servers = await settle(ids);
    const active = servers.filter((s) => s.status === 'ACTIVE');
    assert.equal(active.length, 4, JSON.stringify(servers.map((s) => [s.status, s.fault?.message])));
    assert.deepEqual(active.map(hostOf).sort(), HOSTS);
    const failed = servers.find((s) => s.status === 'ERROR');
    assert.equal(failed.fault.message, 'No valid host was found.');

    // 2.71: a server names its group.
    const show = await aio.api('GET', `/compute/v2.1/servers/${ids[0]}`, undefined, { headers: computeVersion('2.71') });
    assert.deepEqual(show.body.server.server_groups, [g.id]);
    const before271 = await aio.api('GET', `/compute/v2.1/servers/${ids[0]}`, undefined, { headers: computeVersion('2.70') });
    assert.equal(before271.body.server.server_groups, undefined);
    const members = (await aio.openstackJson(['server', 'group', 'show', g.id])).members;
    assert.equal(String(members).split(',').filter(Boolean).length, 5, JSON.stringify(members));

    // A deleted server leaves the group and frees its host for the next member.
    const firstHost = hostOf(active[0]);
    assert.equal((await aio.openstack(['server', 'delete', '--wait', active[0].id])).code, 0);
    assert.equal((await aio.openstack(['server', 'delete', '--wait', failed.id])).code, 0);
    const left = (await aio.api('GET', `/compute/v2.1/os-server-groups/${g.id}`)).body.server_group.members;
    assert.equal(left.length, 3);
    const [next] = await settle([await bootInGroup('anti-next', g.id)]);
    assert.equal(next.status, 'ACTIVE', JSON.stringify(next.fault));
    assert.equal(hostOf(next), firstHost);
  });

  test('affinity packs onto one host', TIMEOUT, async () => {
    const g = await createGroup('sg-aff', 'affinity');
    const first = (await settle([await bootInGroup('aff-0', g.id)]))[0];
    const rest = await settle([await bootInGroup('aff-1', g.id), await bootInGroup('aff-2', g.id)]);
    for (const s of [first, ...rest]) assert.equal(s.status, 'ACTIVE', JSON.stringify(s.fault));
    assert.deepEqual(new Set([first, ...rest].map(hostOf)).size, 1);
  });

  test('max_server_per_host=2: eight members on four hosts, two each, the ninth is No valid host', TIMEOUT, async () => {
    const g = await createGroup('sg-max2', 'anti-affinity', ['max_server_per_host=2']);
    const ids = await Promise.all(Array.from({ length: 9 }, (_, i) => bootInGroup(`max2-${i}`, g.id)));
    const servers = await settle(ids);
    const active = servers.filter((s) => s.status === 'ACTIVE');
    assert.equal(active.length, 8, JSON.stringify(servers.map((s) => [s.status, s.fault?.message])));
    const perHost = new Map<string, number>();
    for (const s of active) perHost.set(hostOf(s), (perHost.get(hostOf(s)) ?? 0) + 1);
    assert.deepEqual([...perHost.values()], [2, 2, 2, 2]);
    assert.equal(servers.find((s) => s.status === 'ERROR').fault.message, 'No valid host was found.');
  });

  test('soft policies prefer but never fail: soft-anti-affinity spreads then doubles up, soft-affinity packs', TIMEOUT, async () => {
    const anti = await createGroup('sg-soft-anti', 'soft-anti-affinity');
    const spread: any[] = [];
    for (let i = 0; i < 6; i++) spread.push(...(await settle([await bootInGroup(`soft-anti-${i}`, anti.id)])));
    for (const s of spread) assert.equal(s.status, 'ACTIVE', JSON.stringify(s.fault));
    assert.equal(new Set(spread.slice(0, 4).map(hostOf)).size, 4);

    const aff = await createGroup('sg-soft-aff', 'soft-affinity');
    const packed: any[] = [];
    for (let i = 0; i < 3; i++) packed.push(...(await settle([await bootInGroup(`soft-aff-${i}`, aff.id)])));
    for (const s of packed) assert.equal(s.status, 'ACTIVE', JSON.stringify(s.fault));
    assert.equal(new Set(packed.map(hostOf)).size, 1);
  });

  test('a cold migration keeps an affinity policy: no other host may take a member of a group that runs elsewhere', TIMEOUT, async () => {
    const g = await createGroup('sg-aff-move', 'affinity');
    const [a, b] = await settle([await bootInGroup('aff-move-0', g.id)]).then(async (x) => [x[0], (await settle([await bootInGroup('aff-move-1', g.id)]))[0]]);
    assert.equal(hostOf(a), hostOf(b));
    const r = await aio.openstack(['server', 'migrate', a.id]);
    assert.equal(r.code, 0, r.stderr);
    await until('the migration to fail', async () => {
      const m = await lastMigration(aio, a.id);
      return m?.status === 'error' ? m : null;
    }, 20_000);
    const after = await aio.waitForServer(a.id, ['ACTIVE']);
    assert.equal(hostOf(after), hostOf(b));

    // An anti-affinity member moves to a host without members.
    const anti = await createGroup('sg-anti-move', 'anti-affinity');
    const [x, y, z] = await settle([await bootInGroup('anti-move-0', anti.id), await bootInGroup('anti-move-1', anti.id), await bootInGroup('anti-move-2', anti.id)]);
    const taken = new Set([hostOf(y), hostOf(z)]);
    assert.equal((await aio.openstack(['server', 'migrate', x.id])).code, 0);
    const moved = await aio.waitForServer(x.id, ['VERIFY_RESIZE', 'ERROR', 'ACTIVE'], 60_000);
    assert.equal(moved.status, 'VERIFY_RESIZE', JSON.stringify(moved.fault));
    assert.ok(!taken.has(hostOf(moved)) && hostOf(moved) !== hostOf(x), `moved to ${hostOf(moved)}`);
  });

  test('live migration and unshelve keep the policy', TIMEOUT, async () => {
    // Three anti-affinity members on three hosts: the only destination of a live migration is the fourth.
    const anti = await createGroup('sg-anti-live', 'anti-affinity');
    const [x, y, z] = await settle([await bootInGroup('live-0', anti.id), await bootInGroup('live-1', anti.id), await bootInGroup('live-2', anti.id)]);
    const free = HOSTS.find((h) => ![x, y, z].map(hostOf).includes(h));
    const live = await aio.openstack(['server', 'migrate', '--live-migration', x.id]);
    assert.equal(live.code, 0, live.stderr);
    const moved = await until('the live migration to finish', async () => {
      const s = (await aio.api('GET', `/compute/v2.1/servers/${x.id}`)).body.server;
      return s.status === 'ACTIVE' && s['OS-EXT-STS:task_state'] === null && hostOf(s) !== hostOf(x) ? s : null;
    }, 60_000);
    assert.equal(hostOf(moved), free);

    // An affinity member shelved (offloaded, so it holds nothing) comes back where the group runs.
    const aff = await createGroup('sg-aff-shelve', 'affinity');
    const [a] = await settle([await bootInGroup('shelve-0', aff.id)]);
    const [b] = await settle([await bootInGroup('shelve-1', aff.id)]);
    assert.equal(hostOf(a), hostOf(b));
    assert.equal((await aio.openstack(['server', 'shelve', a.id])).code, 0);
    await aio.waitForServer(a.id, ['SHELVED_OFFLOADED'], 60_000);
    assert.equal((await aio.openstack(['server', 'unshelve', a.id])).code, 0);
    const back = await until('the unshelve to finish', async () => {
      const s = (await aio.api('GET', `/compute/v2.1/servers/${a.id}`)).body.server;
      return s.status === 'ACTIVE' && s['OS-EXT-STS:task_state'] === null ? s : null;
    }, 60_000);
    assert.equal(hostOf(back), hostOf(b));
  });

  test('quotas: server_groups and server_group_members with Nova\'s 403 texts', TIMEOUT, async () => {
    const members = await aio.api('PUT', `/compute/v2.1/os-quota-sets/${projectId}`, { quota_set: { server_group_members: 2 } });
    assert.equal(members.status, 200, JSON.stringify(members.body));
    const g = await createGroup('sg-quota', 'soft-anti-affinity');
    await bootInGroup('quota-0', g.id);
    await bootInGroup('quota-1', g.id);
    const third = await aio.api('POST', '/compute/v2.1/servers', {
      server: { name: 'quota-2', imageRef: image, flavorRef: '1', networks: 'none' }, 'OS-SCH-HNT:scheduler_hints': { group: g.id },
    });
    assert.equal(third.status, 403);
    assert.equal(third.body.forbidden.message, 'Quota exceeded, too many servers in group');

    const unknown = await aio.api('POST', '/compute/v2.1/servers', {
      server: { name: 'nogroup', imageRef: image, flavorRef: '1', networks: 'none' }, 'os:scheduler_hints': { group: '11111111-2222-3333-4444-555555555555' },
    });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.badRequest.message, 'Instance group 11111111-2222-3333-4444-555555555555 could not be found.');

    const inUse = (await aio.api('GET', `/compute/v2.1/os-quota-sets/${projectId}/detail`)).body.quota_set.server_groups.in_use;
    const groups = await aio.api('PUT', `/compute/v2.1/os-quota-sets/${projectId}`, { quota_set: { server_groups: inUse } });
    assert.equal(groups.status, 200, JSON.stringify(groups.body));
    const refused = await aio.openstack(['server', 'group', 'create', '--policy', 'affinity', 'sg-over']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /Quota exceeded, too many server groups\./);
    const limits = (await aio.api('GET', '/compute/v2.1/limits')).body.limits.absolute;
    assert.equal(limits.totalServerGroupsUsed, inUse);
  });
});
