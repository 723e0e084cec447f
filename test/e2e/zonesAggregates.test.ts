/**
 * Host aggregates, availability zones and the zone / aggregate filters,
 * hypervisor show and stats, through the real openstack client.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startAllInOneProcess, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { twoVdpaHosts } from '../helpers/e2eFixtures.js';

// The real client costs 1-2 s per command on this machine.
const TIMEOUT = { timeout: 300_000 };

describe('availability zones and host aggregates', TIMEOUT, () => {
  let aio: AllInOneProcess;
  before(async () => { aio = await startAllInOneProcess({ hosts: twoVdpaHosts() }); });
  after(async () => { await aio?.stop(); });

  async function ok(args: string[], user: 'admin' | 'demo' = 'admin'): Promise<string> {
    const r = await aio.openstack(args, { user });
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  async function bootIn(name: string, zone: string | null, opts: { flavor?: string; user?: 'admin' | 'demo' } = {}) {
    const user = opts.user ?? 'admin';
    const port = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', `${name}-port`], { user });
    const args = ['server', 'create', '--flavor', opts.flavor ?? 'm1.tiny', '--image', 'cirros', '--port', port.id];
    if (zone) args.push('--availability-zone', zone);
    return { port, result: await aio.openstack([...args, name, '-f', 'json'], { user }) };
  }

  test('aggregate create --zone / list / show / set --property / add host / remove host / delete', TIMEOUT, async () => {
    const created = await aio.openstackJson(['aggregate', 'create', '--zone', 'az1', 'agg1']);
    assert.equal(created.name, 'agg1');
    assert.equal(created.availability_zone, 'az1');
    assert.equal(typeof created.id, 'number');
    await ok(['aggregate', 'add', 'host', 'agg1', 'compute-0']);
    await ok(['aggregate', 'set', '--property', 'ssd=true', 'agg1']);
    const shown = await aio.openstackJson(['aggregate', 'show', 'agg1']);
    assert.deepEqual(shown.hosts, ['compute-0']);
    // The client shows the zone on its own line, not among the properties.
    assert.equal(shown.availability_zone, 'az1');
    assert.deepEqual(shown.properties, { ssd: 'true' });
    const list = await aio.openstackJson(['aggregate', 'list']);
    assert.deepEqual(list.map((a: any) => [a.Name, a['Availability Zone']]), [['agg1', 'az1']]);

    // Refusals, with Nova's texts.
    const dup = await aio.openstack(['aggregate', 'create', 'agg1']);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /409.*Aggregate agg1 already exists\./);
    const unknownHost = await aio.openstack(['aggregate', 'add', 'host', 'agg1', 'compute-9']);
    assert.equal(unknownHost.code, 1);
    assert.match(unknownHost.stderr, /404.*Compute host compute-9 could not be found\./);
    await ok(['aggregate', 'create', '--zone', 'az2', 'agg2']);
    const twoZones = await aio.openstack(['aggregate', 'add', 'host', 'agg2', 'compute-0']);
    assert.equal(twoZones.code, 1);
    assert.match(twoZones.stderr, /409.*Cannot add host to aggregate \d+\. Reason: One or more hosts already in availability zone\(s\) \['az1'\]\./);
    const notEmpty = await aio.openstack(['aggregate', 'delete', 'agg1']);
    assert.equal(notEmpty.code, 1);
    assert.match(notEmpty.stderr, /400.*Cannot remove host from aggregate \d+\. Reason: Host aggregate is not empty\./);
    const member = await aio.openstack(['aggregate', 'list'], { user: 'demo' });
    assert.equal(member.code, 1);
    assert.match(member.stderr, /403.*Policy doesn't allow os_compute_api:os-aggregates:index to be performed\./);

    await ok(['aggregate', 'remove', 'host', 'agg2', 'compute-1']).catch(() => undefined);
    await ok(['aggregate', 'delete', 'agg2']);
    assert.equal((await aio.openstackJson(['aggregate', 'list'])).length, 1);
  });

  test('availability zone list: compute zones from aggregates (long with hosts for admins) and the network zone', TIMEOUT, async () => {
    const zones = await aio.openstackJson(['availability', 'zone', 'list']);
    assert.deepEqual(zones.map((z: any) => [z['Zone Name'], z['Zone Status']]), [['az1', 'available'], ['nova', 'available'], ['nova', 'available']]);
    const long = await aio.openstackJson(['availability', 'zone', 'list', '--long']);
    const compute = long.filter((z: any) => z['Service Name'] === 'nova-compute').map((z: any) => [z['Zone Name'], z['Host Name']]);
    assert.deepEqual(compute, [['az1', 'compute-0'], ['nova', 'compute-1']]);
    assert.ok(long.some((z: any) => z['Zone Name'] === 'nova' && z['Zone Resource'] === 'network'));
    // A member gets the list without hosts (the detail is admin only: the client falls back).
    const asMember = await aio.openstackJson(['availability', 'zone', 'list', '--compute'], { user: 'demo' });
    assert.deepEqual(asMember.map((z: any) => z['Zone Name']), ['az1', 'nova']);
  });

  test('server create --availability-zone places in the zone and shows it; an unknown zone is 400', TIMEOUT, async () => {
    const { result } = await bootIn('in-az1', 'az1', { user: 'demo' });
    assert.equal(result.code, 0, result.stderr);
    const s1 = await aio.waitForServer(JSON.parse(result.stdout).id, ['ACTIVE']);
    assert.equal(s1['OS-EXT-AZ:availability_zone'], 'az1');
    const shown = await aio.openstackJson(['server', 'show', 'in-az1'], { user: 'demo' });
    assert.equal(s1['OS-EXT-SRV-ATTR:host'], 'compute-0');
    assert.equal(shown['OS-EXT-AZ:availability_zone'], 'az1');

    const { result: inNova } = await bootIn('in-nova', 'nova');
    assert.equal(inNova.code, 0, inNova.stderr);
    const s2 = await aio.waitForServer(JSON.parse(inNova.stdout).id, ['ACTIVE']);
    assert.equal(s2['OS-EXT-SRV-ATTR:host'], 'compute-1');
    assert.equal(s2['OS-EXT-AZ:availability_zone'], 'nova');

    const { result: none, port } = await bootIn('nowhere', 'az9');
    assert.equal(none.code, 1);
    assert.match(none.stderr, /The requested availability zone is not available \(HTTP 400\)/);
    assert.equal((await aio.openstackJson(['port', 'show', port.id])).device_id, '');
    assert.equal((await aio.api('GET', '/compute/v2.1/servers?name=nowhere')).body.servers.length, 0);
  });

  test('zone:host is an admin\'s forced host; a member is refused', TIMEOUT, async () => {
    const { result } = await bootIn('forced', 'nova:compute-0');
    assert.equal(result.code, 0, result.stderr);
    const s = await aio.waitForServer(JSON.parse(result.stdout).id, ['ACTIVE']);
    assert.equal(s['OS-EXT-SRV-ATTR:host'], 'compute-0');
    // compute-0 is in az1, not nova: the zone is dropped, the server shows its host's.
    assert.equal(s['OS-EXT-AZ:availability_zone'], 'az1');
    const { result: member } = await bootIn('forced-member', 'az1:compute-0', { user: 'demo' });
    assert.equal(member.code, 1);
    assert.match(member.stderr, /Policy doesn't allow os_compute_api:servers:create:forced_host to be performed\. \(HTTP 403\)/);
  });

  test('a flavor\'s aggregate_instance_extra_specs sends servers to the aggregate\'s hosts only', TIMEOUT, async () => {
    await ok(['flavor', 'create', '--vcpus', '1', '--ram', '512', '--disk', '1', '--property', 'aggregate_instance_extra_specs:ssd=true', 'ssd.tiny']);
    await ok(['flavor', 'create', '--vcpus', '1', '--ram', '512', '--disk', '1', '--property', 'aggregate_instance_extra_specs:gpu=<in> a100', 'gpu.tiny']);
    for (const name of ['ssd-1', 'ssd-2']) {
      const { result } = await bootIn(name, null, { flavor: 'ssd.tiny' });
      assert.equal(result.code, 0, result.stderr);
      const s = await aio.waitForServer(JSON.parse(result.stdout).id, ['ACTIVE']);
      assert.equal(s['OS-EXT-SRV-ATTR:host'], 'compute-0');
    }
    // No aggregate has the key: no valid host.
    const { result } = await bootIn('gpu-1', null, { flavor: 'gpu.tiny' });
    assert.equal(result.code, 0, result.stderr);
    const s = await aio.waitForServer(JSON.parse(result.stdout).id, ['ERROR']);
    assert.equal(s.fault.message, 'No valid host was found.');
  });

  test('hypervisor show lists the host\'s aggregates; hypervisor stats show sums the enabled hosts', TIMEOUT, async () => {
    const h = await aio.openstackJson(['hypervisor', 'show', 'compute-0']);
    assert.equal(h.hypervisor_hostname, 'compute-0');
    assert.deepEqual(h.aggregates, ['agg1']);
    assert.equal(h.service_host, 'compute-0');
    assert.equal(typeof h.vcpus_used, 'number');
    const stats = await aio.openstackJson(['hypervisor', 'stats', 'show']);
    const nodes = (await aio.api('GET', '/compute/v2.1/os-hypervisors/detail')).body.hypervisors;
    assert.equal(stats.count, 2);
    assert.equal(stats.vcpus_used, nodes.reduce((n: number, x: any) => n + x.vcpus_used, 0));
    assert.equal(stats.running_vms, nodes.reduce((n: number, x: any) => n + x.running_vms, 0));
    const member = await aio.openstack(['hypervisor', 'stats', 'show'], { user: 'demo' });
    assert.equal(member.code, 1);
    assert.match(member.stderr, /Policy doesn't allow os_compute_api:os-hypervisors:statistics to be performed\. \(HTTP 403\)/);
  });
});
