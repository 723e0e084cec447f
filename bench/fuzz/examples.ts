/**
 * A plausible valid body for routes whose schema (in /openapi.json) does not
 * describe one yet: what the OpenStack client sends, filled with ids that
 * exist. The fuzzer sends these as they are and mutated.
 */
import fc from 'fast-check';

export type Pools = Record<string, string[]>;

const name = fc.string({ minLength: 1, maxLength: 20 }).map((s) => `fz-${s}`);
function pick(pools: Pools, kind: string, fallback = '00000000-0000-0000-0000-000000000000'): fc.Arbitrary<string> {
  const ids = pools[kind] ?? [];
  return ids.length ? fc.constantFrom(...ids) : fc.constant(fallback);
}

const SERVER_ACTIONS = (pools: Pools): fc.Arbitrary<unknown>[] => [
  fc.constant({ 'os-stop': null }), fc.constant({ 'os-start': null }), fc.constant({ reboot: { type: 'SOFT' } }),
  fc.constant({ reboot: { type: 'HARD' } }), fc.constant({ lock: null }), fc.constant({ unlock: null }),
  fc.constant({ pause: null }), fc.constant({ unpause: null }), fc.constant({ suspend: null }), fc.constant({ resume: null }),
  fc.constant({ addSecurityGroup: { name: 'default' } }), fc.constant({ removeSecurityGroup: { name: 'default' } }),
  name.map((n) => ({ createImage: { name: n } })), pick(pools, 'flavors', '2').map((f) => ({ resize: { flavorRef: f } })),
  fc.constant({ confirmResize: null }), fc.constant({ revertResize: null }), fc.constant({ migrate: null }),
  fc.constant({ 'os-getConsoleOutput': { length: 10 } }), fc.constant({ shelve: null }), fc.constant({ unshelve: null }),
  pick(pools, 'bootImages').map((i) => ({ rebuild: { imageRef: i } })), fc.constant({ 'os-migrateLive': { host: null, block_migration: 'auto' } }),
  fc.constant({ resetState: { state: 'active' } }), fc.constant({ changePassword: { adminPass: 'x' } }),
];

