import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';

/**
 * Security groups (recorded and shown only: enforcement is the networking
 * backend's) and the console log, with the real openstack client. One host
 * whose first console read hangs, so that the timeout's 500 is seen once.
 */
describe('security groups and console log', { timeout: 300_000 }, () => {
  let aio: AllInOneProcess;
  before(async () => {
    aio = await startAllInOneProcess({
      hosts: [{ ...vdpaHost('compute-0'), faults: { console_log: { hang: true, times: 1 } } }],
      config: { console_log_timeout: 2 },
    });
  });
  after(async () => { await aio?.stop(); });

  test("every project has a `default` group with networking's default rules, made on first use", { timeout: 300_000 }, async () => {
    const groups = await aio.openstackJson(['security', 'group', 'list'], { user: 'demo' });
    assert.deepEqual(groups.map((g: { Name: string }) => g.Name), ['default']);
    const rules = await aio.openstackJson(['security', 'group', 'rule', 'list', 'default'], { user: 'demo' });
    const shape = rules.map((r: Record<string, string | null>) => `${r.Direction} ${r.Ethertype} ${r['Remote Security Group'] === groups[0].ID ? 'self' : 'any'}`).sort();
    assert.deepEqual(shape, ['egress IPv4 any', 'egress IPv6 any', 'ingress IPv4 self', 'ingress IPv6 self']);
    const removed = await aio.openstack(['security', 'group', 'delete', 'default'], { user: 'demo' });
    assert.equal(removed.code, 1);
    assert.match(removed.stderr, /ConflictException: 409: .*Removing default security group not allowed\./);
  });

  test('group create / show, rule create / list / delete, a duplicate rule is a 409, another project cannot see them', { timeout: 300_000 }, async () => {
    const web = await aio.openstackJson(['security', 'group', 'create', '--description', 'web servers', 'web'], { user: 'demo' });
    assert.equal(web.name, 'web');
    assert.equal(web.rules.length, 2, 'a new group allows egress only');
    const ssh = await aio.openstackJson(['security', 'group', 'rule', 'create', '--protocol', 'tcp', '--dst-port', '22', 'web'], { user: 'demo' });
    assert.equal(ssh.port_range_min, 22);
    assert.equal(ssh.remote_ip_prefix, '0.0.0.0/0');
    const [dup, other, rules] = await Promise.all([
      aio.openstack(['security', 'group', 'rule', 'create', '--protocol', 'tcp', '--dst-port', '22', 'web'], { user: 'demo' }),
      aio.openstack(['security', 'group', 'show', web.id]),
      aio.openstackJson(['security', 'group', 'rule', 'list', 'web'], { user: 'demo' }),
    ]);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, new RegExp(`ConflictException: 409.*Security group rule already exists\\. Rule id is ${ssh.id}\\.`));
    assert.equal(other.code, 0, 'an admin sees every project\'s groups');
    assert.equal(rules.length, 3);
    const icmp = await aio.openstackJson(['security', 'group', 'rule', 'create', '--protocol', 'icmp', 'web'], { user: 'demo' });
    assert.equal((await aio.openstack(['security', 'group', 'rule', 'delete', icmp.id], { user: 'demo' })).code, 0);
    const adminWeb = await aio.openstackJson(['security', 'group', 'create', 'admin-only']);
    const hidden = await aio.openstack(['security', 'group', 'show', adminWeb.id], { user: 'demo' });
    assert.equal(hidden.code, 1);
    assert.match(hidden.stderr, /No SecurityGroup found for/);
  });

  test("ports carry the project's default group unless given one, none without port security", { timeout: 300_000 }, async () => {
    const [plain, none, given] = await Promise.all([
      aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', 'sg-plain'], { user: 'demo' }),
      aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--disable-port-security', 'sg-none'], { user: 'demo' }),
      aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--security-group', 'web', 'sg-web'], { user: 'demo' }),
    ]);
    const [defaultGroup, web] = await Promise.all([
      aio.openstackJson(['security', 'group', 'show', 'default'], { user: 'demo' }),
      aio.openstackJson(['security', 'group', 'show', 'web'], { user: 'demo' }),
    ]);
    assert.deepEqual(plain.security_group_ids, [defaultGroup.id]);
    assert.equal(plain.port_security_enabled, true);
    assert.deepEqual(none.security_group_ids, []);
    assert.equal(none.port_security_enabled, false);
    assert.deepEqual(given.security_group_ids, [web.id]);
    const disable = await aio.openstack(['port', 'set', '--disable-port-security', 'sg-web'], { user: 'demo' });
    assert.equal(disable.code, 1);
    assert.match(disable.stderr, /ConflictException: 409: .*Port has security group associated/);
  });

  test('server create --network N --security-group G: the port it makes carries G, server show lists it, delete removes the port', { timeout: 300_000 }, async () => {
    const server = await aio.openstackJson(['server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros', '--network', 'vdpa-net', '--security-group', 'web', 'sg-vm'], { user: 'demo' });
    await aio.waitForServer(server.id, ['ACTIVE']);
    const shown = await aio.openstackJson(['server', 'show', 'sg-vm'], { user: 'demo' });
    assert.deepEqual(shown.security_groups, [{ name: 'web' }]);
    const ports = await aio.openstackJson(['port', 'list', '--server', server.id, '--long'], { user: 'demo' });
    assert.equal(ports.length, 1);
    const inUse = await aio.openstack(['security', 'group', 'delete', 'web'], { user: 'demo' });
    assert.equal(inUse.code, 1);
    assert.match(inUse.stderr, /Security Group .* in use\./);
    // A server booted on its own port shows that port's groups (the project's default).
    const vdpa = await aio.openstackJson(['server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros', '--port', 'sg-plain', 'sg-vdpa-vm'], { user: 'demo' });
    await aio.waitForServer(vdpa.id, ['ACTIVE']);
    assert.deepEqual((await aio.openstackJson(['server', 'show', 'sg-vdpa-vm'], { user: 'demo' })).security_groups, [{ name: 'default' }]);
    assert.equal((await aio.openstack(['server', 'delete', '--wait', 'sg-vm'], { user: 'demo' })).code, 0);
    const after = await aio.api('GET', `/network/v2.0/ports/${ports[0].ID}`, undefined, { user: 'demo' });
    assert.equal(after.status, 404, 'the port the compute API made went with the server');
    assert.equal((await aio.openstack(['security', 'group', 'delete', 'sg-web'], { user: 'demo' })).code, 1, 'no group of that name');
    assert.equal((await aio.openstack(['port', 'delete', 'sg-web'], { user: 'demo' })).code, 0);
    assert.equal((await aio.openstack(['security', 'group', 'delete', 'web'], { user: 'demo' })).code, 0);
  });

  test('console log show: the host first times out (500), then answers; --lines keeps the last lines; no host is a 409', { timeout: 300_000 }, async () => {
    const timedOut = await aio.openstack(['console', 'log', 'show', 'sg-vdpa-vm'], { user: 'demo' });
    assert.equal(timedOut.code, 1);
    assert.match(timedOut.stderr, /HttpException: 500: .*Compute host compute-0 did not answer the console log request of instance [0-9a-f-]+ within 2 s\./);
    const full = await aio.openstack(['console', 'log', 'show', 'sg-vdpa-vm'], { user: 'demo' });
    assert.equal(full.code, 0, full.stderr);
    const mac = (await aio.openstackJson(['port', 'show', 'sg-plain'], { user: 'demo' })).mac_address;
    assert.ok(full.stdout.includes(`virtio_net eth0: MAC address ${mac}`), full.stdout);
    const tail = await aio.openstack(['console', 'log', 'show', '--lines', '2', 'sg-vdpa-vm'], { user: 'demo' });
    assert.deepEqual(tail.stdout.trimEnd().split('\n').map((l) => l.trim()), [
      "login as 'cirros' user. default password: 'gocubsgo'. use 'sudo' for root.", `${full.stdout.match(/(instance-[0-9a-f]+) login:/)![1]} login:`,
    ]);
    const foreign = await aio.openstack(['console', 'log', 'show', 'sg-vdpa-vm']);
    assert.equal(foreign.code, 1, 'an admin finds servers of its own project by name only');
    const id = (await aio.openstackJson(['server', 'show', 'sg-vdpa-vm'], { user: 'demo' })).id;
    assert.equal((await aio.openstack(['console', 'log', 'show', id])).code, 0, 'an admin reads any server by id');
    assert.equal((await aio.openstack(['server', 'shelve', 'sg-vdpa-vm'], { user: 'demo' })).code, 0);
    await aio.waitForServer(id, ['SHELVED_OFFLOADED']);
    const notReady = await aio.openstack(['console', 'log', 'show', 'sg-vdpa-vm'], { user: 'demo' });
    assert.equal(notReady.code, 1);
    assert.match(notReady.stderr, new RegExp(`ConflictException: 409: .*Instance ${id} is not ready`));
  });
});
