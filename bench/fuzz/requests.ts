/**
 * Request cases: an operation from the OpenAPI document, an actor, path
 * parameters (existing ids, unknown ids, hostile strings), query parameters
 * (the schema's and commonly abused ones, repeated, badly encoded) and a body
 * (schema-valid, an example, mutated, wrong type, malformed, wrong content
 * type, oversized).
 */
import fc from 'fast-check';
import { DELETE, hostileString, hostileValue, pathsIn, replaceAt, validArb } from './arbitraries.js';
import { exampleBody, type Pools } from './examples.js';
import type { Operation } from './openapi.js';

export const ACTORS = ['admin', 'member', 'other', 'service', 'anonymous', 'expired', 'revoked', 'malformed'] as const;
export type ActorName = (typeof ACTORS)[number];

export interface RequestCase {
  actor: ActorName;
  method: string;
  template: string;
  /** Path and query string, ready to append to the base URL. */
  url: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** How the body was made: valid, mutated, hostile, malformed, wrong-content-type, oversized, bytes or none. */
  bodyKind: string;
}

/** The pool of existing values a path parameter draws from, named by the path segment before it. */
function poolFor(op: Operation, index: number): string {
  const segments = op.template.split('/');
  const at = segments.indexOf(`{${op.pathParams[index]}}`);
  const before = segments[at - 1] ?? '';
  const identityWrite = op.template.startsWith('/identity/') && op.method !== 'GET';
  // Writes to users, projects and role assignments aim at victims, never at the actors' own accounts.
  if (identityWrite && (before === 'users' || before === 'projects')) return before === 'users' ? 'victimUsers' : 'victimProjects';
  const aliases: Record<string, string> = {
    'os-extra_specs': 'specKeys', metadata: 'metaKeys', tags: 'tags', 'os-keypairs': 'keypairs', 'os-interface': 'ports',
    'os-instance-actions': 'requestIds', 'os-services': 'services', 'os-hypervisors': 'hypervisors', 'os-aggregates': 'aggregates',
    'os-quota-sets': 'projects', quotas: 'projects', guests: 'servers', 'console-requests': 'consoleRequests', dashboard: 'pages',
  };
  const kind = aliases[before] ?? before;
  return op.method === 'DELETE' && ['flavors', 'images', 'networks', 'subnets'].includes(kind) && at === segments.length - 1 ? `${kind}Deletable` : kind;
}

const GENERIC_QUERY = ['limit', 'marker', 'name', 'status', 'host', 'all_tenants', 'sort_key', 'sort_dir', 'changes-since', 'project_id',
  'tenant_id', 'id', 'fields', 'visibility', 'device_id', 'network_id', 'fixed_ips', 'ip', 'flavor', 'image', 'tags', 'timeout_ms',
  'pending', 'is_public', 'minDisk', 'user_id', 'type', 'start', 'end', 'detailed', 'instance_uuid', 'enabled', 'domain_id'];

