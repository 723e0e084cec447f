/**
 * The fixtures docs/policy.md's table is walked against: one controller with
 * two simulated hosts (simulatedRig.ts), resources owned by the demo project
 * (the "owning project"), a second project with a member, an agent credential
 * for one host, and an expired and a revoked token of the demo member. Each
 * table row names its fixtures by placeholder ({server}, {port}, …); a request
 * that consumes its fixture (a delete, most server actions) gets a fresh one
 * for each actor that may succeed (admin, member, service).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createAgentCredential } from '../../src/controller/services/agentCredentials.js';
import { createTokenService } from '../../src/controller/services/tokens.js';
import type { Actor, PolicyRow } from './policyTable.js';
import { startRig, until, type Rig } from './simulatedRig.js';

type Ids = Record<string, string>;
interface Request { body?: unknown; headers?: Record<string, string>; query?: string; raw?: string }
interface Answer { status: number; body: any }

/** The host the agent credential acts for (not one of the rig's hosts, whose agents run here). */
export const AGENT_HOST = 'compute-policy';

const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMlwqOqXW3MWb0VT0yWjDGpWq6XsS8tGqQmHHkH6JZ3x policy@test';

let serial = 0;
const unique = (what: string) => `policy-${what}-${++serial}`;

export interface PolicyWorld {
  rig: Rig;
  tokens: Record<Actor, string | undefined>;
  /** The answer `actor` gets for the row, with fresh fixtures where the row consumes them. */
  send(row: PolicyRow, actor: Actor): Promise<Answer>;
  stop(): Promise<void>;
}

async function passwordToken(url: string, user: string, password: string, project: string): Promise<string> {
  const res = await fetch(`${url}/identity/v3/auth/tokens`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ auth: {
      identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password } } },
      scope: { project: { name: project, domain: { name: 'Default' } } },
    } }),
  });
  assert.equal(res.status, 201, await res.text());
  return res.headers.get('x-subject-token')!;
}

