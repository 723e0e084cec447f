import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bindPort, unbindPort } from '../../../src/storage/repositories/ports.js';
import { OTHER_PROJECT, startNetworkHarness, type NetworkHarness } from './harness.js';
import { kysely, asUnit } from '../../helpers/storageAccess.js';

describe('networking API: ports', () => {
  let h: NetworkHarness;
  before(async () => { h = await startNetworkHarness(); });
  after(async () => { await h.close(); });

  const createPort = (who: 'admin' | 'demo', port: Record<string, unknown>) =>
    h.call(who, 'POST', '/network/v2.0/ports', { port: { network_id: h.sharedNetworkId, ...port } });

  test('the version document needs no token; everything else does', { timeout: 120_000 }, async () => {
    for (const path of ['/network', '/network/']) {
      const r = await h.call(null, 'GET', path);
      assert.equal(r.status, 200);
      assert.equal(r.body.versions[0].id, 'v2.0');
      assert.equal(r.body.versions[0].status, 'CURRENT');
      assert.equal(r.body.versions[0].links[0].href, `${h.url}/network/v2.0/`);
    }
    const r = await h.call(null, 'GET', '/network/v2.0/ports');
    assert.equal(r.status, 401);
    assert.equal(typeof r.body.NeutronError.message, 'string');
  });

  test('the client creates a vdpa port the way `openstack port create` does', { timeout: 120_000 }, async () => {
    const r = await h.call('demo', 'POST', '/network/v2.0/ports',
      { port: { admin_state_up: true, 'binding:vnic_type': 'vdpa', name: 'vdpa-port', network_id: h.sharedNetworkId } });
    assert.equal(r.status, 201);
    const p = r.body.port;
    assert.equal(p.name, 'vdpa-port');
    assert.equal(p['binding:vnic_type'], 'vdpa');
    assert.match(p.mac_address, /^fa:16:3e(:[0-9a-f]{2}){3}$/);
    assert.deepEqual(p.fixed_ips, [{ subnet_id: h.sharedSubnetId, ip_address: p.fixed_ips[0].ip_address }]);
    assert.match(p.fixed_ips[0].ip_address, /^10\.0\.0\.\d+$/);
    assert.notEqual(p.fixed_ips[0].ip_address, '10.0.0.1', 'the gateway is never handed out');
    assert.equal(p.status, 'DOWN');
    assert.equal(p.project_id, h.projectIds.demo);
    assert.equal(p.tenant_id, h.projectIds.demo);
    assert.equal(p.device_id, '');
    // The project's `default` security group, made on this first use (recorded only: docs/networking.md).
    assert.equal(p.security_groups.length, 1);
    assert.equal(p.port_security_enabled, true);
    assert.equal(p.revision_number, 1);
    assert.ok(!('binding:host_id' in p), 'binding details are admin-only reading');

    const asAdmin = await h.call('admin', 'GET', `/network/v2.0/ports/${p.id}`);
    assert.equal(asAdmin.body.port['binding:host_id'], '');
    assert.equal(asAdmin.body.port['binding:vif_type'], 'unbound');
    assert.deepEqual(asAdmin.body.port['binding:profile'], {});

    const byName = await h.call('demo', 'GET', '/network/v2.0/ports?name=vdpa-port');
    assert.deepEqual(byName.body.ports.map((x: any) => x.id), [p.id]);
    const lookup = await h.call('demo', 'GET', '/network/v2.0/ports/vdpa-port');
    assert.equal(lookup.status, 404, 'a name is not an id: the SDK falls back to ?name=');
    assert.equal(lookup.body.NeutronError.type, 'PortNotFound');
  });

  test('the client probes tag-ports-during-bulk-creation and gets a NeutronError 404', { timeout: 120_000 }, async () => {
    const r = await h.call('demo', 'GET', '/network/v2.0/extensions/tag-ports-during-bulk-creation');
    assert.equal(r.status, 404);
    assert.equal(r.body.NeutronError.type, 'ExtensionNotFound');
    const list = await h.call('demo', 'GET', '/network/v2.0/extensions');
    const aliases = list.body.extensions.map((e: any) => e.alias);
    for (const a of ['binding', 'binding-extended', 'provider', 'external-net', 'standard-attr-description',
      'standard-attr-revisions', 'standard-attr-timestamp', 'project-id']) assert.ok(aliases.includes(a), a);
    const one = await h.call('demo', 'GET', '/network/v2.0/extensions/binding');
    assert.equal(one.body.extension.alias, 'binding');
  });

  test('an unknown vnic type is a 400 that lists the valid ones', { timeout: 120_000 }, async () => {
    const r = await createPort('demo', { 'binding:vnic_type': 'bogus' });
    assert.equal(r.status, 400);
    assert.equal(r.body.NeutronError.type, 'InvalidInput');
    assert.equal(r.body.NeutronError.message,
      "Invalid input for binding:vnic_type. Reason: 'bogus' is not in ['normal', 'direct', 'macvtap', 'baremetal', "
      + "'direct-physical', 'virtio-forwarder', 'smart-nic', 'vdpa', 'accelerator-direct', "
      + "'accelerator-direct-physical', 'remote-managed'].");
  });

  test('malformed bodies, wrong types and unknown attributes are 400 InvalidInput; an unknown network 404', { timeout: 120_000 }, async () => {
    const cases: [unknown, RegExp][] = [
      ['{"port": ', /Malformed request body/],
      [{ name: 'x' }, /Unable to find 'port' in request body/],
      [{ port: 'x' }, /is not a dictionary/],
      [{ port: { network_id: h.sharedNetworkId, name: 7 } }, /Invalid input for name. Reason: 7 is not a valid string/],
      [{ port: { network_id: h.sharedNetworkId, admin_state_up: 'maybe' } }, /cannot be converted to boolean/],
      [{ port: { network_id: h.sharedNetworkId, colour: 'red' } }, /Unrecognized attribute\(s\) 'colour'/],
      [{ port: { name: 'no-net' } }, /Invalid input for network_id/],
      [{ port: { network_id: h.sharedNetworkId, mac_address: 'zz' } }, /Invalid input for mac_address/],
    ];
    for (const [body, message] of cases) {
      const r = await h.call('demo', 'POST', '/network/v2.0/ports', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.NeutronError.type, 'InvalidInput', JSON.stringify(body));
      assert.match(r.body.NeutronError.message, message);
    }
    // A network that does not exist (or that the caller may not see) is Neutron's 404 NetworkNotFound.
    const noNetwork = await h.call('demo', 'POST', '/network/v2.0/ports', { port: { network_id: 'no-such-network' } });
    assert.equal(noNetwork.status, 404);
    assert.equal(noNetwork.body.NeutronError.type, 'NetworkNotFound');
    assert.equal(noNetwork.body.NeutronError.message, 'Network no-such-network could not be found.');
    // Choosing an address on the shared network is the network owner's (admin's); a member gets 403 (ownershipPolicy.test.ts).
    const outside = await h.call('admin', 'POST', '/network/v2.0/ports', { port: { network_id: h.sharedNetworkId, fixed_ips: [{ ip_address: '192.168.1.1' }] } });
    assert.equal(outside.status, 400);
    assert.equal(outside.body.NeutronError.type, 'InvalidInput');
    assert.match(outside.body.NeutronError.message, /not a valid IP for the specified subnet/);
  });

  test('a member may not write binding:host_id or binding:profile', { timeout: 120_000 }, async () => {
    const denied = await createPort('demo', { 'binding:host_id': 'host1' });
    assert.equal(denied.status, 403);
    assert.equal(denied.body.NeutronError.type, 'PolicyNotAuthorized');
    const port = (await createPort('demo', { name: 'mine' })).body.port;
    for (const attr of ['binding:host_id', 'binding:profile']) {
      const r = await h.call('demo', 'PUT', `/network/v2.0/ports/${port.id}`, { port: { [attr]: attr.endsWith('profile') ? {} : 'h' } });
      assert.equal(r.status, 403, attr);
      assert.equal(r.body.NeutronError.type, 'PolicyNotAuthorized');
    }
    const admin = await h.call('admin', 'PUT', `/network/v2.0/ports/${port.id}`, { port: { 'binding:profile': { a: 1 } } });
    assert.equal(admin.status, 200);
    assert.deepEqual(admin.body.port['binding:profile'], { a: 1 });
  });

  test('update renames and changes the vnic type only while the port is unbound', { timeout: 120_000 }, async () => {
    const port = (await createPort('demo', { name: 'before', 'binding:vnic_type': 'direct' })).body.port;
    const renamed = await h.call('demo', 'PUT', `/network/v2.0/ports/${port.id}`,
      { port: { name: 'after', admin_state_up: false, 'binding:vnic_type': 'vdpa' } });
    assert.equal(renamed.status, 200);
    assert.equal(renamed.body.port.name, 'after');
    assert.equal(renamed.body.port.admin_state_up, false);
    assert.equal(renamed.body.port['binding:vnic_type'], 'vdpa');
    assert.equal(renamed.body.port.revision_number, 2);
    const bad = await h.call('demo', 'PUT', `/network/v2.0/ports/${port.id}`, { port: { 'binding:vnic_type': 'nic' } });
    assert.equal(bad.status, 400);

    await h.ctx.store.autocommit((u) => bindPort(u, port.id, {
      hostId: 'host1', deviceId: 'server-1', deviceOwner: 'compute:nova', vifType: 'ovs', vifDetails: {},
      profile: { pci_vendor_info: '15b3:101e', pci_slot: '0000:06:00.4', physical_network: 'physnet4' }, status: 'ACTIVE',
    }));
    const bound = await h.call('demo', 'PUT', `/network/v2.0/ports/${port.id}`, { port: { 'binding:vnic_type': 'direct' } });
    assert.equal(bound.status, 409);
    assert.equal(bound.body.NeutronError.type, 'PortBound');
  });

  test('a port bound to a server cannot be deleted until it is detached', { timeout: 120_000 }, async () => {
    const port = (await createPort('demo', { name: 'in-use', 'binding:vnic_type': 'vdpa' })).body.port;
    await h.ctx.store.autocommit((u) => bindPort(u, port.id, {
      hostId: 'host1', deviceId: 'server-42', deviceOwner: 'compute:nova', vifType: 'ovs', vifDetails: {},
      profile: {}, status: 'ACTIVE',
    }));
    const r = await h.call('demo', 'DELETE', `/network/v2.0/ports/${port.id}`);
    assert.equal(r.status, 409);
    assert.equal(r.body.NeutronError.type, 'PortInUse');
    assert.equal(r.body.NeutronError.message, `Port ${port.id} is in use by server server-42; detach it from the server first.`);
    await h.ctx.store.autocommit((u) => unbindPort(u, port.id));
    assert.equal((await h.call('demo', 'DELETE', `/network/v2.0/ports/${port.id}`)).status, 204);
    assert.equal((await h.call('demo', 'GET', `/network/v2.0/ports/${port.id}`)).status, 404);
  });

  test("another project's port is invisible: 404 on show, update and delete, absent from lists", { timeout: 120_000 }, async () => {
    const theirs = (await createPort('admin', { name: 'theirs', project_id: OTHER_PROJECT })).body.port;
    assert.equal(theirs.project_id, OTHER_PROJECT);
    for (const [method, body] of [['GET', undefined], ['PUT', { port: { name: 'x' } }], ['DELETE', undefined]] as const) {
      const r = await h.call('demo', method, `/network/v2.0/ports/${theirs.id}`, body);
      assert.equal(r.status, 404, method);
    }
    const mine = await h.call('demo', 'GET', '/network/v2.0/ports');
    assert.ok(mine.body.ports.every((p: any) => p.project_id === h.projectIds.demo));
    assert.ok(mine.body.ports.length > 0);
    const all = await h.call('admin', 'GET', '/network/v2.0/ports');
    assert.ok(all.body.ports.some((p: any) => p.id === theirs.id));
  });

  test('list filters: network, device, owner, MAC, host (admin), and fields', { timeout: 120_000 }, async () => {
    const a = (await createPort('demo', { name: 'filter-a' })).body.port;
    // Owner fields are the compute side's (admin or service) to write.
    const owned = await h.call('admin', 'PUT', `/network/v2.0/ports/${a.id}`, { port: { device_id: 'dev-a', device_owner: 'compute:nova' } });
    assert.equal(owned.status, 200);
    const b = (await createPort('demo', { name: 'filter-b' })).body.port;
    await h.ctx.store.autocommit((u) => bindPort(u, b.id, {
      hostId: 'host-b', deviceId: 'dev-b', deviceOwner: 'compute:nova', vifType: 'ovs', vifDetails: {}, profile: {}, status: 'ACTIVE',
    }));
    const ids = async (who: 'admin' | 'demo', q: string) =>
      (await h.call(who, 'GET', `/network/v2.0/ports?${q}`)).body.ports.map((p: any) => p.id).sort();
    assert.deepEqual(await ids('demo', 'device_id=dev-a'), [a.id]);
    assert.deepEqual(await ids('demo', 'device_id=dev-a&device_id=dev-b'), [a.id, b.id].sort());
    assert.deepEqual(await ids('demo', `mac_address=${b.mac_address.toUpperCase()}`), [b.id]);
    assert.deepEqual(await ids('admin', 'binding:host_id=host-b'), [b.id]);
    assert.deepEqual(await ids('admin', `id=${a.id}&network_id=${h.sharedNetworkId}`), [a.id]);
    assert.deepEqual(await ids('demo', 'name=filter-a&device_owner=compute:nova'), [a.id]);
    assert.deepEqual(await ids('demo', 'network_id=nothing'), []);
    const narrow = await h.call('demo', 'GET', `/network/v2.0/ports?id=${a.id}&fields=id&fields=name&fields=mac_address&fields=fixed_ips&fields=status`);
    assert.deepEqual(Object.keys(narrow.body.ports[0]).sort(), ['fixed_ips', 'id', 'mac_address', 'name', 'status']);
  });

  test('requested fixed IPs are honoured and a taken one is a 409', { timeout: 120_000 }, async () => {
    // On the shared network only its owner (admin) chooses addresses.
    const p = await createPort('admin', { fixed_ips: [{ subnet_id: h.sharedSubnetId, ip_address: '10.0.0.200' }] });
    assert.equal(p.status, 201);
    assert.deepEqual(p.body.port.fixed_ips, [{ subnet_id: h.sharedSubnetId, ip_address: '10.0.0.200' }]);
    const again = await createPort('admin', { fixed_ips: [{ ip_address: '10.0.0.200' }] });
    assert.equal(again.status, 409);
    assert.equal(again.body.NeutronError.type, 'IpAddressAlreadyAllocated');
    const none = await createPort('demo', { fixed_ips: [] });
    assert.deepEqual(none.body.port.fixed_ips, []);
  });
});