/** Percent-encodes `s` (a lone surrogate becomes the bytes of its CESU-8 form, invalid UTF-8); `raw` leaves most characters as they are. */
function encode(raw: boolean, s: string): string {
  const safe = (ch: string) => {
    try {
      return encodeURIComponent(ch);
    } catch {
      return '%ED%A0%80';
    }
  };
  if (raw) return s.replace(/[#&=?\s]|[\uD800-\uDFFF]/g, safe);
  try {
    return encodeURIComponent(s);
  } catch {
    return Array.from(s, safe).join('');
  }
}

function idArb(pools: Pools, pool: string): fc.Arbitrary<string> {
  const ids = pools[pool] ?? [];
  const alternatives: { weight: number; arbitrary: fc.Arbitrary<string> }[] = [
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 2, arbitrary: hostileString },
  ];
  if (ids.length) alternatives.push({ weight: 6, arbitrary: fc.constantFrom(...ids) });
  return fc.oneof(...alternatives);
}

function queryArb(op: Operation, pools: Pools): fc.Arbitrary<string> {
  const names = [...op.query.map((q) => q.name), ...GENERIC_QUERY];
  const anyId = Object.values(pools).flat();
  const value = (n: string) => {
    const s = op.query.find((q) => q.name === n)?.schema;
    const alternatives: fc.Arbitrary<unknown>[] = [hostileString, fc.integer({ min: -5, max: 1000 }), fc.constantFrom('true', 'false', 'None', '1', 'desc', 'asc')];
    if (s) alternatives.push(validArb(s), validArb(s));
    if (anyId.length) alternatives.push(fc.constantFrom(...anyId));
    return fc.oneof(...alternatives).map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
  };
  const pair = fc.constantFrom(...names).chain((n) => fc.tuple(fc.constant(n), value(n), fc.boolean()));
  return fc.tuple(fc.array(pair, { maxLength: 4 }), fc.nat(9), fc.constantFrom('', '&', '%ZZ=1', 'a=%00', '==', '&&&', '%', 'limit=1&limit=2', 'marker'))
    .map(([pairs, repeat, junk]) => {
      const parts = pairs.map(([k, v, raw]) => `${encode(raw, k)}=${encode(raw, v)}`);
      if (repeat === 0 && parts.length) parts.push(parts[0]!);
      if (repeat === 1) parts.push(junk);
      const q = parts.filter(Boolean).join('&');
      return q ? `?${q}` : '';
    });
}

const MALFORMED_JSON = ['{', '{"a":', 'nul', '\u0000', '{"a":1}}', '[', '{"a":1,"a":2}', '99999999999999999999999999', '1e999', '-0',
  '"str"', 'true', '[]', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"x":1}}}', '['.repeat(5000) + ']'.repeat(5000),
  '{"a":"\\ud800"}', '\uFEFF{}', '{\'a\':1}', '{"a":NaN}', '{"a":01}', ''];

interface BodyDraft { body?: string | Buffer; contentType?: string; kind: string }

function bodyArb(op: Operation, pools: Pools, validOnly = false): fc.Arbitrary<BodyDraft> {
  // fetch sends no body with these (and a client cannot either).
  if (op.method === 'GET' || op.method === 'HEAD') return fc.constant({ kind: 'none' });
  if (op.method === 'PUT' && op.template.endsWith('/file')) {
    return fc.tuple(fc.uint8Array({ maxLength: 4096 }), fc.constantFrom('application/octet-stream', 'application/octet-stream', 'application/json', 'text/plain'))
      .map(([bytes, ct]) => ({ body: Buffer.from(bytes), contentType: ct, kind: 'bytes' }));
  }
  const example = exampleBody(op.method, op.template, pools);
  const valid: fc.Arbitrary<unknown> = op.body && example
    ? fc.oneof(validArb(op.body), example)
    : op.body ? validArb(op.body) : example ?? fc.constant({});
  const mutated = valid.chain((doc) => {
    const paths = pathsIn(doc);
    return fc.tuple(fc.constantFrom(...paths), fc.oneof(hostileValue, fc.constant(DELETE as unknown)), fc.boolean(), fc.string({ maxLength: 8 }))
      .map(([path, replacement, addKey, key]) => {
        let out = replaceAt(doc, path, replacement);
        if (addKey && out && typeof out === 'object' && !Array.isArray(out)) out = { ...(out as object), [key || 'unexpected']: replacement === DELETE ? 1 : replacement };
        return out;
      });
  });
  const json = (kind: string) => (v: unknown): BodyDraft => ({ body: v === undefined ? undefined : JSON.stringify(v), contentType: 'application/json', kind });
  // The hand-written example first: a schema's arbitrary values rarely name things that exist.
  if (validOnly) return (example ?? valid).map(json('valid'));
  const writes = ['POST', 'PUT', 'PATCH'].includes(op.method);
  return fc.oneof(
    { weight: writes ? 40 : 0, arbitrary: valid.map(json('valid')) },
    { weight: writes ? 60 : 0, arbitrary: mutated.map(json('mutated')) },
    { weight: writes ? 20 : 0, arbitrary: hostileValue.map(json('hostile')) },
    { weight: writes ? 20 : 10, arbitrary: fc.constantFrom(...MALFORMED_JSON).map((b) => ({ body: b, contentType: 'application/json', kind: 'malformed' })) },
    { weight: writes ? 10 : 0, arbitrary: fc.tuple(valid, fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'application/json-patch+json', ''))
      .map(([v, ct]) => ({ body: JSON.stringify(v) ?? '', contentType: ct || undefined, kind: 'wrong-content-type' })) },
    { weight: writes ? 3 : 1, arbitrary: fc.constant({ body: `{"x":"${'A'.repeat(2 * 1024 * 1024)}"}`, contentType: 'application/json', kind: 'oversized' }) },
    { weight: writes ? 0 : 80, arbitrary: fc.constant({ kind: 'none' }) },
  );
}