/** Keyed by "METHOD /path/template". */
export function exampleBody(method: string, template: string, pools: Pools): fc.Arbitrary<unknown> | undefined {
  const key = `${method} ${template}`;
  switch (key) {
    case 'POST /identity/v3/auth/tokens':
      return fc.constantFrom(...(pools.victimUserNames?.length ? pools.victimUserNames : ['nobody'])).map((u) => ({ auth: {
        identity: { methods: ['password'], password: { user: { name: u, domain: { name: 'Default' }, password: 'fuzz-victim-password' } } },
        scope: { project: { name: 'fuzz-victim-project-0', domain: { name: 'Default' } } },
      } }));
    case 'POST /identity/v3/projects': return name.map((n) => ({ project: { name: n, description: 'fuzz', enabled: true } }));
    case 'PATCH /identity/v3/projects/{id}': return fc.boolean().map((e) => ({ project: { description: 'fuzzed', enabled: e } }));
    case 'POST /identity/v3/users': return fc.tuple(name, pick(pools, 'victimProjects')).map(([n, p]) => ({ user: { name: n, password: 'pw-123456', default_project_id: p, enabled: true } }));
    case 'PATCH /identity/v3/users/{id}': return fc.boolean().map((e) => ({ user: { enabled: e } }));
    case 'POST /compute/v2.1/flavors': return fc.tuple(name, fc.boolean()).map(([n, pub]) => ({ flavor: { name: n, ram: 512, vcpus: 1, disk: 1, 'os-flavor-access:is_public': pub } }));
    case 'POST /compute/v2.1/flavors/{id}/os-extra_specs': return fc.constant({ extra_specs: { 'hw:cpu_policy': 'shared', 'fuzz:key': 'v' } });
    case 'PUT /compute/v2.1/flavors/{id}/os-extra_specs/{key}': return fc.constant({ 'fuzz:key': 'v2' });
    case 'POST /compute/v2.1/servers':
      return fc.tuple(name, pick(pools, 'bootImages'), fc.oneof(fc.constant<unknown>('none'), pick(pools, 'ports').map((p) => [{ port: p }])))
        .map(([n, i, networks]) => ({ server: { name: n, flavorRef: '1', imageRef: i, networks } }));
    case 'PUT /compute/v2.1/servers/{id}': return name.map((n) => ({ server: { name: n, description: 'fuzzed' } }));
    case 'POST /compute/v2.1/servers/{id}/action': return fc.oneof(...SERVER_ACTIONS(pools));
    case 'POST /compute/v2.1/servers/{id}/os-interface': return pick(pools, 'ports').map((p) => ({ interfaceAttachment: { port_id: p } }));
    case 'POST /compute/v2.1/servers/{id}/metadata':
    case 'PUT /compute/v2.1/servers/{id}/metadata': return fc.constant({ metadata: { 'fuzz-meta': 'v' } });
    case 'PUT /compute/v2.1/servers/{id}/metadata/{key}': return fc.constant({ meta: { 'fuzz-meta': 'v2' } });
    case 'PUT /compute/v2.1/servers/{id}/tags': return fc.constant({ tags: ['fuzz-tag', 'other'] });
    case 'POST /compute/v2.1/os-keypairs': return name.map((n) => ({ keypair: { name: n.replace(/[^A-Za-z0-9_ -]/g, 'x') } }));
    case 'POST /compute/v2.1/os-aggregates': return name.map((n) => ({ aggregate: { name: n, availability_zone: null } }));
    case 'PUT /compute/v2.1/os-aggregates/{id}': return name.map((n) => ({ aggregate: { name: n } }));
    case 'POST /compute/v2.1/os-aggregates/{id}/action':
      return fc.oneof(fc.constant({ add_host: { host: 'compute-1' } }), fc.constant({ remove_host: { host: 'compute-1' } }), fc.constant({ set_metadata: { metadata: { fuzz: 'v' } } }));
    case 'PUT /compute/v2.1/os-services/{id}': return fc.constantFrom({ status: 'enabled' }, { forced_down: false }, { status: 'disabled', disabled_reason: 'fuzz' });
    case 'PUT /compute/v2.1/os-quota-sets/{p}': return fc.integer({ min: 10, max: 50 }).map((n) => ({ quota_set: { instances: n, cores: n * 4 } }));
    case 'POST /network/v2.0/networks': return fc.tuple(name, fc.integer({ min: 100, max: 4000 })).map(([n, v]) => ({ network: { name: n, 'provider:network_type': 'vlan', 'provider:physical_network': 'physnet0', 'provider:segmentation_id': v } }));
    case 'PUT /network/v2.0/networks/{id}': return name.map((n) => ({ network: { name: n } }));
    case 'POST /network/v2.0/subnets': return fc.tuple(name, pick(pools, 'networks'), fc.integer({ min: 1, max: 250 })).map(([n, net, o]) => ({ subnet: { name: n, network_id: net, cidr: `10.${o}.0.0/24`, ip_version: 4 } }));
    case 'POST /network/v2.0/ports': return fc.tuple(name, pick(pools, 'sharedNetworks')).map(([n, net]) => ({ port: { name: n, network_id: net, 'binding:vnic_type': 'vdpa' } }));
    case 'PUT /network/v2.0/ports/{id}': return name.map((n) => ({ port: { name: n, description: 'fuzzed' } }));
    case 'POST /network/v2.0/security-groups':
    case 'PUT /network/v2.0/security-groups/{id}': return name.map((n) => ({ security_group: { name: n, description: 'fuzz' } }));
    case 'POST /network/v2.0/security-group-rules':
      return fc.tuple(pick(pools, 'security-groups'), fc.integer({ min: 1, max: 65535 })).map(([sg, p]) => ({ security_group_rule: { security_group_id: sg, direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: p, port_range_max: p } }));
    case 'PUT /network/v2.0/quotas/{project}': return fc.integer({ min: 10, max: 100 }).map((n) => ({ quota: { port: n, network: n } }));
    case 'POST /image/v2/images': return name.map((n) => ({ name: n, disk_format: 'qcow2', container_format: 'bare', visibility: 'private' }));
    default: return undefined;
  }
}
