/**
 * Who the fuzzer speaks as, and the resources that give its requests real ids
 * to aim at: admin, a member of the owning project (demo), a member of
 * another project, the agents' service credential, no token, an expired, a
 * revoked and a malformed token; victims (users and projects) that identity
 * writes may disable or delete without locking the actors out.
 */
import type { AllInOne } from '../../src/cli/allInOne.js';
import { call } from './http.js';
import type { DatabaseProbe } from './digest.js';
import type { Pools } from './examples.js';
import type { ActorName } from './requests.js';

export type Tokens = Record<ActorName, string | undefined>;

const VICTIM_PASSWORD = 'fuzz-victim-password';

async function issue(base: string, user: string, password: string, project: string): Promise<string> {
  const r = await call(base, 'POST', '/identity/v3/auth/tokens', undefined, { auth: {
    identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password } } },
    scope: { project: { name: project, domain: { name: 'Default' } } },
  } }, [201]);
  return r.headers.get('x-subject-token')!;
}

async function userWithRole(base: string, admin: string, name: string, password: string, project: string, role: string): Promise<string> {
  const u = await call(base, 'POST', '/identity/v3/users', admin, { user: { name, password, default_project_id: project, enabled: true } }, [201]);
  await call(base, 'PUT', `/identity/v3/projects/${project}/users/${u.body.user.id}/roles/${role}`, admin, undefined, [204]);
  return u.body.user.id;
}

export async function setUpActors(aio: AllInOne, probe: DatabaseProbe): Promise<Tokens> {
  const base = aio.url;
  const c = aio.credentials;
  const admin = await issue(base, 'admin', c.adminPassword, 'admin');
  const member = await issue(base, 'demo', c.demoPassword, 'demo');
  const service = await issue(base, 'compute-agent', c.agentPassword, 'service');
  const demoProject = (await call(base, 'GET', '/identity/v3/projects?name=demo', admin)).body.projects[0].id;
  const otherProject = (await call(base, 'POST', '/identity/v3/projects', admin, { project: { name: 'fuzz-other', description: 'another project' } }, [201])).body.project.id;
  await userWithRole(base, admin, 'fuzz-other', 'fuzz-other-password', otherProject, 'member');
  const other = await issue(base, 'fuzz-other', 'fuzz-other-password', 'fuzz-other');
  // Expired: issued, then its expiry moved into the past in the database (no API makes one).
  const expiringUser = await userWithRole(base, admin, 'fuzz-expired', 'fuzz-expired-password', demoProject, 'member');
  const expired = await issue(base, 'fuzz-expired', 'fuzz-expired-password', 'demo');
  await probe.write('update tokens set expires_at = $1 where user_id = $2', ['2000-01-01T00:00:00.000Z', expiringUser]);
  const revoked = await issue(base, 'demo', c.demoPassword, 'demo');
  const rev = await fetch(`${base}/identity/v3/auth/tokens`, { method: 'DELETE', headers: { 'x-auth-token': revoked, 'x-subject-token': revoked } });
  if (rev.status !== 204) throw new Error(`revoking a token: HTTP ${rev.status}`);
  await ensureVictims(base, admin);
  return { admin, member, other, service, anonymous: undefined, expired, revoked, malformed: `${member} ` };
}

/** Two victim users, each a member of its victim project; deleted ones come back (identity writes aim at them). */
export async function ensureVictims(base: string, admin: string | undefined): Promise<void> {
  const users = (await call(base, 'GET', '/identity/v3/users', admin)).body.users as { name: string }[];
  const projects = (await call(base, 'GET', '/identity/v3/projects', admin)).body.projects as { id: string; name: string }[];
  for (let i = 0; i < 2; i++) {
    let project = projects.find((p) => p.name === `fuzz-victim-project-${i}`)?.id;
    project ??= (await call(base, 'POST', '/identity/v3/projects', admin, { project: { name: `fuzz-victim-project-${i}`, description: 'victim' } }, [201])).body.project.id;
    if (!users.some((u) => u.name === `fuzz-victim-${i}`)) await userWithRole(base, admin!, `fuzz-victim-${i}`, VICTIM_PASSWORD, project!, 'member');
  }
}

