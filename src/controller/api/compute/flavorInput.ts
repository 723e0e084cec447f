import type { FastifyRequest } from 'fastify';
import { BadRequest } from '../../../domain/errors.js';
import { validateHwExtraSpec } from '../../../domain/flavors/hwExtraSpecs.js';
import type { FlavorInput } from '../../services/flavors.js';
import { atLeast } from './microversion.js';
import { MAX_PAGE_LIMIT } from '../pagination.js';

/** Flavor requests read and checked: list filters, the create body, extra specs. */

type Json = Record<string, unknown>;

/** Nova's filter: "None" means public and private, absent means public only. */
export function isPublicFilter(req: FastifyRequest, raw: unknown): boolean | null {
  if (!req.auth.isAdmin) return true;
  if (raw === undefined) return true;
  const s = String(raw).toLowerCase();
  if (s === 'none') return null;
  if (['true', 't', '1', 'yes', 'y', 'on'].includes(s)) return true;
  if (['false', 'f', '0', 'no', 'n', 'off'].includes(s)) return false;
  throw new BadRequest(`Invalid is_public filter [${String(raw)}]`);
}

export function intFilter(name: string, raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  const s = String(raw);
  // Bounded as the database's integers are: a larger number is a 400, not a query error.
  if (!/^\d{1,10}$/.test(s) || Number(s) > MAX_PAGE_LIMIT) throw new BadRequest(`Invalid ${name} filter [${s}]`);
  return Number(s);
}

/** Nova accepts integers and digit strings for sizes. */
function intField(body: Json, key: string, min: number, required: boolean): number | undefined {
  const v = body[key];
  if (v === undefined || (!required && v === '')) {
    if (required) throw new BadRequest(`Invalid input for field/attribute flavor. Value: ${JSON.stringify(body)}. '${key}' is a required property`);
    return undefined;
  }
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > MAX_PAGE_LIMIT) {
    throw new BadRequest(`Invalid input for field/attribute ${key}. Value: ${String(v)}. must be an integer from ${min} to ${MAX_PAGE_LIMIT}`);
  }
  return n;
}

export function parseFlavorBody(req: FastifyRequest): FlavorInput {
  const outer = req.body as Json | undefined;
  const body = outer?.flavor;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new BadRequest("Invalid input for field/attribute flavor. 'flavor' is a required property");
  }
  const b = body as Json;
  const name = b.name;
  if (typeof name !== 'string' || name.trim() === '' || name.length > 255) {
    throw new BadRequest('Invalid input for field/attribute name. Value: ' + String(name) + '. must be a non-empty string');
  }
  let id: string | undefined;
  if (b.id !== undefined && b.id !== null) {
    if (typeof b.id !== 'string' || !/^(?! )[a-zA-Z0-9. _-]+(?<! )$/.test(b.id) || b.id.length > 255) {
      throw new BadRequest(`Invalid input for field/attribute id. Value: ${String(b.id)}.`);
    }
    id = b.id;
  }
  const rxtx = b.rxtx_factor;
  if (rxtx !== undefined && (typeof rxtx !== 'number' || !(rxtx > 0))) {
    throw new BadRequest(`Invalid input for field/attribute rxtx_factor. Value: ${String(rxtx)}.`);
  }
  const isPublic = b['os-flavor-access:is_public'];
  if (isPublic !== undefined && typeof isPublic !== 'boolean') {
    throw new BadRequest(`Invalid input for field/attribute os-flavor-access:is_public. Value: ${String(isPublic)}.`);
  }
  const description = b.description;
  if (description !== undefined) {
    if (!atLeast(req, '2.55')) throw new BadRequest("Invalid input for field/attribute flavor. Additional properties are not allowed ('description' was unexpected)");
    if (description !== null && (typeof description !== 'string' || description.length > 65535)) {
      throw new BadRequest('Invalid input for field/attribute description.');
    }
  }
  return {
    id, name: name.trim(),
    ram: intField(b, 'ram', 1, true)!,
    vcpus: intField(b, 'vcpus', 1, true)!,
    disk: intField(b, 'disk', 0, true)!,
    ephemeral: intField(b, 'OS-FLV-EXT-DATA:ephemeral', 0, false),
    swap: intField(b, 'swap', 0, false),
    rxtxFactor: rxtx as number | undefined,
    isPublic: isPublic as boolean | undefined,
    description: description as string | null | undefined,
  };
}

const SPEC_KEY = /^[a-zA-Z0-9\-_:. ]{1,255}$/;

export function specValue(key: string, v: unknown): string {
  if (!SPEC_KEY.test(key)) throw new BadRequest(`Invalid input for field/attribute extra_specs. Value: ${key}. does not match '^[a-zA-Z0-9-_:. ]{1,255}$'`);
  if (typeof v === 'string' && v.length <= 255) return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new BadRequest(`Invalid input for field/attribute ${key}. Value: ${JSON.stringify(v)}. is not a string of at most 255 characters`);
}

export function specsBody(body: unknown): Record<string, string> {
  const specs = (body as Json | undefined)?.extra_specs;
  if (specs === null || typeof specs !== 'object' || Array.isArray(specs)) {
    throw new BadRequest("Invalid input for field/attribute extra_specs. 'extra_specs' is a required property");
  }
  return Object.fromEntries(Object.entries(specs as Json).map(([k, v]) => [k, specValue(k, v)]));
}

/** From 2.86 Nova validates each extra spec it knows at set (here the `hw:` namespace); below, any value is stored. */
export function validateSpecs(req: FastifyRequest, specs: Record<string, string>): void {
  if (!atLeast(req, '2.86')) return;
  for (const [name, value] of Object.entries(specs)) validateHwExtraSpec(name, value);
}
