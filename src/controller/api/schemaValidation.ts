import AjvModule, { type ErrorObject } from 'ajv';
import type { FastifyInstance } from 'fastify';
import { BadRequest } from '../../domain/errors.js';

const Ajv = AjvModule.default;

/**
 * One route schema's first failure, as an API words it. `field` is the
 * property that failed (for `required` and `additionalProperties`, the
 * missing or unexpected one), `path` the properties down to it.
 */
export interface SchemaFailure {
  /** 'body', 'querystring', 'params' or 'headers'. */
  part: string;
  path: string[];
  field: string;
  /** The value that failed (undefined for a missing property). */
  value: unknown;
  keyword: string;
  params: Record<string, unknown>;
  /** The failing (sub)schema, for its `x-invalid` wording or its bounds. */
  schema: Record<string, unknown>;
}

/**
 * The validator of the networking, identity and image APIs: ajv without
 * coercion or defaults, and, unlike fastify's default, refusing (not
 * silently dropping) properties a schema closes with
 * `additionalProperties: false`, as Neutron does. A failure is a BadRequest
 * worded by the API (`wording`), so it reaches the API's error format as
 * any other 400.
 *
 * A schema may carry `x-invalid` ("cannot be converted to boolean"): the
 * API's reason for any failure of that value, where the keyword alone would
 * word it worse.
 */
const ajv = new Ajv({
  coerceTypes: false, allowUnionTypes: true, removeAdditional: false, useDefaults: false, allErrors: false,
  verbose: true, strict: false,
});

export function validateSchemas(app: FastifyInstance, wording: (failure: SchemaFailure) => string): void {
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const check = ajv.compile(schema as object);
    return (data: unknown) => {
      // `true`, not `{ value }`: an absent body stays absent (fastify hands it in as null).
      if (check(data)) return true;
      return { error: new BadRequest(wording(failureOf(check.errors![0]!, httpPart ?? 'body'))) };
    };
  });
}

/** The first failure of `data` against `schema` outside a route (a JSON patch's result, say), or null. */
export function schemaFailure(schema: object, data: unknown, part = 'body'): SchemaFailure | null {
  const check = ajv.compile(schema);
  return check(data) ? null : failureOf(check.errors![0]!, part);
}

function failureOf(e: ErrorObject, part: string): SchemaFailure {
  const path = e.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const params = e.params as Record<string, unknown>;
  const schema = (e.parentSchema ?? {}) as Record<string, unknown>;
  if (e.keyword === 'required') {
    const missing = String(params.missingProperty);
    return { part, path: [...path, missing], field: missing, value: undefined, keyword: e.keyword, params, schema };
  }
  if (e.keyword === 'additionalProperties') {
    const extra = String(params.additionalProperty);
    const value = e.data && typeof e.data === 'object' ? (e.data as Record<string, unknown>)[extra] : undefined;
    return { part, path: [...path, extra], field: extra, value, keyword: e.keyword, params, schema };
  }
  return { part, path, field: path.at(-1) ?? part, value: e.data, keyword: e.keyword, params, schema };
}

/** A value as Python's repr() shows it, which is how OpenStack's messages quote values. */
export function pythonRepr(v: unknown): string {
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'string') return `'${v}'`;
  if (Array.isArray(v)) return `[${v.map(pythonRepr).join(', ')}]`;
  if (typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `'${k}': ${pythonRepr(x)}`).join(', ')}}`;
  return String(v);
}

/** A value quoted for a message, cut short: an over-long value is what failed, and need not come back whole. */
export function shortRepr(v: unknown, max = 80): string {
  const r = pythonRepr(v);
  return r.length > max ? `${r.slice(0, max)}…` : r;
}

/**
 * jsonschema's (Python's) wording of a failure, which Keystone and Glance
 * pass on: "1 is not of type 'string'", "'x…' is too long".
 */
export function jsonschemaReason(f: SchemaFailure, value = shortRepr(f.value)): string {
  const p = f.params;
  switch (f.keyword) {
    case 'type': return `${value} is not of type ${String(p.type).split(',').map((t) => `'${t}'`).join(', ')}`;
    case 'required': return `'${f.field}' is a required property`;
    case 'additionalProperties': return `Additional properties are not allowed ('${f.field}' was unexpected)`;
    case 'minLength': return `${value} is too short`;
    case 'maxLength': return `${value} is too long`;
    case 'minItems': return `${value} is too short`;
    case 'maxItems': return `${value} is too long`;
    case 'minProperties': return `${value} does not have enough properties`;
    case 'maxProperties': return `${value} has too many properties`;
    case 'enum': return `${value} is not one of ${pythonRepr(p.allowedValues)}`;
    case 'pattern': return `${value} does not match '${String(p.pattern)}'`;
    case 'minimum': return `${value} is less than the minimum of ${String(p.limit)}`;
    case 'maximum': return `${value} is greater than the maximum of ${String(p.limit)}`;
    case 'uniqueItems': return `${value} has non-unique elements`;
    default: return `${value} is not valid under the given schema`;
  }
}

// ---------- fragments shared by the APIs' schemas ----------

/** Ajv's `maxLength` counts UTF-16 code units like JavaScript; near enough to Python's code points for a bound. */
export const string = (maxLength = 255, minLength = 0) => ({ type: 'string', minLength, maxLength }) as const;

/** A path parameter naming one resource: an id, or (for the clients' lookups by name) a name. */
export const idParams = (...names: string[]) => ({
  type: 'object',
  required: names,
  properties: Object.fromEntries(names.map((n) => [n, { type: 'string', minLength: 1, maxLength: 255 }])),
}) as const;

/** A whole number in a query string (they arrive as text): up to 10 digits, the handler checks the range. */
export const QUERY_WHOLE_NUMBER = { type: 'string', pattern: '^[0-9]{1,10}$' } as const;
