/**
 * Route schemas of the networking API: what neutron-lib's attribute maps
 * allow (name and description up to 255 characters, booleans and integers
 * as its converters accept them, closed attribute sets), so that nothing
 * malformed reaches a handler or the database. The handlers still apply
 * the rules a schema cannot state (policy, address arithmetic, "only an
 * empty list"). Messages are worded by `neutronWording`.
 */
import { VNIC_TYPES } from '../../../domain/pci/vnicTypes.js';
import { NETWORK_DEFAULTS } from '../../../domain/quotas/resources.js';
import { idParams, pythonRepr, shortRepr, string, type SchemaFailure } from '../schemaValidation.js';

const TAG = ['network'];
const NAME = string(255);
const DESCRIPTION = string(255);
const PROJECT = string(255);

/** neutron-lib's convert_to_boolean: a boolean, 'true'/'false' in any case, or 0/1. */
const BOOLEAN = {
  type: ['boolean', 'string', 'integer'], pattern: '^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$', minimum: 0, maximum: 1,
  'x-invalid': 'cannot be converted to boolean',
} as const;

/** neutron-lib's convert_to_int: an integer, or its decimal text. */
const integer = (minimum: number, maximum: number, nullable = false) => ({
  type: nullable ? ['integer', 'string', 'null'] : ['integer', 'string'], pattern: '^-?[0-9]{1,9}$', minimum, maximum,
  'x-invalid': 'is not an integer',
}) as const;

/** A list attribute this deployment accepts only empty (the handler says so); null is the empty list. */
const LIST = { type: ['array', 'null'], maxItems: 1000 } as const;
const TAGS = { type: ['array', 'null'], items: string(255), maxItems: 1000 } as const;
const MAC = { type: 'string', pattern: '^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$', 'x-invalid': 'is not a valid MAC address' } as const;

/** `{"<resource>": {...}}`: the one key networking reads, and its closed set of attributes. */
function wrapped(resource: string, properties: Record<string, unknown>) {
  return {
    type: 'object',
    required: [resource],
    properties: { [resource]: { type: 'object', additionalProperties: false, properties } },
  } as const;
}

// ---------- query strings ----------

/** A list filter: once, or repeated (`?id=a&id=b`) for several values. */
const FILTER = { type: ['string', 'array'], maxLength: 255, items: string(255), maxItems: 100 } as const;
const BOOLEAN_FILTER = {
  type: ['string', 'array'], pattern: '^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$',
  items: { type: 'string', pattern: '^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$' }, maxItems: 100,
  'x-invalid': 'cannot be converted to boolean',
} as const;
const PAGING = {
  limit: { type: 'string', pattern: '^[0-9]{1,10}$' },
  marker: string(255),
  page_reverse: { type: 'string', pattern: '^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$' },
  sort_key: FILTER,
  sort_dir: FILTER,
  fields: FILTER,
} as const;

/** Filters by attribute; any other attribute name is a filter too (given as text), as networking's are. */
function listQuery(filters: readonly string[], booleans: readonly string[] = []) {
  return {
    type: 'object',
    properties: {
      ...PAGING,
      ...Object.fromEntries(filters.map((f) => [f, FILTER])),
      ...Object.fromEntries(booleans.map((f) => [f, BOOLEAN_FILTER])),
    },
    additionalProperties: FILTER,
  } as const;
}

const SHOW_QUERY = { type: 'object', properties: { fields: FILTER }, additionalProperties: FILTER } as const;
const NO_QUERY = { type: 'object', properties: {}, additionalProperties: FILTER } as const;
const ID = idParams('id');

const route = (summary: string, parts: Record<string, unknown>) => ({ tags: TAG, summary, ...parts });

// ---------- networks ----------

const NETWORK_UPDATE = { name: NAME, admin_state_up: BOOLEAN, description: DESCRIPTION, shared: BOOLEAN } as const;
const NETWORK_CREATE = {
  ...NETWORK_UPDATE,
  project_id: PROJECT, tenant_id: PROJECT, mtu: integer(0, 65535, true), port_security_enabled: BOOLEAN,
  availability_zone_hints: { type: ['array', 'null'], items: string(255), maxItems: 100 }, tags: TAGS,
  'provider:physical_network': string(64), 'provider:network_type': string(32),
  'provider:segmentation_id': integer(0, 16777215, true), 'router:external': BOOLEAN,
} as const;

export const networkSchemas = {
  list: route('List networks', { querystring: listQuery(['id', 'name', 'project_id', 'tenant_id', 'status', 'description'], ['shared', 'admin_state_up', 'router:external']) }),
  show: route('Show a network', { params: ID, querystring: SHOW_QUERY }),
  create: route('Create a network', { body: wrapped('network', NETWORK_CREATE), querystring: NO_QUERY }),
  update: route('Update a network', { params: ID, body: wrapped('network', NETWORK_UPDATE), querystring: NO_QUERY }),
  remove: route('Delete a network', { params: ID, querystring: NO_QUERY }),
};

// ---------- subnets ----------

