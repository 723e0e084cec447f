/**
 * The server routes' request schemas (servers.ts): create, update and the
 * list filters, as Nova's nova/api/openstack/compute/schemas/servers.py has
 * them, each the union of its microversions.
 */
import {
  ACCESS_IP, ADMIN_PASS, DESCRIPTION, DISK_CONFIG, HOST, ID_REF, METADATA, NAME, NULLABLE_NAME, QUERY_COUNT, QUERY_FLAG,
  QUERY_TEXT, TAG, bodyOf, queryOf,
} from './schemaTypes.js';

/** Nova's parameter_types.boolean: JSON booleans and the strings oslo's strutils reads as one. */
const NOVA_BOOLEAN = {
  type: ['boolean', 'string'],
  enum: [true, false, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', 'y', 't',
    'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no', 'n', 'f'],
} as const;
/** parameter_types.positive_integer (min_count, max_count). */
const POSITIVE_COUNT = { type: ['integer', 'string'], pattern: '^[0-9]*$', minLength: 1, maxLength: 20, minimum: 1 } as const;
/** Nova's block_device_mapping_v2 item (the legacy one has a subset of its fields). */
const BLOCK_DEVICE = bodyOf({
  virtual_name: { type: 'string', maxLength: 255 }, volume_id: ID_REF, snapshot_id: ID_REF,
  volume_size: { type: ['integer', 'string', 'null'], pattern: '^[0-9]+$', maxLength: 20, minimum: 1 },
  device_name: { type: 'string', minLength: 1, maxLength: 255 }, delete_on_termination: NOVA_BOOLEAN, no_device: {},
  connection_info: { type: 'string', maxLength: 16777215 },
  source_type: { type: 'string', enum: ['volume', 'image', 'snapshot', 'blank'] }, uuid: ID_REF, image_id: ID_REF,
  destination_type: { type: 'string', enum: ['local', 'volume'] }, guest_format: { type: 'string', maxLength: 255 },
  device_type: { type: 'string', maxLength: 255 }, disk_bus: { type: 'string', maxLength: 255 },
  boot_index: { type: ['integer', 'string', 'null'], pattern: '^-?[0-9]+$', maxLength: 20 }, tag: TAG,
  volume_type: { type: ['string', 'null'], maxLength: 255 },
});
/** Scheduler hints are open in Nova too (additionalProperties: True). */
const SCHEDULER_HINTS = { type: 'object' } as const;

/**
 * Nova's server create schema, the union of its microversions (description
 * 2.19, networks "auto"/"none" 2.37, tags 2.52, personality until 2.56,
 * certificates 2.63, host/hypervisor_hostname 2.74, hostname 2.90); unknown
 * properties are a 400 as in Nova. Scheduler hints sit beside `server`.
 */
export const createSchema = bodyOf({
  server: bodyOf({
    name: NAME,
    imageRef: { type: 'string', maxLength: 2048 },
    flavorRef: { type: ['string', 'integer'], minLength: 1, maxLength: 255 },
    adminPass: ADMIN_PASS,
    metadata: METADATA,
    networks: {
      // A list of NICs, or (strings) Nova's "none" / "auto".
      type: ['array', 'string'],
      pattern: '^(none|auto)$',
      items: bodyOf({ port: { type: ['string', 'null'], maxLength: 255 }, uuid: ID_REF, fixed_ip: { type: 'string', maxLength: 64 }, tag: TAG }),
    },
    'OS-DCF:diskConfig': DISK_CONFIG,
    accessIPv4: ACCESS_IP,
    accessIPv6: ACCESS_IP,
    personality: { type: 'array', items: { type: 'object', properties: { path: { type: 'string', maxLength: 255 }, contents: { type: 'string', maxLength: 65535 } }, additionalProperties: false } },
    availability_zone: NULLABLE_NAME,
    block_device_mapping: { type: 'array', items: BLOCK_DEVICE },
    block_device_mapping_v2: { type: 'array', items: BLOCK_DEVICE },
    config_drive: NOVA_BOOLEAN,
    key_name: NULLABLE_NAME,
    min_count: POSITIVE_COUNT,
    max_count: POSITIVE_COUNT,
    return_reservation_id: NOVA_BOOLEAN,
    security_groups: { type: 'array', minItems: 1, items: bodyOf({ name: NAME }, ['name']) },
    user_data: { type: ['string', 'null'], maxLength: 65535 },
    description: DESCRIPTION,
    tags: { type: 'array', maxItems: 50, items: TAG },
    trusted_image_certificates: { type: ['array', 'null'], minItems: 1, maxItems: 50, items: { type: 'string', minLength: 1, maxLength: 255 } },
    host: HOST,
    hypervisor_hostname: HOST,
    hostname: { type: 'string', minLength: 1, maxLength: 255 },
  }, ['name', 'flavorRef']),
  'os:scheduler_hints': SCHEDULER_HINTS,
  'OS-SCH-HNT:scheduler_hints': SCHEDULER_HINTS,
}, ['server']);

/** Nova's update schemas (name; description from 2.19, hostname from 2.90: the handler checks the microversion). */
export const updateSchema = bodyOf({
  server: bodyOf({
    name: NAME, description: DESCRIPTION, accessIPv4: ACCESS_IP, accessIPv6: ACCESS_IP,
    'OS-DCF:diskConfig': DISK_CONFIG, hostname: { type: 'string', minLength: 1, maxLength: 255 },
  }),
}, ['server']);

/** Nova's servers index/detail filters this API reads; the others Nova knows are ignored, bounded. */
export const listQuery = queryOf({
  limit: QUERY_COUNT, marker: QUERY_TEXT, name: QUERY_TEXT, host: QUERY_TEXT, all_tenants: QUERY_FLAG,
  project_id: QUERY_TEXT, tenant_id: QUERY_TEXT, tags: QUERY_TEXT, 'tags-any': QUERY_TEXT, 'not-tags': QUERY_TEXT,
  'not-tags-any': QUERY_TEXT, locked: QUERY_FLAG,
});
