/**
 * Issue 16, item 1: the networking, identity and image APIs validate every
 * body, path and query by a route schema. A malformed request (wrong type,
 * too long, unknown attribute where the API refuses them, out of range) is
 * a 400 in that API's own error format, naming the field, and changes
 * nothing; and /openapi.json, generated from those schemas, lists every
 * route with a request body for each JSON-body route.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sendJson } from '../helpers/apiClient.js';
import { startTestController, type TestController } from '../helpers/testController.js';

const LIMIT = { timeout: 120_000 };
const run = promisify(execFile);

async function json(res: Response): Promise<any> {
  const text = await res.text();
  return text ? JSON.parse(text) : undefined;
}

describe('route schemas of the networking, identity and image APIs', { timeout: 300_000 }, () => {
  let c: TestController;
  let admin: string;
  let demo: string;
  let networkId: string;
  let portId: string;
  let groupId: string;
  let demoProjectId: string;
  let demoUserId: string;

  const call = async (method: string, path: string, body?: unknown, token: string | undefined = admin) => {
    const res = await sendJson(method, `${c.url}${path}`, token, body);
    return { status: res.status, body: await json(res) };
  };
  /** Everything a rejected request could have touched, as the admin sees it. */
  const snapshot = async (paths: string[]) => {
    const out: Record<string, unknown> = {};
    for (const p of paths) out[p] = (await call('GET', p)).body;
    return out;
  };

  before(async () => {
    c = await startTestController();
    admin = await c.token('admin');
    demo = await c.token('demo');
    networkId = (await call('GET', '/network/v2.0/networks?name=vdpa-net')).body.networks[0].id;
    const port = await call('POST', '/network/v2.0/ports', { port: { network_id: networkId, name: 'schema-port' } }, demo);
    assert.equal(port.status, 201, JSON.stringify(port.body));
    portId = port.body.port.id;
    const groups = await call('GET', '/network/v2.0/security-groups', undefined, demo);
    groupId = groups.body.security_groups[0].id;
    const projects = await call('GET', '/identity/v3/projects?name=demo');
    demoProjectId = projects.body.projects[0].id;
    demoUserId = (await call('GET', '/identity/v3/users?name=demo')).body.users[0].id;
  });
  after(async () => { await c?.close(); });

  describe('networking', () => {
    const NETWORK_STATE = [
      '/network/v2.0/networks', '/network/v2.0/subnets', '/network/v2.0/ports', '/network/v2.0/security-groups',
      '/network/v2.0/security-group-rules', '/network/v2.0/quotas',
    ];

    test('malformed bodies and queries are 400 NeutronError InvalidInput naming the attribute, and change nothing', LIMIT, async () => {
      const cases: [string, string, unknown, string | undefined, RegExp][] = [
        ['POST', '/network/v2.0/ports', { port: { network_id: networkId, name: 'n'.repeat(256) } }, demo,
          /^Invalid input for name\. Reason: .* exceeds maximum length of 255\.$/],
        ['POST', '/network/v2.0/ports', { port: { network_id: networkId, description: 7 } }, demo,
          /^Invalid input for description\. Reason: 7 is not a valid string\.$/],
        ['POST', '/network/v2.0/ports', { port: { network_id: networkId, admin_state_up: 'maybe' } }, demo,
          /^Invalid input for admin_state_up\. Reason: 'maybe' cannot be converted to boolean\.$/],
        ['POST', '/network/v2.0/ports', { port: { network_id: networkId, fixed_ips: [{ ip_address: '10.0.0.9', gateway: 'x' }] } }, demo,
          /^Unrecognized attribute\(s\) 'gateway'$/],
        ['POST', '/network/v2.0/ports', { port: { network_id: networkId, fixed_ips: { ip_address: '10.0.0.9' } } }, demo,
          /^Invalid input for fixed_ips\. Reason: .* is not a list\.$/],
        ['POST', '/network/v2.0/ports', { port: { network_id: networkId, numa_affinity_policy: 'sometimes' } }, demo,
          /^Invalid input for numa_affinity_policy\. Reason: 'sometimes' is not in \['required', 'preferred', 'legacy', 'socket', None\]\.$/],
        ['POST', '/network/v2.0/ports', { port: { network_id: networkId, mac_address: 'fa:16:3e:00:00' } }, demo,
          /^Invalid input for mac_address\. Reason: 'fa:16:3e:00:00' is not a valid MAC address\.$/],
        ['PUT', `/network/v2.0/ports/${portId}`, { port: { 'binding:profile': 'pci' } }, admin,
          /^Invalid input for binding:profile\. Reason: 'pci' is not a dictionary\.$/],
        ['PUT', `/network/v2.0/ports/${portId}`, { port: { network_id: networkId } }, demo, /^Unrecognized attribute\(s\) 'network_id'$/],
        ['POST', '/network/v2.0/networks', { network: { name: 'colourful', colour: 'red' } }, demo, /^Unrecognized attribute\(s\) 'colour'$/],
        ['POST', '/network/v2.0/networks', { network: { name: 'big', mtu: 70000 } }, admin,
          /^Invalid input for mtu\. Reason: 70000 is not in range 0 through 65535\.$/],
        ['POST', '/network/v2.0/networks', [{ network: { name: 'listed' } }], demo, /^Body contains invalid data$/],
        ['POST', '/network/v2.0/subnets', { subnet: { network_id: networkId, cidr: '10.9.0.0/24', ip_version: 5 } }, admin,
          /^Invalid input for ip_version\. Reason: 5 is not in \[4, 6\]\.$/],
        ['POST', '/network/v2.0/security-groups', { security_group: { name: 'g', stateful: 'sometimes' } }, demo,
          /^Invalid input for stateful\. Reason: 'sometimes' cannot be converted to boolean\.$/],
        ['POST', '/network/v2.0/security-group-rules',
          { security_group_rule: { security_group_id: groupId, direction: 'ingress', protocol: 'tcp', port_range_min: 70000 } }, demo,
          /^Invalid input for port_range_min\. Reason: 70000 is not in range 0 through 65535\.$/],
        ['PUT', `/network/v2.0/quotas/${demoProjectId}`, { quota: { port: -2 } }, admin,
          /^Invalid input for port\. Reason: -2 is not in range -1 through 2147483647\.$/],
        ['PUT', `/network/v2.0/quotas/${demoProjectId}`, { quota: { port: '99999999999' } }, admin,
          /^Invalid input for port\. Reason: '99999999999' is not a valid integer or -1\.$/],
        ['GET', '/network/v2.0/ports?limit=ten', undefined, demo, /^Bad limit request: Limit must be an integer 0 or greater and not 'ten'$/],
        ['GET', '/network/v2.0/networks?shared=maybe', undefined, demo, /^Invalid input for shared\. Reason: 'maybe' cannot be converted to boolean\.$/],
        ['GET', `/network/v2.0/ports?name=${'n'.repeat(256)}`, undefined, demo, /^Invalid input for name\. Reason: .* exceeds maximum length of 255\.$/],
      ];
      const before = await snapshot(NETWORK_STATE);
      for (const [method, path, body, token, message] of cases) {
        const r = await call(method, path, body, token);
        const what = `${method} ${path} ${JSON.stringify(body)}`;
        assert.equal(r.status, 400, what);
        assert.deepEqual(Object.keys(r.body), ['NeutronError'], what);
        assert.equal(r.body.NeutronError.type, 'InvalidInput', what);
        assert.match(r.body.NeutronError.message, message, what);
      }
      assert.deepEqual(await snapshot(NETWORK_STATE), before);
    });

    test('what the openstack client sends still passes: port create with vnic type and NUMA policy, repeated filters, fields', LIMIT, async () => {
      const created = await call('POST', '/network/v2.0/ports', {
        port: { admin_state_up: true, 'binding:vnic_type': 'vdpa', name: 'cli-port', network_id: networkId, numa_affinity_policy: 'required' },
      }, demo);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.port.numa_affinity_policy, 'required');
      const cleared = await call('PUT', `/network/v2.0/ports/${created.body.port.id}`, { port: { numa_affinity_policy: null } }, demo);
      assert.equal(cleared.status, 200, JSON.stringify(cleared.body));
      assert.equal(cleared.body.port.numa_affinity_policy, null);
      const listed = await call('GET', '/network/v2.0/ports?fields=id&fields=name&fields=mac_address&fields=fixed_ips&fields=status', undefined, demo);
      assert.equal(listed.status, 200);
      assert.deepEqual(Object.keys(listed.body.ports[0]).sort(), ['fixed_ips', 'id', 'mac_address', 'name', 'status']);
      const byNames = await call('GET', '/network/v2.0/ports?name=cli-port&name=schema-port', undefined, demo);
      assert.deepEqual(byNames.body.ports.map((p: any) => p.name).sort(), ['cli-port', 'schema-port']);
      const lookup = await call('GET', '/network/v2.0/networks/vdpa-net', undefined, demo);
      assert.equal(lookup.status, 404);
      assert.equal(lookup.body.NeutronError.type, 'NetworkNotFound');
    });
  });

  describe('identity', () => {
    const IDENTITY_STATE = ['/identity/v3/users', '/identity/v3/projects', '/identity/v3/role_assignments'];

    test('malformed bodies and queries are 400 in Keystone\'s format naming the field, and change nothing', LIMIT, async () => {
      const cases: [string, string, unknown, RegExp][] = [
        ['POST', '/identity/v3/users', { user: { name: 5 } }, /^Invalid input for field 'name': 5 is not of type 'string'$/],
        ['POST', '/identity/v3/users', { user: { name: 'u'.repeat(256) } }, /^Invalid input for field 'name': .* is too long$/],
        ['POST', '/identity/v3/users', { user: { password: 'secret-without-name' } }, /^Invalid input for field 'name': 'name' is a required property$/],
        ['POST', '/identity/v3/users', { user: 'alice' }, /^Expecting to find user in request body\.$/],
        ['POST', '/identity/v3/projects', { project: { name: 'p'.repeat(65) } }, /^Invalid input for field 'name': .* is too long$/],
        ['POST', '/identity/v3/projects', { project: { name: 'p', enabled: 'yes' } }, /^Invalid input for field 'enabled': 'yes' is not of type 'boolean'$/],
        ['PATCH', `/identity/v3/users/${demoUserId}`, { user: { enabled: 'false' } }, /^Invalid input for field 'enabled': 'false' is not of type 'boolean'$/],
        ['PATCH', `/identity/v3/users/${demoUserId}`, { user: {} }, /^Invalid input for field 'user': \{\} does not have enough properties$/],
        ['PATCH', `/identity/v3/projects/${demoProjectId}`, { project: { name: ' ' } }, /^Invalid input for field 'name': ' ' does not match/],
        ['GET', `/identity/v3/users?name=${'u'.repeat(256)}`, undefined, /^Invalid input for field 'name': .* is too long$/],
      ];
      const before = await snapshot(IDENTITY_STATE);
      for (const [method, path, body, message] of cases) {
        const r = await call(method, path, body);
        const what = `${method} ${path} ${JSON.stringify(body)}`;
        assert.equal(r.status, 400, what);
        assert.deepEqual(r.body, { error: { code: 400, title: 'Bad Request', message: r.body.error.message } }, what);
        assert.match(r.body.error.message, message, what);
      }
      assert.deepEqual(await snapshot(IDENTITY_STATE), before);
      // The PATCH above that was refused left demo enabled: its token still works.
      assert.equal((await call('GET', '/network/v2.0/ports', undefined, demo)).status, 200);
    });

    test('token bodies: the password and token methods are checked by shape, and a secret is never quoted back', LIMIT, async () => {
      const password = (user: unknown) => ({ auth: { identity: { methods: ['password'], password: { user } } } });
      const cases: [unknown, RegExp][] = [
        [{ auth: { identity: { methods: 'password' } } }, /^Invalid input for field 'identity\/methods': 'password' is not of type 'array'$/],
        [{ auth: { scope: 'unscoped' } }, /^Invalid input for field 'identity': 'identity' is a required property$/],
        [password({ name: 'admin', domain: { name: 'Default' }, password: 12345678 }),
          /^Invalid input for field 'identity\/password\/user\/password': '\*\*\*' is not of type 'string'$/],
        [password({ name: 'admin', domain: 'Default', password: 'x' }), /^Invalid input for field 'identity\/password\/user\/domain': '\*\*\*' is not of type 'object'$/],
        [{ auth: { identity: { methods: ['token'], token: {} } } }, /^Invalid input for field 'identity\/token\/id': 'id' is a required property$/],
        [{ auth: { identity: { methods: ['token'], token: { id: 42 } } } }, /^Invalid input for field 'identity\/token\/id': '\*\*\*' is not of type 'string'$/],
        [{ auth: { identity: { methods: ['password'] }, scope: 'everything' } }, /^Invalid input for field 'scope': 'everything' does not match/],
        [{ auth: { identity: { methods: ['password'] }, scope: { project: { name: 7 } } } }, /^Invalid input for field 'scope\/project\/name': 7 is not of type 'string'$/],
        [{ token: {} }, /^Expecting to find auth in request body\.$/],
      ];
      for (const [body, message] of cases) {
        const r = await call('POST', '/identity/v3/auth/tokens', body, undefined);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.equal(r.body.error.code, 400, JSON.stringify(body));
        assert.match(r.body.error.message, message, JSON.stringify(body));
        assert.doesNotMatch(r.body.error.message, /12345678/);
      }
      // The client's own body still issues a token.
      const ok = await call('POST', '/identity/v3/auth/tokens', {
        auth: {
          identity: { methods: ['password'], password: { user: { name: 'demo', domain: { name: 'Default' }, password: c.demoPassword } } },
          scope: { project: { name: 'demo', domain: { name: 'Default' } } },
        },
      }, undefined);
      assert.equal(ok.status, 201);
    });
  });

  describe('image', () => {
    const IMAGE_STATE = ['/image/v2/images'];

    test('malformed bodies and queries are 400 in Glance\'s format naming the property, and change nothing', LIMIT, async () => {
      const cases: [string, string, unknown, RegExp][] = [
        ['POST', '/image/v2/images', { name: 5 }, /^Provided object does not match schema 'image': 5 is not of type 'string', 'null' \(property 'name'\)$/],
        ['POST', '/image/v2/images', { name: 'i'.repeat(256) }, /is too long \(property 'name'\)$/],
        ['POST', '/image/v2/images', { disk_format: 'floppy' }, /'floppy' is not one of \[.*'qcow2'.*\] \(property 'disk_format'\)$/],
        ['POST', '/image/v2/images', { container_format: 'crate' }, /'crate' is not one of .* \(property 'container_format'\)$/],
        ['POST', '/image/v2/images', { min_ram: -1 }, /-1 is less than the minimum of 0 \(property 'min_ram'\)$/],
        ['POST', '/image/v2/images', { min_disk: 1.5 }, /1\.5 is not of type 'integer' \(property 'min_disk'\)$/],
        ['POST', '/image/v2/images', { min_disk: 2 ** 40 }, /is greater than the maximum of 2147483647 \(property 'min_disk'\)$/],
        ['POST', '/image/v2/images', { visibility: 'everyone' }, /'everyone' is not one of .* \(property 'visibility'\)$/],
        ['POST', '/image/v2/images', { tags: ['a', 1] }, /1 is not of type 'string' \(property 'tags\/1'\)$/],
        ['POST', '/image/v2/images', { hw_vif_model: 5 }, /5 is not of type 'string' \(property 'hw_vif_model'\)$/],
        ['POST', '/image/v2/images', { id: 'not-a-uuid' }, /'not-a-uuid' does not match .* \(property 'id'\)$/],
        ['GET', '/image/v2/images?limit=ten', undefined, /^limit param must be an integer$/],
        ['GET', '/image/v2/images?visibility=everyone', undefined, /^Invalid visibility value: everyone$/],
        ['GET', `/image/v2/images?name=${'i'.repeat(256)}`, undefined, /^Invalid value for query parameter name: .* is too long$/],
      ];
      const before = await snapshot(IMAGE_STATE);
      for (const [method, path, body, message] of cases) {
        const r = await call(method, path, body);
        const what = `${method} ${path} ${JSON.stringify(body)}`;
        assert.equal(r.status, 400, what);
        assert.deepEqual(Object.keys(r.body).sort(), ['code', 'message', 'title'], what);
        assert.equal(r.body.code, 400, what);
        assert.match(r.body.message, message, what);
      }
      assert.deepEqual(await snapshot(IMAGE_STATE), before);
      // A read-only attribute is still Glance's 403, not a schema 400.
      assert.equal((await call('POST', '/image/v2/images', { name: 'sized', size: 5 })).status, 403);
    });
  });

  describe('image update (JSON patch)', () => {
    const PATCH = 'application/openstack-images-v2.1-json-patch';
    const patch = async (id: string, body: unknown, type = PATCH) => {
      const sent = await fetch(`${c.url}/image/v2/images/${id}`, {
        method: 'PATCH', headers: { 'x-auth-token': demo, 'content-type': type }, body: JSON.stringify(body),
      });
      return { status: sent.status, body: await json(sent) };
    };

    test('openstack image set\'s patch applies; a malformed one is a 400 in Glance\'s format and changes nothing', LIMIT, async () => {
      const created = await call('POST', '/image/v2/images', { name: 'patch-me', disk_format: 'qcow2', container_format: 'bare' }, demo);
      assert.equal(created.status, 201);
      const id = created.body.id as string;
      const applied = await patch(id, [
        { op: 'replace', path: '/name', value: 'patched' }, { op: 'add', path: '/hw_vif_model', value: 'virtio' },
        { op: 'replace', path: '/tags', value: ['nfv'] }, { op: 'replace', path: '/min_ram', value: 512 },
      ]);
      assert.equal(applied.status, 200, JSON.stringify(applied.body));
      assert.equal(applied.body.name, 'patched');
      assert.equal(applied.body.hw_vif_model, 'virtio');
      assert.deepEqual(applied.body.tags, ['nfv']);
      assert.equal(applied.body.min_ram, 512);
      const state = (await call('GET', `/image/v2/images/${id}`, undefined, demo)).body;
      const cases: [unknown, RegExp][] = [
        [{ op: 'replace', path: '/name', value: 'x' }, /is not of type 'array'/],
        [[{ op: 'move', path: '/name', value: 'x' }], /'move' is not one of \['add', 'remove', 'replace'\] \(property '0\/op'\)$/],
        [[{ op: 'replace', path: 'name', value: 'x' }], /'name' does not match .* \(property '0\/path'\)$/],
        [[{ op: 'replace', path: '/name', value: 'x', from: '/id' }], /Additional properties are not allowed \('from' was unexpected\)/],
        [[{ op: 'replace', path: '/min_ram', value: -5 }], /-5 is less than the minimum of 0 \(property 'min_ram'\)$/],
        [[{ op: 'replace', path: '/name', value: 'n'.repeat(256) }], /is too long \(property 'name'\)$/],
        [[{ op: 'add', path: '/hw_disk_bus', value: 5 }], /5 is not of type 'string' \(property 'hw_disk_bus'\)$/],
        [[{ op: 'replace', path: '/visibility', value: 'everyone' }], /'everyone' is not one of .* \(property 'visibility'\)$/],
      ];
      for (const [body, message] of cases) {
        const r = await patch(id, body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.equal(r.body.code, 400, JSON.stringify(body));
        assert.match(r.body.message, message, JSON.stringify(body));
      }
      const asJson = await patch(id, [{ op: 'replace', path: '/name', value: 'json' }], 'application/json');
      assert.equal(asJson.status, 415);
      assert.equal(asJson.body.code, 415);
      const readOnly = await patch(id, [{ op: 'replace', path: '/status', value: 'active' }]);
      assert.equal(readOnly.status, 403);
      assert.deepEqual((await call('GET', `/image/v2/images/${id}`, undefined, demo)).body, state);
    });
  });

  describe('the real openstack client', () => {
    /** Configured only by the controller's clouds.yaml; stdin closed (image create would read image data from it). */
    async function openstack(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OS_') && v !== undefined) env[k] = v;
      env.OS_CLIENT_CONFIG_FILE = join(c.dataDir, 'clouds.yaml');
      env.OS_CLOUD = 'vdpa-compute-demo';
      const running = run('openstack', args, { env, timeout: 60_000 });
      running.child.stdin?.end();
      try {
        const { stdout, stderr } = await running;
        return { code: 0, stdout, stderr };
      } catch (e) {
        const err = e as { code?: number; stdout?: string; stderr?: string };
        return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
      }
    }

    test('image set and unset send JSON patches that pass the schema', { timeout: 300_000 }, async () => {
      const created = await openstack('image', 'create', '--disk-format', 'qcow2', '--container-format', 'bare', '--property', 'hw_vif_model=virtio', 'cli-img', '-f', 'json');
      assert.equal(created.code, 0, created.stderr);
      const set = await openstack('image', 'set', '--name', 'cli-img2', '--property', 'hw_disk_bus=virtio', '--tag', 'nfv', '--min-ram', '256', 'cli-img');
      assert.equal(set.code, 0, set.stderr);
      const unset = await openstack('image', 'unset', '--property', 'hw_vif_model', 'cli-img2');
      assert.equal(unset.code, 0, unset.stderr);
      const shown = await call('GET', `/image/v2/images/${JSON.parse(created.stdout).id}`, undefined, demo);
      assert.equal(shown.body.name, 'cli-img2');
      assert.equal(shown.body.min_ram, 256);
      assert.deepEqual(shown.body.tags, ['nfv']);
      assert.equal(shown.body.hw_disk_bus, 'virtio');
      assert.equal(shown.body.hw_vif_model, undefined);
    });
  });

  describe('/openapi.json', () => {
    /** Every route of the three APIs (path as OpenAPI spells it), and whether it takes a JSON body. */
    const ROUTES: [string, string, boolean][] = [
      ['get', '/network', false], ['get', '/network/v2.0', false], ['get', '/network/v2.0/extensions', false],
      ['get', '/network/v2.0/extensions/{alias}', false],
      ...(['networks', 'ports', 'security-groups'].flatMap((r): [string, string, boolean][] => [
        ['get', `/network/v2.0/${r}`, false], ['post', `/network/v2.0/${r}`, true], ['get', `/network/v2.0/${r}/{id}`, false],
        ['put', `/network/v2.0/${r}/{id}`, true], ['delete', `/network/v2.0/${r}/{id}`, false],
      ])),
      ...(['subnets', 'security-group-rules'].flatMap((r): [string, string, boolean][] => [
        ['get', `/network/v2.0/${r}`, false], ['post', `/network/v2.0/${r}`, true], ['get', `/network/v2.0/${r}/{id}`, false],
        ['delete', `/network/v2.0/${r}/{id}`, false],
      ])),
      ['get', '/network/v2.0/quotas', false], ['get', '/network/v2.0/quotas/{project}', false], ['put', '/network/v2.0/quotas/{project}', true],
      ['delete', '/network/v2.0/quotas/{project}', false], ['get', '/network/v2.0/quotas/{project}/default', false],
      ['get', '/network/v2.0/quotas/{project}/details', false], ['get', '/network/v2.0/availability_zones', false],
      ['get', '/identity', false], ['get', '/identity/v3', false],
      ['post', '/identity/v3/auth/tokens', true], ['get', '/identity/v3/auth/tokens', false], ['delete', '/identity/v3/auth/tokens', false],
      ['get', '/identity/v3/auth/projects', false],
      ['get', '/identity/v3/projects', false], ['post', '/identity/v3/projects', true], ['get', '/identity/v3/projects/{id}', false],
      ['patch', '/identity/v3/projects/{id}', true],
      ['get', '/identity/v3/users', false], ['post', '/identity/v3/users', true], ['get', '/identity/v3/users/{id}', false],
      ['patch', '/identity/v3/users/{id}', true], ['delete', '/identity/v3/users/{id}', false], ['get', '/identity/v3/users/{id}/projects', false],
      ['get', '/identity/v3/roles', false], ['get', '/identity/v3/roles/{id}', false],
      ['put', '/identity/v3/projects/{p}/users/{u}/roles/{r}', false], ['get', '/identity/v3/projects/{p}/users/{u}/roles/{r}', false],
      ['delete', '/identity/v3/projects/{p}/users/{u}/roles/{r}', false], ['get', '/identity/v3/projects/{p}/users/{u}/roles', false],
      ['get', '/identity/v3/role_assignments', false],
      ['get', '/image', false], ['get', '/image/versions', false],
      ['get', '/image/v2/images', false], ['post', '/image/v2/images', true], ['get', '/image/v2/images/{id}', false],
      ['delete', '/image/v2/images/{id}', false], ['put', '/image/v2/images/{id}/file', false], ['get', '/image/v2/images/{id}/file', false],
      ['patch', '/image/v2/images/{id}', true],
    ];
    /** Glance's image update takes its JSON patch in its own media type. */
    const mediaTypeOf = (method: string, path: string) => (method === 'patch' && path.startsWith('/image/')
      ? 'application/openstack-images-v2.1-json-patch' : 'application/json');
    const TAGS: Record<string, string> = { network: 'network', identity: 'identity', image: 'image' };

    test('lists every networking, identity and image route, tagged, with a JSON request body where the route takes one', LIMIT, async () => {
      const res = await fetch(`${c.url}/openapi.json`);
      assert.equal(res.status, 200);
      const doc = await res.json() as { paths: Record<string, Record<string, any>> };
      const listed = Object.entries(doc.paths)
        .filter(([path]) => /^\/(network|identity|image)(\/|$)/.test(path))
        .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`)).sort();
      assert.deepEqual(listed, ROUTES.map(([m, p]) => `${m} ${p}`).sort());
      for (const [method, path, jsonBody] of ROUTES) {
        const op = doc.paths[path]![method]!;
        assert.deepEqual(op.tags, [TAGS[path.split('/')[1]!]], `${method} ${path}`);
        assert.equal(typeof op.summary, 'string', `${method} ${path}`);
        assert.equal(op.requestBody !== undefined, jsonBody, `${method} ${path}`);
        assert.equal(op.requestBody?.content?.[mediaTypeOf(method, path)]?.schema !== undefined, jsonBody, `${method} ${path}`);
        const pathParams = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
        const declared = (op.parameters ?? []).filter((p: any) => p.in === 'path').map((p: any) => p.name).sort();
        assert.deepEqual(declared, pathParams, `${method} ${path}`);
      }
    });

    test('the agent and metrics routes are tagged too', LIMIT, async () => {
      const doc = await (await fetch(`${c.url}/openapi.json`)).json() as { paths: Record<string, Record<string, any>> };
      const agent = Object.entries(doc.paths).filter(([p]) => p.startsWith('/agent/')).flatMap(([, ops]) => Object.values(ops));
      // register, inventory, heartbeat, guests, report, power state, console requests and answer, work, snapshot data, a cold move's disk up and down
      assert.equal(agent.length, 12);
      for (const op of agent) assert.deepEqual(op.tags, ['agent']);
      assert.deepEqual(doc.paths['/metrics']?.get?.tags, ['metrics']);
    });
  });
});