const SUBNET_CREATE = {
  name: NAME, description: DESCRIPTION, network_id: string(255), cidr: string(64),
  ip_version: { type: ['integer', 'string'], enum: [4, 6, '4', '6'], 'x-invalid': 'is not in [4, 6]' },
  gateway_ip: { type: ['string', 'null'], maxLength: 64 }, enable_dhcp: BOOLEAN,
  allocation_pools: {
    type: ['array', 'null'], maxItems: 1000,
    items: { type: 'object', required: ['start', 'end'], additionalProperties: false, properties: { start: string(64), end: string(64) } },
  },
  project_id: PROJECT, tenant_id: PROJECT, dns_nameservers: LIST, host_routes: LIST, tags: TAGS,
  ipv6_ra_mode: { enum: ['dhcpv6-stateful', 'dhcpv6-stateless', 'slaac', null] },
  ipv6_address_mode: { enum: ['dhcpv6-stateful', 'dhcpv6-stateless', 'slaac', null] },
} as const;

export const subnetSchemas = {
  list: route('List subnets', { querystring: listQuery(['id', 'name', 'network_id', 'project_id', 'tenant_id', 'cidr', 'ip_version', 'gateway_ip'], ['enable_dhcp']) }),
  show: route('Show a subnet', { params: ID, querystring: SHOW_QUERY }),
  create: route('Create a subnet', { body: wrapped('subnet', SUBNET_CREATE), querystring: NO_QUERY }),
  remove: route('Delete a subnet', { params: ID, querystring: NO_QUERY }),
};

// ---------- ports ----------

const PORT_UPDATE = {
  name: NAME, admin_state_up: BOOLEAN, description: DESCRIPTION, device_id: string(255), device_owner: string(255),
  'binding:vnic_type': { type: 'string', enum: VNIC_TYPES },
  'binding:host_id': string(255),
  'binding:profile': { type: ['object', 'null'], maxProperties: 100, 'x-invalid': 'is not a dictionary' },
  numa_affinity_policy: { enum: ['required', 'preferred', 'legacy', 'socket', null] },
  security_groups: { type: ['array', 'null'], items: string(255), uniqueItems: true, maxItems: 100 },
  port_security_enabled: BOOLEAN,
  allowed_address_pairs: LIST, extra_dhcp_opts: LIST, tags: TAGS,
  dns_name: string(255), propagate_uplink_status: BOOLEAN, qos_policy_id: { type: ['string', 'null'], maxLength: 255 },
} as const;
const PORT_CREATE = {
  ...PORT_UPDATE,
  network_id: string(255), mac_address: MAC, project_id: PROJECT, tenant_id: PROJECT,
  fixed_ips: {
    type: 'array', maxItems: 100,
    items: { type: 'object', additionalProperties: false, properties: { subnet_id: string(255), ip_address: string(64) } },
  },
} as const;

export const portSchemas = {
  list: route('List ports', {
    querystring: listQuery(['id', 'name', 'network_id', 'device_id', 'device_owner', 'mac_address', 'status', 'binding:vnic_type',
      'binding:host_id', 'project_id', 'tenant_id', 'description']),
  }),
  show: route('Show a port', { params: ID, querystring: SHOW_QUERY }),
  create: route('Create a port', { body: wrapped('port', PORT_CREATE), querystring: NO_QUERY }),
  update: route('Update a port', { params: ID, body: wrapped('port', PORT_UPDATE), querystring: NO_QUERY }),
  remove: route('Delete a port', { params: ID, querystring: NO_QUERY }),
};

// ---------- security groups and rules ----------

const GROUP_UPDATE = { name: NAME, description: DESCRIPTION, stateful: BOOLEAN } as const;
const GROUP_CREATE = { ...GROUP_UPDATE, project_id: PROJECT, tenant_id: PROJECT, tags: TAGS } as const;
const NULLABLE_ID = { type: ['string', 'null'], maxLength: 255 } as const;
const RULE_CREATE = {
  security_group_id: string(255),
  direction: { type: 'string', enum: ['ingress', 'egress'] },
  ethertype: { type: 'string', enum: ['IPv4', 'IPv6'] },
  // A name ('tcp'), a number (6) or its text ('6'); null is any protocol.
  protocol: { type: ['string', 'integer', 'null'], maxLength: 255, minimum: 0, maximum: 255 },
  port_range_min: integer(0, 65535, true), port_range_max: integer(0, 65535, true),
  remote_ip_prefix: { type: ['string', 'null'], maxLength: 64 }, remote_group_id: NULLABLE_ID,
  remote_address_group_id: NULLABLE_ID, description: DESCRIPTION, project_id: PROJECT, tenant_id: PROJECT,
} as const;