/** Boots the member's server `fuzz-server-…` (metadata fuzz-meta, tag fuzz-tag) and waits until it is ACTIVE. */
async function bootServer(base: string, t: Tokens, image: string, networks: unknown): Promise<void> {
  const server = (await call(base, 'POST', '/compute/v2.1/servers', t.member, { server: { name: `fuzz-server-${Date.now()}`, flavorRef: '1', imageRef: image, networks, metadata: { 'fuzz-meta': 'v' } } })).body.server.id;
  for (let i = 0; i < 100; i++) {
    const s = (await call(base, 'GET', `/compute/v2.1/servers/${server}`, t.member)).body.server;
    if (s.status === 'ACTIVE') break;
    if (s.status === 'ERROR') throw new Error(`fixture server went to ERROR: ${JSON.stringify(s.fault)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await call(base, 'PUT', `/compute/v2.1/servers/${server}/tags/fuzz-tag`, t.member, undefined, [201, 204], { 'openstack-api-version': 'compute 2.26' });
}

/** Requests delete servers: the member keeps at least one ACTIVE server to aim at (booted without a port, so no VF runs out). */
export async function ensureServer(base: string, t: Tokens): Promise<void> {
  const servers = (await call(base, 'GET', '/compute/v2.1/servers/detail', t.member)).body.servers as { status: string }[];
  if (servers.some((s) => s.status === 'ACTIVE')) return;
  const image = (await call(base, 'GET', '/image/v2/images?name=cirros', t.admin)).body.images[0]?.id;
  if (!image) return;
  try {
    await bootServer(base, t, image, 'none');
  } catch {
    // Quotas or flavors changed by earlier requests: fuzz on without one.
  }
}

/** Real resources, so that valid ids exist: the member's server on its port, and one of each other kind. */
export async function createFixtures(base: string, t: Tokens): Promise<void> {
  const net = (await call(base, 'GET', '/network/v2.0/networks?name=vdpa-net', t.admin)).body.networks[0].id;
  const image = (await call(base, 'GET', '/image/v2/images?name=cirros', t.admin)).body.images[0].id;
  await call(base, 'POST', '/compute/v2.1/os-keypairs', t.member, { keypair: { name: 'fuzz-key' } });
  await call(base, 'POST', '/compute/v2.1/os-keypairs', t.other, { keypair: { name: 'fuzz-other-key' } });
  const sg = (await call(base, 'POST', '/network/v2.0/security-groups', t.member, { security_group: { name: 'fuzz-sg', description: 'fuzz' } })).body.security_group.id;
  await call(base, 'POST', '/network/v2.0/security-group-rules', t.member, { security_group_rule: { security_group_id: sg, direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: 22, port_range_max: 22 } });
  const port = (await call(base, 'POST', '/network/v2.0/ports', t.member, { port: { name: 'fuzz-port', network_id: net, 'binding:vnic_type': 'vdpa' } })).body.port.id;
  await call(base, 'POST', '/network/v2.0/ports', t.member, { port: { name: 'fuzz-spare-port', network_id: net, 'binding:vnic_type': 'vdpa' } });
  await call(base, 'POST', '/network/v2.0/ports', t.other, { port: { name: 'fuzz-other-port', network_id: net, 'binding:vnic_type': 'vdpa' } });
  await bootServer(base, t, image, [{ port }]);
  const flavor = (await call(base, 'POST', '/compute/v2.1/flavors', t.admin, { flavor: { name: 'fuzz-private', ram: 512, vcpus: 1, disk: 1, 'os-flavor-access:is_public': false } })).body.flavor.id;
  await call(base, 'POST', `/compute/v2.1/flavors/${flavor}/os-extra_specs`, t.admin, { extra_specs: { 'fuzz:key': 'v' } });
  await call(base, 'POST', '/image/v2/images', t.admin, { name: 'fuzz-image', disk_format: 'qcow2', container_format: 'bare', visibility: 'private' }, [201]);
  await call(base, 'POST', '/compute/v2.1/os-aggregates', t.admin, { aggregate: { name: 'fuzz-agg', availability_zone: null } });
  const net2 = (await call(base, 'POST', '/network/v2.0/networks', t.admin, { network: { name: 'fuzz-net', 'provider:network_type': 'vlan', 'provider:physical_network': 'physnet0', 'provider:segmentation_id': 42 } }, [201])).body.network.id;
  await call(base, 'POST', '/network/v2.0/subnets', t.admin, { subnet: { name: 'fuzz-subnet', network_id: net2, cidr: '10.42.0.0/24', ip_version: 4 } }, [201]);
}

const ids = (list: any[] | undefined, field = 'id') => (list ?? []).map((x) => String(x[field]));

/** Existing values for path parameters, read fresh (requests create and delete things). */
export async function readPools(base: string, t: Tokens): Promise<Pools> {
  const get = async (path: string, token = t.admin) => {
    try {
      return (await call(base, 'GET', path, token)).body;
    } catch {
      return {};
    }
  };
  const servers = (await get('/compute/v2.1/servers/detail?all_tenants=1')).servers ?? [];
  const actions = servers.length ? (await get(`/compute/v2.1/servers/${servers[0].id}/os-instance-actions`)).instanceActions ?? [] : [];
  const users = (await get('/identity/v3/users')).users ?? [];
  const projects = (await get('/identity/v3/projects')).projects ?? [];
  const networks = (await get('/network/v2.0/networks')).networks ?? [];
  const images = (await get('/image/v2/images')).images ?? [];
  const flavors = ids((await get('/compute/v2.1/flavors?is_public=None')).flavors);
  const subnets = (await get('/network/v2.0/subnets')).subnets ?? [];
  // What ensureServer boots from (cirros, m1.tiny) and the shared network stay: deleting them ends the fixtures.
  const kept = new Set(['1', ...ids(images.filter((i: any) => i.name === 'cirros')), ...ids(networks.filter((n: any) => n.name === 'vdpa-net')),
    ...ids(subnets.filter((s: any) => s.name === 'vdpa-subnet'))]);
  const deletable = (list: string[]) => list.filter((id) => !kept.has(id));
  return {
    flavorsDeletable: deletable(flavors),
    imagesDeletable: deletable(ids(images)),
    networksDeletable: deletable(ids(networks)),
    subnetsDeletable: deletable(ids(subnets)),
    servers: ids(servers),
    requestIds: ids(actions, 'request_id'),
    flavors,
    images: ids(images),
    bootImages: ids(images.filter((i: any) => i.status === 'active')),
    networks: ids(networks),
    sharedNetworks: ids(networks.filter((n: any) => n.shared)),
    subnets: ids(subnets),
    ports: ids((await get('/network/v2.0/ports')).ports),
    'security-groups': ids((await get('/network/v2.0/security-groups')).security_groups),
    'security-group-rules': ids((await get('/network/v2.0/security-group-rules')).security_group_rules),
    aggregates: ids((await get('/compute/v2.1/os-aggregates')).aggregates),
    services: ids((await get('/compute/v2.1/os-services')).services),
    hypervisors: ids((await get('/compute/v2.1/os-hypervisors')).hypervisors),
    projects: ids(projects),
    users: ids(users),
    victimUsers: ids(users.filter((u: any) => String(u.name).startsWith('fuzz-victim'))),
    victimUserNames: ids(users.filter((u: any) => String(u.name).startsWith('fuzz-victim')), 'name'),
    victimProjects: ids(projects.filter((p: any) => String(p.name).startsWith('fuzz-victim'))),
    roles: ['admin', 'member', 'reader', 'service'],
    keypairs: ['fuzz-key', 'fuzz-other-key'],
    specKeys: ['fuzz:key', 'hw:cpu_policy'],
    metaKeys: ['fuzz-meta'],
    tags: ['fuzz-tag'],
    hosts: ['compute-0', 'compute-1'],
    consoleRequests: [],
    extensions: ['port-security', 'binding', 'quotas', 'security-group'],
    pages: ['index.html', 'app.js', '../package.json'],
    migrations: ['1'],
  };
}
