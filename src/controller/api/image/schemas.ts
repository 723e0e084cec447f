/**
 * Route schemas of the image API, after Glance's image schema
 * (glance/api/v2/images.py get_base_properties): name up to 255
 * characters or null, the disk and container format enums, min_disk and
 * min_ram whole numbers, the visibility enum, tags as strings up to 255
 * characters, and any other property a string. Image data (PUT …/file) is a
 * stream and has no body schema. Messages are worded by `glanceWording`.
 */
import { CONTAINER_FORMATS, DISK_FORMATS, VISIBILITIES } from '../../services/images.js';
import { idParams, jsonschemaReason, QUERY_WHOLE_NUMBER, shortRepr, string, type SchemaFailure } from '../schemaValidation.js';

const TAG = ['image'];
const route = (summary: string, parts: Record<string, unknown>) => ({ tags: TAG, summary, ...parts });

const UUID = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
const WHOLE_NUMBER = { type: 'integer', minimum: 0, maximum: 2147483647 } as const;

/** Set by the service, never by a client: accepted by the schema so that the handler answers 403, as Glance does. */
export const READ_ONLY_PROPERTIES = ['status', 'size', 'virtual_size', 'checksum', 'os_hash_algo', 'os_hash_value', 'created_at',
  'updated_at', 'self', 'file', 'schema', 'direct_url', 'locations', 'owner'] as const;

/** The properties a client may set, and how. */
export const IMAGE_PROPERTIES = {
  id: { type: 'string', pattern: UUID },
  name: { type: ['string', 'null'], maxLength: 255 },
  visibility: { type: 'string', enum: VISIBILITIES },
  protected: { type: 'boolean' },
  os_hidden: { type: 'boolean' },
  disk_format: { type: ['string', 'null'], enum: [...DISK_FORMATS, null] },
  container_format: { type: ['string', 'null'], enum: [...CONTAINER_FORMATS, null] },
  min_disk: WHOLE_NUMBER,
  min_ram: WHOLE_NUMBER,
  tags: { type: 'array', items: string(255), uniqueItems: true, maxItems: 128 },
} as const;

/** Glance's additionalProperties: a custom property is a string. */
const EXTRA_PROPERTY = { type: 'string', maxLength: 65535 } as const;

const IMAGE_CREATE = {
  type: 'object',
  properties: {
    ...IMAGE_PROPERTIES,
    ...Object.fromEntries(READ_ONLY_PROPERTIES.map((k) => [k, { readOnly: true, description: 'read-only: 403 if given' }])),
  },
  propertyNames: { maxLength: 255 },
  additionalProperties: EXTRA_PROPERTY,
} as const;

/** An image after a JSON patch still has to be an image (Glance validates the patched image against its schema). */
export const PATCHED_IMAGE = {
  type: 'object',
  properties: IMAGE_PROPERTIES,
  propertyNames: { maxLength: 255 },
  additionalProperties: EXTRA_PROPERTY,
} as const;

export const JSON_PATCH_TYPE = 'application/openstack-images-v2.1-json-patch';

/** `openstack image set`: a list of operations on top-level properties ('/name', '/tags', '/hw_vif_model'). */
const IMAGE_PATCH = {
  type: 'array',
  maxItems: 100,
  items: {
    type: 'object',
    required: ['op', 'path'],
    additionalProperties: false,
    properties: {
      op: { type: 'string', enum: ['add', 'remove', 'replace'] },
      path: { type: 'string', pattern: '^/[^/]{1,255}$' },
      value: {},
    },
  },
} as const;

const LIST_QUERY = {
  type: 'object',
  properties: {
    limit: QUERY_WHOLE_NUMBER,
    marker: string(255),
    name: string(255),
    status: string(64),
    visibility: { type: 'string', enum: [...VISIBILITIES, 'all'] },
    sort_key: string(255),
    sort_dir: { type: 'string', enum: ['asc', 'desc'] },
    sort: string(255),
    owner: string(255),
    tag: string(255),
    member_status: string(64),
  },
  // Glance filters by any property; each is one bounded string.
  additionalProperties: string(255),
} as const;

const NO_QUERY = { type: 'object', properties: {}, additionalProperties: string(255) } as const;
const ID = idParams('id');

export const imageSchemas = {
  versions: route('List image API versions', { querystring: NO_QUERY }),
  versionList: route('List image API versions', { querystring: NO_QUERY }),
  list: route('List images', { querystring: LIST_QUERY }),
  show: route('Show an image', { params: ID, querystring: NO_QUERY }),
  create: route('Create an image record', { body: IMAGE_CREATE, querystring: NO_QUERY }),
  update: route(`Update an image (JSON patch, ${JSON_PATCH_TYPE})`, {
    params: ID, querystring: NO_QUERY, body: IMAGE_PATCH, consumes: [JSON_PATCH_TYPE],
  }),
  upload: route('Upload image data (application/octet-stream, streamed: no body schema)', {
    params: ID, querystring: NO_QUERY, consumes: ['application/octet-stream'],
  }),
  download: route('Download image data', { params: ID, querystring: NO_QUERY }),
  remove: route('Delete an image', { params: ID, querystring: NO_QUERY }),
};

// ---------- wording ----------

/**
 * Glance's words: a body that fails the image schema is "Provided object
 * does not match schema 'image': <jsonschema's reason>", here followed by
 * the property; a query parameter names itself.
 */
export function glanceWording(f: SchemaFailure): string {
  if (f.part === 'body') {
    if (f.path.length === 0 && f.value === null) return 'Body expected in request.';
    if (f.path.length === 0) return `Provided object does not match schema 'image': ${jsonschemaReason(f)}`;
    return `Provided object does not match schema 'image': ${jsonschemaReason(f)} (property '${f.path.join('/')}')`;
  }
  if (f.part === 'querystring') {
    const name = f.path[0] ?? 'query';
    if (name === 'limit') return 'limit param must be an integer';
    if (name === 'visibility') return `Invalid visibility value: ${String(f.value)}`;
    if (name === 'sort_dir') return `Invalid sort direction: ${String(f.value)}`;
    return `Invalid value for query parameter ${name}: ${jsonschemaReason(f)}`;
  }
  return `Invalid value for ${f.path.join('/') || f.part}: ${jsonschemaReason(f, shortRepr(f.value))}`;
}