export async function startPolicyWorld(): Promise<PolicyWorld> {
  const rig = await startRig();
  const { tc } = rig;
  const url = tc.url;
  const admin = await tc.token('admin');
  const member = await tc.token('demo');

  async function call(method: string, path: string, token: string | undefined, req: Request = {}): Promise<Answer> {
    // The newest compute microversion: every route there is answers there (tags from 2.26, for one).
    const version: Record<string, string> = path.startsWith('/compute') ? { 'openstack-api-version': 'compute latest' } : {};
    const headers: Record<string, string> = { ...version, ...(token ? { 'x-auth-token': token } : {}), ...req.headers };
    let body: string | undefined;
    if (req.raw) {
      body = req.raw;
      headers['content-type'] = 'application/octet-stream';
    } else if (req.body !== undefined) {
      body = JSON.stringify(req.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${url}${path}${req.query ? `?${req.query}` : ''}`, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try { parsed = text ? JSON.parse(text) : undefined; } catch { /* not JSON: the dashboard, /metrics */ }
    return { status: res.status, body: parsed };
  }
  /** Sends a fixture's request and asserts OpenStack's one answer for it. */
  async function ok(method: string, path: string, token: string, status: number, body?: unknown): Promise<any> {
    const r = await call(method, path, token, { body });
    assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
    return r.body;
  }

  // Whom the table calls "member of the owning project" is demo; the owning project is demo's.
  const demoAuth = (await tc.ctx.tokens.verify(member))!;
  const adminAuth = (await tc.ctx.tokens.verify(admin))!;
  // Plenty of quota: fresh servers and ports are made for many rows (again after a row deletes the quota).
  async function unlimitedQuota(): Promise<void> {
    await ok('PUT', `/compute/v2.1/os-quota-sets/${demoAuth.projectId}`, admin, 200, { quota_set: { instances: -1, cores: -1, ram: -1, key_pairs: -1 } });
    await ok('PUT', `/network/v2.0/quotas/${demoAuth.projectId}`, admin, 200, { quota: { port: -1, network: -1, subnet: -1, security_group: -1, security_group_rule: -1 } });
  }
  await unlimitedQuota();

  // Another project with a member of its own.
  const otherProject = (await ok('POST', '/identity/v3/projects', admin, 201, { project: { name: 'policy-other' } })).project;
  const otherUser = (await ok('POST', '/identity/v3/users', admin, 201, { user: { name: 'policy-other', password: 'other-password', default_project_id: otherProject.id } })).user;
  await ok('PUT', `/identity/v3/projects/${otherProject.id}/users/${otherUser.id}/roles/member`, admin, 204);
  const other = await passwordToken(url, 'policy-other', 'other-password', 'policy-other');

  // The agent credential of one host (vdpa-compute agent-credential create HOST).
  const cred = await tc.ctx.store.transact((u) => createAgentCredential(u, AGENT_HOST));
  const service = await passwordToken(url, cred.username, cred.password, cred.project_name);

  // The demo member's token, expired (a token service with a 1 ms lifetime) and revoked (DELETE /auth/tokens).
  const shortLived = createTokenService(tc.ctx.store, 0.001);
  const expired = (await shortLived.issue({ userId: demoAuth.userId, projectId: demoAuth.projectId })).token;
  await new Promise((r) => setTimeout(r, 20));
  const revoked = await tc.token('demo');
  const revoke = await call('DELETE', '/identity/v3/auth/tokens', admin, { headers: { 'x-subject-token': revoked } });
  assert.equal(revoke.status, 204);

  const tokens: Record<Actor, string | undefined> = { admin, member, other, service, none: undefined, expired, revoked };

  const net = (await ok('GET', '/network/v2.0/networks?name=vdpa-net', admin, 200)).networks[0];
  const cirros = (await ok('GET', '/image/v2/images?name=cirros', admin, 200)).images[0];

  async function bootServer(): Promise<string> {
    const s = (await ok('POST', '/compute/v2.1/servers', member, 202, { server: { name: unique('server'), imageRef: cirros.id, flavorRef: '1', networks: 'none' } })).server;
    await until(`server ${s.id} ACTIVE`, async () => {
      const now = (await call('GET', `/compute/v2.1/servers/${s.id}`, admin)).body.server;
      assert.notEqual(now.status, 'ERROR', JSON.stringify(now.fault));
      return now.status === 'ACTIVE';
    }, 30_000);
    return s.id;
  }
  const ownPort = async () => (await ok('POST', '/network/v2.0/ports', member, 201, { port: { network_id: net.id, name: unique('port') } })).port.id as string;
  const ownNetwork = async () => (await ok('POST', '/network/v2.0/networks', member, 201, { network: { name: unique('net') } })).network.id as string;

  /** Makes one fixture; `ids` holds the ones made before it (a subnet needs its network). */
  const factories: Record<string, (ids: Ids) => Promise<string>> = {
    server: bootServer,
    port: ownPort,
    network: ownNetwork,
    subnet: async () => (await ok('POST', '/network/v2.0/subnets', member, 201, { subnet: { network_id: await ownNetwork(), cidr: '192.168.77.0/24', ip_version: 4 } })).subnet.id,
    security_group: async () => (await ok('POST', '/network/v2.0/security-groups', member, 201, { security_group: { name: unique('sg') } })).security_group.id,
    security_group_rule: async (ids) => (await ok('POST', '/network/v2.0/security-group-rules', member, 201, {
      security_group_rule: { security_group_id: ids.security_group, direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: 1000 + (++serial), port_range_max: 1000 + serial },
    })).security_group_rule.id,
    image: async () => (await ok('POST', '/image/v2/images', member, 201, { name: unique('image'), disk_format: 'qcow2', container_format: 'bare' })).id,
    keypair: async () => (await ok('POST', '/compute/v2.1/os-keypairs', member, 201, { keypair: { name: unique('key'), public_key: SSH_KEY } })).keypair.name,
    flavor: async () => (await ok('POST', '/compute/v2.1/flavors', admin, 200, { flavor: { name: unique('flavor'), ram: 512, vcpus: 1, disk: 1 } })).flavor.id,
    extra_spec: async (ids) => {
      const key = `policy:${++serial}`;
      await ok('POST', `/compute/v2.1/flavors/${ids.flavor}/os-extra_specs`, admin, 200, { extra_specs: { [key]: 'yes' } });
      return key;
    },
    aggregate: async () => String((await ok('POST', '/compute/v2.1/os-aggregates', admin, 200, { aggregate: { name: unique('agg') } })).aggregate.id),
    metadata_key: async (ids) => {
      const key = `policy-${++serial}`;
      await ok('POST', `/compute/v2.1/servers/${ids.server}/metadata`, member, 200, { metadata: { [key]: 'yes' } });
      return key;
    },
    tag: async (ids) => {
      const tag = unique('tag');
      await ok('PUT', `/compute/v2.1/servers/${ids.server}/tags/${tag}`, member, 201);
      return tag;
    },
    interface: async (ids) => {
      const port = await ownPort();
      await ok('POST', `/compute/v2.1/servers/${ids.server}/os-interface`, member, 200, { interfaceAttachment: { port_id: port } });
      return port;
    },
    user: async () => {
      const name = unique('user');
      const user = (await ok('POST', '/identity/v3/users', admin, 201, { user: { name, password: 'user-password', default_project_id: demoAuth.projectId } })).user;
      await ok('PUT', `/identity/v3/projects/${demoAuth.projectId}/users/${user.id}/roles/member`, admin, 204);
      return user.id;
    },
    subject_token: async () => tc.token('demo'),
    // Made on first use: a row names it only where the controller serves server groups.
    server_group: async () => (await ok('POST', '/compute/v2.1/os-server-groups', member, 200, { server_group: { name: unique('group'), policy: 'anti-affinity' } })).server_group.id,
    // A tag the server does not have yet (PUT answers 201 for a new tag, 204 for one it has).
    new_tag: async () => unique('new-tag'),
  };

  // The shared fixtures, used by every request that does not consume them.
  const shared: Ids = {
    project: demoAuth.projectId, user: demoAuth.userId, role: 'member', alias: 'binding', host: AGENT_HOST,
    service_id: '', hypervisor: '', migration: '', request: '', console_request: randomUUID(), guest: randomUUID(),
    admin_project: adminAuth.projectId, cirros: cirros.id,
  };
  for (const name of ['server', 'port', 'network', 'subnet', 'security_group', 'security_group_rule', 'image', 'keypair', 'flavor', 'extra_spec',
    'aggregate', 'metadata_key', 'tag', 'interface', 'subject_token', 'new_tag']) {
    shared[name] = await factories[name]!(shared);
  }
  // Resources the controller made itself: a compute service, a hypervisor, a migration and an instance action.
  shared.service_id = String((await ok('GET', '/compute/v2.1/os-services', admin, 200)).services[0].id);
  shared.hypervisor = String((await ok('GET', '/compute/v2.1/os-hypervisors', admin, 200)).hypervisors[0].id);
  shared.request = (await ok('GET', `/compute/v2.1/servers/${shared.server}/os-instance-actions`, admin, 200)).instanceActions[0].request_id;
  const moved = await bootServer();
  await ok('POST', `/compute/v2.1/servers/${moved}/action`, admin, 202, { migrate: null });
  await until('the cold move to wait for confirmation', async () =>
    (await call('GET', `/compute/v2.1/servers/${moved}`, admin)).body.server.status === 'VERIFY_RESIZE', 30_000);
  shared.migration = String((await ok('GET', `/compute/v2.1/os-migrations?instance_uuid=${moved}`, admin, 200)).migrations[0].id);
  shared.moved_server = moved;

  /** The placeholders a row consumes: each actor that may succeed gets fresh ones, in this order. */
  function consumed(row: PolicyRow): string[] {
    const key = `${row.method} ${row.path}`;
    if (row.method === 'GET') return [];
    if (key === 'DELETE /identity/v3/auth/tokens') return ['subject_token'];
    if (key === 'POST /compute/v2.1/servers/{server}/action') return row.variant === 'os-getConsoleOutput' ? [] : ['server'];
    if (key === 'DELETE /compute/v2.1/servers/{server}/os-interface/{interface}') return ['interface'];
    if (key === 'POST /compute/v2.1/servers/{server}/os-interface') return ['port'];
    if (key === 'PUT /compute/v2.1/servers/{server}/tags/{new_tag}') return ['new_tag'];
    // An image takes data once.
    if (key === 'PUT /image/v2/images/{image}/file') return ['image'];
    // Deleting every tag would take the shared tag with it.
    if (key === 'DELETE /compute/v2.1/servers/{server}/tags') return ['server'];
    if (row.method !== 'DELETE' && !row.path.startsWith('/identity/v3/users/{user}') && !row.path.includes('/roles/{role}')) return [];
    const names = [...row.path.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]!);
    // Deleting a key, a tag, an extra spec or a rule consumes it, not the resource it belongs to.
    const leaf = names[names.length - 1]!;
    return ['project', 'role', 'host'].includes(leaf) ? (leaf === 'role' ? ['user'] : []) : [leaf];
  }

  return {
    rig, tokens,
    async send(row, actor) {
      for (const [, name] of row.path.matchAll(/\{([a-z_]+)\}/g)) {
        if (shared[name!] === undefined && factories[name!]) shared[name!] = await factories[name!]!(shared);
      }
      const ids: Ids = { ...shared };
      if (actor === 'admin' || actor === 'member' || actor === 'service') {
        for (const name of consumed(row)) ids[name] = await factories[name]!(ids);
      }
      const path = row.path.replace(/\{([a-z_*]+)\}/g, (_m, name: string) => (name === '*' ? 'index.html' : encodeURIComponent(ids[name] ?? `<no fixture ${name}>`)));
      const answer = await call(row.method, path, tokens[actor], requestOf(row, ids));
      if (row.method === 'DELETE' && row.path.includes('quota')) await unlimitedQuota();
      return answer;
    },
    stop: () => rig.stop(),
  };
}

/** The body, headers and query each row sends; keyed by "METHOD path[ variant]". */
function requestOf(row: PolicyRow, ids: Ids): Request {
  const key = `${row.method} ${row.path}${row.variant ? ` ${row.variant}` : ''}`;
  const reScope = { auth: { identity: { methods: ['token'], token: { id: ids.subject_token } }, scope: { project: { id: ids.project } } } };
  const requests: Record<string, Request> = {
    'POST /identity/v3/auth/tokens': { body: reScope },
    'GET /identity/v3/auth/tokens': { headers: { 'x-subject-token': ids.subject_token! } },
    'DELETE /identity/v3/auth/tokens': { headers: { 'x-subject-token': ids.subject_token! } },
    'POST /identity/v3/projects': { body: { project: { name: unique('project') } } },
    'PATCH /identity/v3/projects/{project}': { body: { project: { description: 'policy walk' } } },
    'PATCH /identity/v3/users/{user}': { body: { user: { enabled: true } } },
    'POST /identity/v3/users': { body: { user: { name: unique('user'), password: 'user-password' } } },
    'POST /compute/v2.1/flavors': { body: { flavor: { name: unique('flavor'), ram: 512, vcpus: 1, disk: 1 } } },
    'POST /compute/v2.1/flavors/{flavor}/os-extra_specs': { body: { extra_specs: { 'policy:walk': 'yes' } } },
    'PUT /compute/v2.1/flavors/{flavor}/os-extra_specs/{extra_spec}': { body: { [ids.extra_spec!]: 'changed' } },
    'POST /compute/v2.1/servers': { body: { server: { name: unique('server'), imageRef: ids.cirros, flavorRef: '1', networks: 'none' } } },
    'PUT /compute/v2.1/servers/{server}': { body: { server: { name: 'renamed by the policy walk' } } },
    'POST /compute/v2.1/servers/{server}/action lock': { body: { lock: null } },
    'POST /compute/v2.1/servers/{server}/action os-stop': { body: { 'os-stop': null } },
    'POST /compute/v2.1/servers/{server}/action reboot': { body: { reboot: { type: 'SOFT' } } },
    'POST /compute/v2.1/servers/{server}/action os-getConsoleOutput': { body: { 'os-getConsoleOutput': { length: 10 } } },
    'POST /compute/v2.1/servers/{server}/action migrate': { body: { migrate: null } },
    'POST /compute/v2.1/servers/{server}/action os-migrateLive': { body: { 'os-migrateLive': { host: null, block_migration: 'auto' } } },
    'POST /compute/v2.1/servers/{server}/action evacuate': { body: { evacuate: {} } },
    'POST /compute/v2.1/servers/{server}/action shelveOffload': { body: { shelveOffload: null } },
    'POST /compute/v2.1/servers/{server}/action createImage': { body: { createImage: { name: unique('snapshot') } } },
    'PUT /compute/v2.1/os-services/{service_id}': { body: { status: 'enabled' } },
    'POST /compute/v2.1/servers/{server}/os-interface': { body: { interfaceAttachment: { port_id: ids.port } } },
    'POST /compute/v2.1/servers/{server}/metadata': { body: { metadata: { walk: 'yes' } } },
    // Replacing all metadata or tags keeps the shared key and tag the rows after it read.
    'PUT /compute/v2.1/servers/{server}/metadata': { body: { metadata: { [ids.metadata_key!]: 'yes', walk: 'yes' } } },
    'PUT /compute/v2.1/servers/{server}/metadata/{metadata_key}': { body: { meta: { [ids.metadata_key!]: 'changed' } } },
    'PUT /compute/v2.1/servers/{server}/tags': { body: { tags: [ids.tag!, 'walked'] } },
    // Removed from 2.88; asked at the last microversion that has them.
    'GET /compute/v2.1/os-hypervisors/statistics': { headers: { 'openstack-api-version': 'compute 2.87' } },
    'GET /compute/v2.1/os-hypervisors/{hypervisor}/uptime': { headers: { 'openstack-api-version': 'compute 2.87' } },
    'POST /compute/v2.1/os-server-groups': { body: { server_group: { name: unique('group'), policy: 'affinity' } } },
    'POST /compute/v2.1/os-keypairs': { body: { keypair: { name: unique('key'), public_key: SSH_KEY } } },
    'POST /compute/v2.1/os-aggregates': { body: { aggregate: { name: unique('agg') } } },
    'PUT /compute/v2.1/os-aggregates/{aggregate}': { body: { aggregate: { name: unique('agg') } } },
    'POST /compute/v2.1/os-aggregates/{aggregate}/action': { body: { set_metadata: { metadata: { walk: 'yes' } } } },
    'PUT /compute/v2.1/os-quota-sets/{project}': { body: { quota_set: { instances: -1 } } },
    'POST /network/v2.0/networks': { body: { network: { name: unique('net') } } },
    'PUT /network/v2.0/networks/{network}': { body: { network: { name: unique('net') } } },
    'POST /network/v2.0/subnets': { body: { subnet: { network_id: ids.network, cidr: `10.${100 + (serial % 100)}.${serial % 250}.0/24`, ip_version: 4 } } },
    'POST /network/v2.0/ports': { body: { port: { network_id: ids.network, name: unique('port') } } },
    'PUT /network/v2.0/ports/{port}': { body: { port: { name: unique('port') } } },
    'POST /network/v2.0/security-groups': { body: { security_group: { name: unique('sg') } } },
    'PUT /network/v2.0/security-groups/{security_group}': { body: { security_group: { description: 'policy walk' } } },
    'POST /network/v2.0/security-group-rules': { body: { security_group_rule: { security_group_id: ids.security_group, direction: 'egress', ethertype: 'IPv4', protocol: 'udp', port_range_min: 1000 + (++serial), port_range_max: 1000 + serial } } },
    'PUT /network/v2.0/quotas/{project}': { body: { quota: { port: -1 } } },
    'POST /image/v2/images': { body: { name: unique('image'), disk_format: 'qcow2', container_format: 'bare' } },
    'PUT /image/v2/images/{image}/file': { raw: 'policy walk image data' },
    'PATCH /image/v2/images/{image}': { body: [{ op: 'replace', path: '/name', value: unique('image') }], headers: { 'content-type': 'application/openstack-images-v2.1-json-patch' } },
    'PUT /agent/v1/hosts/{host}': { body: {
      host: ids.host, serviceVersion: 1, hypervisorType: 'QEMU', hostIp: '192.0.2.9', vcpus: 4, memoryMb: 4096, diskGb: 10,
      versions: { kernel: '6.8', libvirt: '10.0.0', qemu: '8.2.0' }, vdpaUnsupportedReason: null,
    } },
    'PUT /agent/v1/hosts/{host}/inventory': { body: { host: ids.host, devices: [] } },
    'PUT /agent/v1/hosts/{host}/guests/{guest}/report': { body: { host: ids.host, instanceUuid: ids.guest, generation: 0, observedState: 'absent', domainXml: null, error: null } },
    'PUT /agent/v1/hosts/{host}/guests/{guest}/power-state': { body: { host: ids.host, instanceUuid: ids.guest, state: 'absent' } },
    'PUT /agent/v1/hosts/{host}/console-requests/{console_request}': { body: { host: ids.host, id: ids.console_request, output: 'walk', error: null, notAvailable: false } },
    'GET /agent/v1/hosts/{host}/work': { query: 'timeout_ms=0' },
    'PUT /agent/v1/hosts/{host}/guests/{guest}/snapshots/{image}': { raw: 'snapshot data' },
    'PUT /agent/v1/hosts/{host}/guests/{guest}/disk-transfers/{migration}': { raw: 'disk data' },
  };
  return requests[key] ?? {};
}
