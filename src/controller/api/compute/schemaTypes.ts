/**
 * The building blocks of the compute API's route schemas (fastify `schema`,
 * checked by ajv before any handler runs, and published in /openapi.json).
 * Facts from Nova's nova/api/validation/parameter_types.py: names 1–255
 * characters, descriptions up to 255 or null, metadata keys
 * `^[a-zA-Z0-9-_:. ]{1,255}$` with string values up to 255, tags 1–60
 * characters without ',' or '/'. A schema is the union of what every
 * microversion accepts; what one microversion adds or removes is still the
 * handler's to refuse (Nova's 400 for a field of a later microversion).
 *
 * Query strings arrive as strings (no type coercion): numbers are strings
 * with a digits pattern, and the ranges the database can hold are checked
 * where the number is read (pagination.ts). Path ids are bounded in length
 * only: an id that names nothing is Nova's 404, not a 400.
 */

/** Every compute route's OpenAPI tag. */
export const COMPUTE_TAGS = ['compute'] as const;

/** Nova's parameter_types.name (the printable-characters rule stays with the handlers that have it). */
export const NAME = { type: 'string', minLength: 1, maxLength: 255 } as const;
export const NULLABLE_NAME = { type: ['string', 'null'], minLength: 1, maxLength: 255 } as const;
/** A host name (parameter_types.fqdn's length). */
export const HOST = { type: 'string', minLength: 1, maxLength: 255 } as const;
export const NULLABLE_HOST = { type: ['string', 'null'], minLength: 1, maxLength: 255 } as const;
/** parameter_types.description (2.19+). */
export const DESCRIPTION = { type: ['string', 'null'], maxLength: 255 } as const;
/** An id in a body (a server, port, network or image uuid, or an image URL). */
export const ID_REF = { type: 'string', minLength: 1, maxLength: 255 } as const;
export const ADMIN_PASS = { type: ['string', 'null'], maxLength: 255 } as const;
export const DISK_CONFIG = { type: 'string', enum: ['AUTO', 'MANUAL'] } as const;
export const ACCESS_IP = { type: 'string', maxLength: 64 } as const;
/** parameter_types.metadata: keys of `[a-zA-Z0-9-_:. ]`, string values up to 255 characters. */
export const METADATA = {
  type: 'object',
  propertyNames: { type: 'string', pattern: '^[a-zA-Z0-9-_:. ]{1,255}$' },
  additionalProperties: { type: 'string', maxLength: 255 },
} as const;
/** parameter_types.tag. */
export const TAG = { type: 'string', minLength: 1, maxLength: 60, pattern: '^[^,/]*$' } as const;

/** A non-negative whole number in a query string; its range is checked where it is read. */
export const QUERY_COUNT = { type: 'string', pattern: '^[0-9]+$', maxLength: 20 } as const;
/** Any other query value: a bounded string. */
export const QUERY_TEXT = { type: 'string', maxLength: 255 } as const;
/** Nova's query booleans (strict_boolean and friends) are read by the handlers; here only bounded. */
export const QUERY_FLAG = { type: 'string', maxLength: 16 } as const;

/** A query string with the listed parameters; unknown ones are ignored as Nova does, but bounded too. */
export function queryOf(properties: Record<string, unknown>, opts: { closed?: boolean } = {}) {
  return {
    type: 'object',
    properties,
    additionalProperties: opts.closed ? false : QUERY_TEXT,
  } as const;
}

/** Path parameters: bounded strings (the router already stops at 100 characters, with a 404). */
export function paramsOf(...names: string[]) {
  return {
    type: 'object',
    required: names,
    properties: Object.fromEntries(names.map((n) => [n, { type: 'string', maxLength: 255 }])),
  } as const;
}

/** A JSON body: an object with exactly the listed properties (Nova's additionalProperties: False). */
export function bodyOf(properties: Record<string, unknown>, required: string[] = []) {
  return { type: 'object', ...(required.length > 0 ? { required } : {}), properties, additionalProperties: false } as const;
}

/** An action's argument that carries nothing: `null` (what the clients send) or `{}`. */
export const NO_ARGS = { type: ['object', 'null'], properties: {}, additionalProperties: false } as const;

/** The route options of one compute route: its schema with summary and tag. */
export function computeRoute(summary: string, schema: { params?: unknown; querystring?: unknown; body?: unknown } = {}) {
  return { schema: { summary, tags: [...COMPUTE_TAGS], ...schema } };
}
