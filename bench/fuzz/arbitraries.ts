/**
 * fast-check arbitraries: values a JSON schema (from /openapi.json) allows,
 * and the hostile values a careless or malicious client sends instead.
 */
import fc from 'fast-check';

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
  nullable?: boolean;
}

const LONG = 'A'.repeat(70_000);

/** Strings that have broken parsers, databases and path handling before. */
export const HOSTILE_STRINGS = [
  '', ' ', '\u0000', 'a\u0000b', '%00', '\\', '../../../../etc/passwd', '..%2F..%2Fetc%2Fpasswd', '/', '.', '..',
  "' OR '1'='1", "'; DROP TABLE instances; --", '"', '\\"', '%', '_', '*', '^$', '(', '[', '{{7*7}}', '${jndi:ldap://x}',
  '<script>alert(1)</script>', '💥', '𝕦𝕟𝕚𝕔𝕠𝕕𝕖', '\uD800', '\uFEFF', 'é'.normalize('NFD'), '\r\nX-Injected: 1', '\t',
  '99999999999999999999', '-1', '0', '1e999', 'NaN', 'Infinity', 'true', 'null', '[]', '{}',
  'x'.repeat(256), 'x'.repeat(4097), LONG, '00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
];

export const HOSTILE_NUMBERS = [
  0, -1, 1.5, -0.5, 2 ** 31, 2 ** 31 - 1, -(2 ** 31), 2 ** 53 + 2, 2 ** 63, -(2 ** 63), 99999999999999999999, 1e308, -1e308, 5e-324,
];

export const hostileString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
);

/** Any JSON value a schema did not ask for: wrong types, extremes, deep and odd structures. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 3, arbitrary: fc.constantFrom<unknown>(...HOSTILE_NUMBERS, true, false, null, [], {}, [null], { '': null }, [[[]]]) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() .filter((d) => Number.isFinite(d)) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

function typesOf(s: JsonSchema): string[] {
  if (Array.isArray(s.type)) return s.type;
  if (s.type) return [s.type];
  if (s.properties) return ['object'];
  return [];
}

/** Values the schema accepts (best effort: patterns and formats are approximated by short strings). */
export function validArb(s: JsonSchema | undefined, depth = 0): fc.Arbitrary<unknown> {
  if (!s || depth > 6) return fc.oneof(fc.string({ maxLength: 12 }), fc.integer({ min: 0, max: 100 }), fc.boolean());
  if (s.const !== undefined) return fc.constant(s.const);
  if (s.enum) return fc.constantFrom(...s.enum);
  const alts = s.anyOf ?? s.oneOf;
  if (alts?.length) return fc.oneof(...alts.map((a) => validArb(a, depth + 1)));
  if (s.allOf?.length) return validArb(Object.assign({}, ...s.allOf), depth + 1);
  const types = typesOf(s);
  const base = types.length === 0 ? fc.jsonValue({ maxDepth: 2 }) : fc.oneof(...types.map((t) => validOfType(t, s, depth)));
  return s.nullable ? fc.oneof({ weight: 5, arbitrary: base }, { weight: 1, arbitrary: fc.constant(null) }) : base;
}

function validOfType(t: string, s: JsonSchema, depth: number): fc.Arbitrary<unknown> {
  switch (t) {
    case 'string': {
      const minLength = s.minLength ?? 0;
      const maxLength = Math.max(minLength, Math.min(s.maxLength ?? 24, 64));
      if (s.format === 'uuid') return fc.uuid();
      if (s.format === 'date-time') return fc.date({ noInvalidDate: true, min: new Date(0), max: new Date(4e12) }).map((d) => d.toISOString());
      if (s.pattern) {
        try {
          return fc.stringMatching(new RegExp(s.pattern)).filter((x) => x.length >= minLength && x.length <= (s.maxLength ?? Infinity));
        } catch { /* an ajv-only pattern: fall back to plain text */ }
      }
      return fc.string({ minLength, maxLength });
    }
    case 'integer':
      return fc.integer({ min: Math.max(s.minimum ?? -1000, -(2 ** 31)), max: Math.min(s.maximum ?? 100_000, 2 ** 31 - 1) });
    case 'number':
      return fc.double({ min: s.minimum ?? -1000, max: s.maximum ?? 100_000, noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(validArb(s.items, depth + 1), { minLength: s.minItems ?? 0, maxLength: Math.max(s.minItems ?? 0, Math.min(s.maxItems ?? 3, 5)) });
    case 'object': {
      const props = s.properties ?? {};
      const required = new Set(s.required ?? []);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, v] of Object.entries(props)) record[k] = validArb(v, depth + 1);
      const keys = Object.keys(props);
      return fc.record(record, { requiredKeys: keys.filter((k) => required.has(k)) });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** Every path to a value inside a JSON document (the root is []). */
export function pathsIn(value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((v, i) => pathsIn(v, [...prefix, i], out));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) pathsIn(v, [...prefix, k], out);
  return out;
}

/** A copy of `doc` with the value at `path` replaced (or deleted when `replacement` is DELETE). */
export const DELETE = Symbol('delete');
export function replaceAt(doc: unknown, path: (string | number)[], replacement: unknown): unknown {
  if (path.length === 0) return replacement === DELETE ? undefined : replacement;
  const copy: any = Array.isArray(doc) ? [...doc] : { ...(doc as object) };
  const [head, ...rest] = path;
  if (rest.length === 0 && replacement === DELETE) {
    if (Array.isArray(copy)) copy.splice(head as number, 1);
    else delete copy[head as string];
    return copy;
  }
  copy[head as string] = replaceAt(copy[head as string], rest, replacement);
  return copy;
}
