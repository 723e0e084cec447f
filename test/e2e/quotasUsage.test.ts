/**
 * Quotas (compute and networking), limits and os-simple-tenant-usage through
 * the real openstack client, refusals included.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startAllInOneProcess, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { twoVdpaHosts } from '../helpers/e2eFixtures.js';

// The real client costs 1-2 s per command on this machine.
const TIMEOUT = { timeout: 300_000 };

describe('quotas, limits and usage', TIMEOUT, () => {
  let aio: AllInOneProcess;
  let demoId: string;
  before(async () => {
    aio = await startAllInOneProcess({ hosts: twoVdpaHosts() });
    demoId = (await aio.api('GET', '/identity/v3/projects?name=demo')).body.projects[0].id;
  });
  after(async () => { await aio?.stop(); });

  async function port(name: string, user: 'admin' | 'demo' = 'demo'): Promise<string> {
    return (await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', name], { user })).id;
  }

  test('quota show (project and --default) has Nova\'s and Neutron\'s defaults', TIMEOUT, async () => {
    const q = await aio.openstackJson(['quota', 'show'], { user: 'demo' });
    assert.equal(q.instances, 10);
    assert.equal(q.cores, 20);
    assert.equal(q.ram, 51200);
    assert.equal(q['key-pairs'], 100);
    assert.equal(q['server-groups'], 10);
    assert.equal(q['server-group-members'], 10);
    assert.equal(q.ports, 500);
    assert.equal(q.networks, 100);
    assert.equal(q.subnets, 100);
    assert.equal(q.secgroups, 10);
    assert.equal(q['secgroup-rules'], 100);
    assert.equal(q.project, demoId);
    const d = await aio.openstackJson(['quota', 'show', '--default', 'demo']);
    assert.equal(d.instances, 10);
    assert.equal(d.ports, 500);
  });

  test('quota set is for admins: a member gets Nova\'s 403', TIMEOUT, async () => {
    const denied = await aio.openstack(['quota', 'set', '--instances', '50', demoId], { user: 'demo' });
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /Policy doesn't allow os_compute_api:os-quota-sets:update to be performed\. \(HTTP 403\)/);
    const set = await aio.openstack(['quota', 'set', '--instances', '1', '--cores', '3', '--ports', '3', 'demo']);
    assert.equal(set.code, 0, set.stderr);
    const q = await aio.openstackJson(['quota', 'show', 'demo']);
    assert.equal(q.instances, 1);
    assert.equal(q.cores, 3);
    assert.equal(q.ports, 3);
    const other = await aio.openstack(['limits', 'show', '--absolute', '--project', 'admin'], { user: 'demo' });
    assert.equal(other.code, 1);
  });

  test('a create over the instances quota is Nova\'s 403 and changes nothing; limits show --absolute counts', TIMEOUT, async () => {
    const p1 = await port('q-p1');
    const first = await aio.openstackJson(['server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros', '--port', p1, 'q-vm1'], { user: 'demo' });
    await aio.waitForServer(first.id, ['ACTIVE']);
    const p2 = await port('q-p2');
    const over = await aio.openstack(['server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros', '--port', p2, 'q-vm2'], { user: 'demo' });
    assert.equal(over.code, 1);
    assert.match(over.stderr, /^Quota exceeded for instances: Requested 1, but already used 1 of 1 instances \(HTTP 403\)/m);
    assert.equal((await aio.openstackJson(['port', 'show', p2], { user: 'demo' })).device_id, '');
    assert.equal((await aio.api('GET', '/compute/v2.1/servers', undefined, { user: 'demo' })).body.servers.length, 1);

    const limits = await aio.openstackJson(['limits', 'show', '--absolute'], { user: 'demo' });
    const value = (name: string) => limits.find((l: any) => l.Name === name)?.Value;
    assert.equal(value('maxTotalInstances'), 1);
    assert.equal(value('totalInstancesUsed'), 1);
    assert.equal(value('maxTotalCores'), 3);
    assert.equal(value('totalCoresUsed'), 1);
    assert.equal(value('totalRAMUsed'), 512);
  });

  test('a resize over the cores quota is Nova\'s 403 and the server stays as it was', TIMEOUT, async () => {
    const r = await aio.openstack(['server', 'resize', '--flavor', 'm1.large', 'q-vm1'], { user: 'demo' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Quota exceeded for cores: Requested 3, but already used 1 of 3 cores \(HTTP 403\)/m);
    const s = await aio.openstackJson(['server', 'show', 'q-vm1'], { user: 'demo' });
    assert.equal(s.status, 'ACTIVE');
    assert.equal(s.flavor.split(' ')[0], 'm1.tiny');
  });

  test('a port over the ports quota is Neutron\'s 409 OverQuota', TIMEOUT, async () => {
    // q-p1 and q-p2 exist: the third is the last one allowed.
    await port('q-p3');
    const r = await aio.openstack(['port', 'create', '--network', 'vdpa-net', 'q-p4'], { user: 'demo' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ConflictException: 409: .*Quota exceeded for resources: \['port'\]\./);
  });

  test('usage list / usage show charge live and deleted servers for their time in the period', TIMEOUT, async () => {
    const del = await aio.openstack(['server', 'delete', '--wait', 'q-vm1'], { user: 'demo' });
    assert.equal(del.code, 0, del.stderr);
    const usage = await aio.api('GET', `/compute/v2.1/os-simple-tenant-usage/${demoId}?start=2020-01-01T00:00:00`, undefined, { user: 'demo' });
    assert.equal(usage.status, 200);
    const [s] = usage.body.tenant_usage.server_usages;
    assert.equal(s.name, 'q-vm1');
    assert.equal(s.state, 'terminated');
    assert.equal(s.flavor, 'm1.tiny');
    assert.ok(s.hours > 0);
    assert.ok(s.ended_at > s.started_at);

    // With -f json the client prints the project's id and the server usages themselves.
    const list = await aio.openstackJson(['usage', 'list']);
    const demoRow = list.find((u: any) => u.Project === demoId);
    assert.deepEqual(demoRow.Servers.map((x: any) => [x.name, x.state]), [['q-vm1', 'terminated']]);
    assert.ok(demoRow['RAM MB-Hours'] > 0);
    const shown = await aio.openstackJson(['usage', 'show'], { user: 'demo' });
    assert.deepEqual(shown.Servers.map((x: any) => x.instance_id), [s.instance_id]);
    const table = await aio.openstack(['usage', 'list']);
    assert.match(table.stdout, /\| demo +\| 1 +\|/);
    const denied = await aio.openstack(['usage', 'list'], { user: 'demo' });
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /Policy doesn't allow os_compute_api:os-simple-tenant-usage:list to be performed\. \(HTTP 403\)/);
    const bad = await aio.api('GET', `/compute/v2.1/os-simple-tenant-usage/${demoId}?start=yesterday`, undefined, { user: 'demo' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.badRequest.message, 'Invalid datetime string: Datetime is in invalid format');
  });
});
