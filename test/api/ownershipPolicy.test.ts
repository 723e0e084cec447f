/**
 * Issue 16, item 3: what a member may not do to ports and flavors it does not
 * own, with the answer OpenStack's default policy gives.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startControllerWithTokens, sendJson, type ControllerWithTokens } from '../helpers/apiClient.js';

const LIMIT = { timeout: 60_000 };

describe('ownership policy: port owner fields, private flavors, fixed IPs on a shared network', { timeout: 120_000 }, () => {
  let h: ControllerWithTokens;
  const call = async (method: string, path: string, body: unknown, token: string) => {
    const res = await sendJson(method, `${h.c.url}${path}`, token, body);
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  let net: any;

  before(async () => {
    h = await startControllerWithTokens();
    net = (await call('GET', '/network/v2.0/networks?name=vdpa-net', undefined, h.admin)).body.networks[0];
  });
  after(async () => { await h?.c.close(); });

  test('a member cannot set or rewrite device_id / device_owner (403); admin can', LIMIT, async () => {
    const port = await call('POST', '/network/v2.0/ports', { port: { network_id: net.id, name: 'mine' } }, h.demo);
    assert.equal(port.status, 201);
    const id = port.body.port.id;
    const owner = await call('PUT', `/network/v2.0/ports/${id}`, { port: { device_owner: 'compute:nova' } }, h.demo);
    assert.equal(owner.status, 403);
    assert.equal(owner.body.NeutronError.message, '(rule:update_port and rule:update_port:device_owner) is disallowed by policy');
    const device = await call('PUT', `/network/v2.0/ports/${id}`, { port: { device_id: '8c3f1a7e-0000-4000-8000-000000000001' } }, h.demo);
    assert.equal(device.status, 403);
    assert.equal(device.body.NeutronError.message, '(rule:update_port and rule:update_port:device_id) is disallowed by policy');
    const created = await call('POST', '/network/v2.0/ports', { port: { network_id: net.id, device_owner: 'compute:nova' } }, h.demo);
    assert.equal(created.status, 403);
    assert.equal(created.body.NeutronError.message, '(rule:create_port and rule:create_port:device_owner) is disallowed by policy');
    const unchanged = await call('GET', `/network/v2.0/ports/${id}`, undefined, h.demo);
    assert.equal(unchanged.body.port.device_id, '');
    assert.equal(unchanged.body.port.device_owner, '');
    // Other fields stay the member's to change.
    assert.equal((await call('PUT', `/network/v2.0/ports/${id}`, { port: { name: 'renamed' } }, h.demo)).status, 200);
    const byAdmin = await call('PUT', `/network/v2.0/ports/${id}`, { port: { device_owner: 'network:dhcp' } }, h.admin);
    assert.equal(byAdmin.status, 200);
    assert.equal(byAdmin.body.port.device_owner, 'network:dhcp');
  });

  test('a member booting with a private flavor it has no access to gets 400 Flavor … could not be found.', LIMIT, async () => {
    const flavor = await call('POST', '/compute/v2.1/flavors', {
      flavor: { name: 'private.small', ram: 512, vcpus: 1, disk: 1, id: 'private-1', 'os-flavor-access:is_public': false },
    }, h.admin);
    assert.equal(flavor.status, 200, JSON.stringify(flavor.body));
    const image = (await call('GET', '/image/v2/images', undefined, h.demo)).body.images[0];
    const boot = await call('POST', '/compute/v2.1/servers', {
      server: { name: 'sneaky', imageRef: image.id, flavorRef: 'private-1', networks: 'none' },
    }, h.demo);
    assert.equal(boot.status, 400);
    assert.equal(boot.body.badRequest.message, 'Flavor private-1 could not be found.');
    const servers = await call('GET', '/compute/v2.1/servers', undefined, h.demo);
    assert.deepEqual(servers.body.servers, []);
    const asAdmin = await call('POST', '/compute/v2.1/servers', {
      server: { name: 'allowed', imageRef: image.id, flavorRef: 'private-1', networks: 'none' },
    }, h.admin);
    assert.equal(asAdmin.status, 202);
  });

  test('a member choosing a fixed IP on another project\'s shared network gets 403; a subnet alone is fine', LIMIT, async () => {
    const subnetId = net.subnets[0];
    const chosen = await call('POST', '/network/v2.0/ports', {
      port: { network_id: net.id, fixed_ips: [{ subnet_id: subnetId, ip_address: '10.0.0.200' }] },
    }, h.demo);
    assert.equal(chosen.status, 403);
    assert.equal(chosen.body.NeutronError.message, '(rule:create_port and rule:create_port:fixed_ips:ip_address) is disallowed by policy');
    const ports = await call('GET', '/network/v2.0/ports?fixed_ips=ip_address%3D10.0.0.200', undefined, h.admin);
    assert.ok(!ports.body.ports.some((p: any) => p.fixed_ips.some((f: any) => f.ip_address === '10.0.0.200')));
    const bySubnet = await call('POST', '/network/v2.0/ports', { port: { network_id: net.id, fixed_ips: [{ subnet_id: subnetId }] } }, h.demo);
    assert.equal(bySubnet.status, 201);
    const byAdmin = await call('POST', '/network/v2.0/ports', {
      port: { network_id: net.id, fixed_ips: [{ subnet_id: subnetId, ip_address: '10.0.0.200' }] },
    }, h.admin);
    assert.equal(byAdmin.status, 201);
  });
});