export const securityGroupSchemas = {
  list: route('List security groups', { querystring: listQuery(['id', 'name', 'project_id', 'tenant_id', 'description'], ['stateful']) }),
  show: route('Show a security group', { params: ID, querystring: SHOW_QUERY }),
  create: route('Create a security group', { body: wrapped('security_group', GROUP_CREATE), querystring: NO_QUERY }),
  update: route('Update a security group', { params: ID, body: wrapped('security_group', GROUP_UPDATE), querystring: NO_QUERY }),
  remove: route('Delete a security group', { params: ID, querystring: NO_QUERY }),
  listRules: route('List security group rules', {
    querystring: listQuery(['id', 'security_group_id', 'project_id', 'tenant_id', 'direction', 'ethertype', 'protocol',
      'port_range_min', 'port_range_max', 'remote_ip_prefix', 'remote_group_id', 'description']),
  }),
  showRule: route('Show a security group rule', { params: ID, querystring: SHOW_QUERY }),
  createRule: route('Create a security group rule', { body: wrapped('security_group_rule', RULE_CREATE), querystring: NO_QUERY }),
  removeRule: route('Delete a security group rule', { params: ID, querystring: NO_QUERY }),
};

// ---------- quotas, zones, discovery ----------

const PROJECT_PARAMS = idParams('project');
const QUOTA_VALUE = { ...integer(-1, 2147483647), 'x-invalid': 'is not a valid integer or -1' } as const;

export const quotaSchemas = {
  list: route('List the projects with their own quotas', { querystring: NO_QUERY }),
  show: route("Show a project's quotas", { params: PROJECT_PARAMS, querystring: NO_QUERY }),
  defaults: route('Show the default quotas', { params: PROJECT_PARAMS, querystring: NO_QUERY }),
  details: route("Show a project's quotas with their usage", { params: PROJECT_PARAMS, querystring: NO_QUERY }),
  update: route("Set a project's quotas", {
    params: PROJECT_PARAMS,
    querystring: NO_QUERY,
    body: wrapped('quota', {
      ...Object.fromEntries(Object.keys(NETWORK_DEFAULTS).map((k) => [k, QUOTA_VALUE])),
      check_limit: BOOLEAN, force: BOOLEAN,
    }),
  }),
  remove: route("Reset a project's quotas to the defaults", { params: PROJECT_PARAMS, querystring: NO_QUERY }),
  zones: route('List availability zones', { querystring: NO_QUERY }),
};

export const discoverySchemas = {
  versions: route('List API versions', { querystring: NO_QUERY }),
  resources: route('List the v2.0 resources', { querystring: NO_QUERY }),
  extensions: route('List extensions', { querystring: NO_QUERY }),
  extension: route('Show an extension', { params: idParams('alias'), querystring: NO_QUERY }),
};

// ---------- wording ----------

function reasonOf(f: SchemaFailure): string {
  const p = f.params;
  const invalid = f.schema['x-invalid'];
  if (typeof invalid === 'string' && ['type', 'pattern', 'enum'].includes(f.keyword)) return invalid;
  switch (f.keyword) {
    case 'type': {
      const t = String(p.type);
      return t === 'object' ? 'is not a dictionary' : t.startsWith('array') ? 'is not a list'
        : t === 'string' ? 'is not a valid string' : t === 'boolean' ? 'cannot be converted to boolean'
          : t.startsWith('integer') ? 'is not an integer' : `is not of type ${t}`;
    }
    case 'maxLength': return `exceeds maximum length of ${String(p.limit)}`;
    case 'minLength': return `is shorter than ${String(p.limit)} characters`;
    case 'enum': return `is not in ${pythonRepr(p.allowedValues)}`;
    case 'minimum': case 'maximum': {
      const min = f.schema.minimum;
      const max = f.schema.maximum;
      return min !== undefined && max !== undefined ? `is not in range ${String(min)} through ${String(max)}`
        : f.keyword === 'minimum' ? `is smaller than ${String(p.limit)}` : `is larger than ${String(p.limit)}`;
    }
    case 'maxItems': return `has more than ${String(p.limit)} items`;
    case 'maxProperties': return `has more than ${String(p.limit)} keys`;
    case 'uniqueItems': return 'has duplicate entries';
    case 'pattern': return 'is not valid';
    default: return 'is not valid';
  }
}

/**
 * Neutron's words for a request that fails its route schema: "Unable to
 * find 'port' in request body", "Unrecognized attribute(s) 'colour'",
 * "Invalid input for name. Reason: 7 is not a valid string.".
 */
export function neutronWording(f: SchemaFailure): string {
  if (f.part === 'querystring' && f.path[0] === 'limit') {
    return `Bad limit request: Limit must be an integer 0 or greater and not '${String(f.value)}'`;
  }
  if (f.part === 'body') {
    if (f.path.length === 0) return f.value === null ? 'Resource body required' : 'Body contains invalid data';
    if (f.path.length === 1 && f.keyword === 'required') return `Unable to find '${f.field}' in request body`;
    if (f.keyword === 'additionalProperties') return `Unrecognized attribute(s) '${f.field}'`;
    const attribute = f.path.length === 1 ? f.path[0]! : f.path[1]!;
    return `Invalid input for ${attribute}. Reason: ${shortRepr(f.value)} ${reasonOf(f)}.`;
  }
  const attribute = f.path[0] ?? f.part;
  if (f.keyword === 'additionalProperties') return `Unrecognized attribute(s) '${f.field}'`;
  return `Invalid input for ${attribute}. Reason: ${shortRepr(f.value)} ${reasonOf(f)}.`;
}
