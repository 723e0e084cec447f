import { BadRequest } from '../../../domain/errors.js';
import { pageLimit, pageOf } from '../pagination.js';

/**
 * Request-body and query readers that answer in networking's own words
 * ("Invalid input for name. Reason: …"), which the CLI prints verbatim.
 */
export type Attrs = Record<string, unknown>;

function show(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : JSON.stringify(v) ?? String(v);
}

function invalid(attribute: string, value: unknown, why: string): BadRequest {
  return new BadRequest(`Invalid input for ${attribute}. Reason: ${show(value)} ${why}.`);
}

/** The `{"port": {...}}` wrapper's content. */
export function resourceBody(body: unknown, resource: string): Attrs {
  if (body === undefined || body === null) throw new BadRequest('Resource body required');
  if (typeof body !== 'object' || Array.isArray(body)) throw new BadRequest('Body contains invalid data');
  const inner = (body as Attrs)[resource];
  if (inner === undefined) throw new BadRequest(`Unable to find '${resource}' in request body`);
  if (typeof inner !== 'object' || inner === null || Array.isArray(inner)) {
    throw new BadRequest(`Invalid input for ${resource}. Reason: ${show(inner)} is not a dictionary.`);
  }
  return inner as Attrs;
}

/** Rejects attributes this API does not know; `accepted` are known but carry nothing here. */
export function onlyKnown(attrs: Attrs, known: readonly string[]): void {
  const unknown = Object.keys(attrs).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new BadRequest(`Unrecognized attribute(s) '${unknown.join(', ')}'`);
}

export function optString(attrs: Attrs, key: string, maxLength = 255): string | undefined {
  const v = attrs[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalid(key, v, 'is not a valid string');
  if (v.length > maxLength) throw invalid(key, v, `exceeds maximum length of ${maxLength}`);
  return v;
}

export function optNullableString(attrs: Attrs, key: string): string | null | undefined {
  return attrs[key] === null ? null : optString(attrs, key);
}

export function toBoolean(key: string, v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  if (v === 0 || v === 1) return v === 1;
  throw invalid(key, v, 'cannot be converted to boolean');
}

export function optBoolean(attrs: Attrs, key: string): boolean | undefined {
  const v = attrs[key];
  return v === undefined ? undefined : toBoolean(key, v);
}

export function optInteger(attrs: Attrs, key: string): number | null | undefined {
  const v = attrs[key];
  if (v === undefined || v === null) return v;
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw invalid(key, v, 'is not an integer');
  return n;
}

export function optDict(attrs: Attrs, key: string): Record<string, unknown> | undefined {
  const v = attrs[key];
  if (v === undefined) return undefined;
  if (v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid(key, v, 'is not a dictionary');
  return v as Record<string, unknown>;
}

export function optFixedIps(attrs: Attrs): { subnetId?: string; ipAddress?: string }[] | undefined {
  const v = attrs.fixed_ips;
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw invalid('fixed_ips', v, 'is not a list');
  return v.map((entry: unknown) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw invalid('fixed_ips', entry, 'is not a dictionary');
    const e = entry as Attrs;
    onlyKnown(e, ['subnet_id', 'ip_address']);
    const subnetId = optString(e, 'subnet_id');
    const ipAddress = optString(e, 'ip_address');
    return { ...(subnetId !== undefined ? { subnetId } : {}), ...(ipAddress !== undefined ? { ipAddress } : {}) };
  });
}

/** A list of strings (ids or names); null is the empty list. */
export function optStringList(attrs: Attrs, key: string): string[] | undefined {
  const v = attrs[key];
  if (v === undefined) return undefined;
  if (v === null) return [];
  if (!Array.isArray(v)) throw invalid(key, v, 'is not a list');
  for (const item of v) if (typeof item !== 'string') throw invalid(key, item, 'is not a valid string');
  if (new Set(v).size !== v.length) throw invalid(key, v, 'has duplicate entries');
  return v as string[];
}

/** A list value is an empty list; anything else is a 400 (the API keeps no security groups, pairs or tags). */
export function emptyListOnly(attrs: Attrs, key: string): void {
  const v = attrs[key];
  if (v === undefined || v === null) return;
  if (!Array.isArray(v)) throw invalid(key, v, 'is not a list');
  if (v.length > 0) throw invalid(key, v, 'is not supported by this deployment; only an empty list is accepted');
}

/** The owning project from project_id / tenant_id (they must agree when both are given). */
export function optProject(attrs: Attrs): string | undefined {
  const project = optString(attrs, 'project_id');
  const tenant = optString(attrs, 'tenant_id');
  if (project !== undefined && tenant !== undefined && project !== tenant) {
    throw new BadRequest(`'project_id' and 'tenant_id' do not match`);
  }
  return project ?? tenant;
}

// ---------- query strings ----------

export type Query = Record<string, string | string[] | undefined>;

/** Every value of a filter given once or repeated (`?id=a&id=b`), or undefined when absent. */
export function filterValues(q: Query, key: string): string[] | undefined {
  const v = q[key];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v : [v];
}

export function booleanFilter(q: Query, key: string): boolean | undefined {
  const v = filterValues(q, key);
  return v === undefined ? undefined : toBoolean(key, v[0]);
}

/** `fields=id&fields=name` narrows each item to those keys, as networking does. */
export function selectFields<T extends Record<string, unknown>>(item: T, q: Query): Partial<T> {
  const fields = filterValues(q, 'fields');
  if (!fields || fields.length === 0) return item;
  return Object.fromEntries(Object.entries(item).filter(([k]) => fields.includes(k))) as Partial<T>;
}

/**
 * Neutron's pagination of a list (`limit`, `marker`): the page, and a
 * `<collection>_links` next link when the page is full.
 */
export function neutronPage<T extends { id: string }>(
  items: readonly T[], q: Query, collection: string, baseUrl: string, notFound: (id: string) => Error,
): { page: T[]; links: Record<string, unknown> } {
  const limit = pageLimit(q.limit, (v) => `Bad limit request: Limit must be an integer 0 or greater and not '${v}'`);
  const marker = typeof q.marker === 'string' ? q.marker : undefined;
  // Neutron treats limit=0 as "no limit".
  const { page, more } = pageOf(items, { limit: limit || undefined, marker }, notFound);
  const last = page.at(-1);
  if (!more || !last) return { page, links: {} };
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) for (const one of Array.isArray(v) ? v : v === undefined ? [] : [v]) params.append(k, one);
  params.set('marker', last.id);
  return { page, links: { [`${collection}_links`]: [{ rel: 'next', href: `${baseUrl}/network/v2.0/${collection}?${params}` }] } };
}