const MICROVERSIONS = ['compute 2.1', 'compute 2.47', 'compute 2.79', 'compute 2.90', 'compute latest', 'compute 2.9999', 'compute 3.0', 'compute x', 'network 2.0', ''];

function actorArb(op: Operation): fc.Arbitrary<ActorName> {
  const agent = op.template.startsWith('/agent/');
  return fc.oneof(
    { weight: agent ? 1 : 4, arbitrary: fc.constant<ActorName>('admin') },
    { weight: agent ? 1 : 4, arbitrary: fc.constant<ActorName>('member') },
    { weight: 2, arbitrary: fc.constant<ActorName>('other') },
    { weight: agent ? 8 : 1, arbitrary: fc.constant<ActorName>('service') },
    { weight: 1, arbitrary: fc.constantFrom<ActorName>('anonymous', 'expired', 'revoked', 'malformed') },
  );
}

/**
 * A clean request: existing ids, no query, a valid body, a caller allowed to
 * ask. It reaches the handlers' success paths (and the state they leave) that
 * the hostile cases then probe from.
 */
function cleanParts(op: Operation, pools: Pools) {
  const ids = (i: number) => {
    const pool = pools[poolFor(op, i)] ?? [];
    return pool.length ? fc.constantFrom(...pool) : fc.uuid();
  };
  const writes = ['POST', 'PUT', 'PATCH'].includes(op.method);
  return fc.record({
    actor: op.template.startsWith('/agent/') ? fc.constant<ActorName>('service') : fc.constantFrom<ActorName>('admin', 'member'),
    params: fc.tuple(...op.pathParams.map((_, i) => fc.tuple(ids(i), fc.constant(1)))),
    query: fc.constant(''),
    body: writes ? bodyArb(op, pools, true) : fc.constant<BodyDraft>({ kind: 'none' }),
    microversion: fc.constant<string | undefined>('compute latest'),
  });
}

function hostileParts(op: Operation, pools: Pools) {
  return fc.record({
    actor: actorArb(op),
    params: fc.tuple(...op.pathParams.map((_, i) => fc.tuple(idArb(pools, poolFor(op, i)), fc.nat(7)))),
    query: fc.oneof({ weight: 2, arbitrary: fc.constant('') }, { weight: 3, arbitrary: queryArb(op, pools) }),
    body: bodyArb(op, pools),
    microversion: fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: fc.constant('compute latest') }, { weight: 1, arbitrary: fc.constantFrom(...MICROVERSIONS) }),
  });
}

export function caseArb(ops: Operation[], pools: Pools): fc.Arbitrary<RequestCase> {
  // Writes weigh three times a read: they are where input reaches the database.
  const weighted = ops.map((op) => ({ weight: op.method === 'GET' ? 1 : 3, arbitrary: fc.constant(op) }));
  return fc.oneof(...weighted).chain((op) => fc.oneof({ weight: 1, arbitrary: cleanParts(op, pools) }, { weight: 3, arbitrary: hostileParts(op, pools) })
    .map(({ actor, params, query, body, microversion }) => {
      let i = 0;
      const path = op.template.replace(/\{[^}]+\}/g, () => {
        const [value, rawChoice] = params[i++]!;
        return encode(rawChoice === 0, value);
      });
      // A long poll waits for work: keep it short so the run moves on (the parameter is still fuzzed through `query`).
      const url = path + (op.template.endsWith('/work') && !query ? '?timeout_ms=50' : query);
      const headers: Record<string, string> = {};
      if (body.contentType) headers['content-type'] = body.contentType;
      if (microversion !== undefined) headers['openstack-api-version'] = microversion;
      return { actor, method: op.method, template: op.template, url, headers, body: body.body, bodyKind: body.kind };
    }));
}
