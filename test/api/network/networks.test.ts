import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OTHER_PROJECT, startNetworkHarness, type NetworkHarness } from './harness.js';

describe('networking API: networks and subnets', () => {
  let h: NetworkHarness;
  before(async () => { h = await startNetworkHarness(); });
  after(async () => { await h.close(); });

  test('the resources list names networks, subnets and ports', { timeout: 120_000 }, async () => {
    const r = await h.call('demo', 'GET', '/network/v2.0/');
    assert.deepEqual(r.body.resources.map((x: any) => x.collection), ['networks', 'subnets', 'ports', 'security-groups', 'security-group-rules']);
  });

  test('a member sees the shared network with its subnet, without provider attributes', { timeout: 120_000 }, async () => {
    const r = await h.call('demo', 'GET', '/network/v2.0/networks?name=vdpa-net');
    assert.equal(r.body.networks.length, 1);
    const n = r.body.networks[0];
    assert.equal(n.shared, true);
    assert.equal(n.status, 'ACTIVE');
    assert.deepEqual(n.subnets, [h.sharedSubnetId]);
    assert.ok(!('provider:physical_network' in n));
    const admin = await h.call('admin', 'GET', `/network/v2.0/networks/${n.id}`);
    assert.equal(admin.body.network['provider:physical_network'], 'physnet0');
    assert.equal(admin.body.network['provider:network_type'], 'vlan');
    assert.equal(admin.body.network['provider:segmentation_id'], 100);
    assert.equal(admin.body.network.mtu, 1500);
    const subnet = await h.call('demo', 'GET', `/network/v2.0/subnets/${h.sharedSubnetId}`);
    assert.equal(subnet.status, 200);
    assert.equal(subnet.body.subnet.gateway_ip, '10.0.0.1');
    assert.deepEqual(subnet.body.subnet.allocation_pools, [{ start: '10.0.0.2', end: '10.0.0.254' }]);
  });

  test('members create overlay networks; provider attributes and shared are admin-only', { timeout: 120_000 }, async () => {
    const denied = await h.call('demo', 'POST', '/network/v2.0/networks',
      { network: { name: 'p', 'provider:physical_network': 'physnet4' } });
    assert.equal(denied.status, 403);
    assert.equal(denied.body.NeutronError.type, 'PolicyNotAuthorized');
    assert.equal((await h.call('demo', 'POST', '/network/v2.0/networks', { network: { name: 's', shared: true } })).status, 403);

    const own = await h.call('demo', 'POST', '/network/v2.0/networks', { network: { name: 'demo-net' } });
    assert.equal(own.status, 201);
    assert.equal(own.body.network.project_id, h.projectIds.demo);
    assert.equal(own.body.network.shared, false);
    const asAdmin = await h.call('admin', 'GET', `/network/v2.0/networks/${own.body.network.id}`);
    assert.equal(asAdmin.body.network['provider:network_type'], 'vxlan');
    assert.equal(asAdmin.body.network['provider:physical_network'], null);

    const vlan = await h.call('admin', 'POST', '/network/v2.0/networks', { network: {
      name: 'vlan-net', 'provider:physical_network': 'physnet2', 'provider:network_type': 'vlan',
      'provider:segmentation_id': 100,
    } });
    assert.equal(vlan.status, 201);
    assert.equal(vlan.body.network['provider:segmentation_id'], 100);
    const badType = await h.call('admin', 'POST', '/network/v2.0/networks', { network: { 'provider:network_type': 'gre' } });
    assert.equal(badType.status, 400);

    // A member sees neither another project's private network nor can delete it.
    const theirs = await h.call('admin', 'POST', '/network/v2.0/networks', { network: { name: 'theirs', project_id: OTHER_PROJECT } });
    assert.equal(theirs.status, 201);
    assert.equal((await h.call('demo', 'GET', `/network/v2.0/networks/${theirs.body.network.id}`)).status, 404);
    const demoList = await h.call('demo', 'GET', '/network/v2.0/networks');
    assert.deepEqual(demoList.body.networks.map((n: any) => n.name).sort(), ['demo-net', 'vdpa-net']);
    assert.equal((await h.call('demo', 'DELETE', `/network/v2.0/networks/${theirs.body.network.id}`)).status, 404);
    assert.equal((await h.call('demo', 'GET', `/network/v2.0/networks?name=theirs`)).body.networks.length, 0);
  });

  test('update renames a network and bumps its revision', { timeout: 120_000 }, async () => {
    const net = (await h.call('demo', 'POST', '/network/v2.0/networks', { network: { name: 'old' } })).body.network;
    const r = await h.call('demo', 'PUT', `/network/v2.0/networks/${net.id}`, { network: { name: 'new', admin_state_up: false } });
    assert.equal(r.status, 200);
    assert.equal(r.body.network.name, 'new');
    assert.equal(r.body.network.admin_state_up, false);
    assert.equal(r.body.network.revision_number, 2);
    const shared = await h.call('admin', 'GET', '/network/v2.0/networks?shared=true');
    assert.deepEqual(shared.body.networks.map((n: any) => n.name), ['vdpa-net']);
  });

  test('subnets: create, overlap refused, in-use refused, network with ports cannot be deleted', { timeout: 120_000 }, async () => {
    const net = (await h.call('demo', 'POST', '/network/v2.0/networks', { network: { name: 'sub-net' } })).body.network;
    const created = await h.call('demo', 'POST', '/network/v2.0/subnets', { subnet: {
      name: 'small', network_id: net.id, cidr: '192.168.5.0/29', ip_version: 4,
    } });
    assert.equal(created.status, 201);
    const s = created.body.subnet;
    assert.deepEqual(s.allocation_pools, [{ start: '192.168.5.2', end: '192.168.5.6' }]);
    assert.deepEqual((await h.call('demo', 'GET', `/network/v2.0/networks/${net.id}`)).body.network.subnets, [s.id]);

    const overlap = await h.call('demo', 'POST', '/network/v2.0/subnets', { subnet: { network_id: net.id, cidr: '192.168.5.0/24', ip_version: 4 } });
    assert.equal(overlap.status, 400);
    assert.match(overlap.body.NeutronError.message, /overlaps with another subnet/);
    const badCidr = await h.call('demo', 'POST', '/network/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.1.0.5/24', ip_version: 4 } });
    assert.equal(badCidr.status, 400);
    const onShared = await h.call('demo', 'POST', '/network/v2.0/subnets', { subnet: { network_id: h.sharedNetworkId, cidr: '10.9.0.0/24' } });
    assert.equal(onShared.status, 403, "only the network's owner adds subnets");
    const v6 = await h.call('demo', 'POST', '/network/v2.0/subnets', { subnet: { network_id: net.id, cidr: 'fd00::/64', ip_version: 6 } });
    assert.equal(v6.status, 201);
    assert.deepEqual(v6.body.subnet.allocation_pools, []);

    const port = (await h.call('demo', 'POST', '/network/v2.0/ports', { port: { network_id: net.id } })).body.port;
    assert.deepEqual(port.fixed_ips, [{ subnet_id: s.id, ip_address: '192.168.5.2' }], 'IPv4 comes from the first IPv4 subnet only');
    const subnetInUse = await h.call('demo', 'DELETE', `/network/v2.0/subnets/${s.id}`);
    assert.equal(subnetInUse.status, 409);
    assert.equal(subnetInUse.body.NeutronError.type, 'SubnetInUse');
    const netInUse = await h.call('demo', 'DELETE', `/network/v2.0/networks/${net.id}`);
    assert.equal(netInUse.status, 409);
    assert.equal(netInUse.body.NeutronError.type, 'NetworkInUse');

    assert.equal((await h.call('demo', 'DELETE', `/network/v2.0/ports/${port.id}`)).status, 204);
    assert.equal((await h.call('demo', 'DELETE', `/network/v2.0/subnets/${s.id}`)).status, 204);
    assert.equal((await h.call('demo', 'DELETE', `/network/v2.0/networks/${net.id}`)).status, 204);
    assert.equal((await h.call('demo', 'GET', `/network/v2.0/subnets/${v6.body.subnet.id}`)).status, 404, "a network's subnets go with it");
  });
});
