import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, NotFound } from '../../../domain/errors.js';
import { deleteExtraSpec, deleteFlavor } from '../../../storage/repositories/flavors.js';
import { catalogChanged } from '../../../storage/repositories/lookups.js';
import type { FlavorTable } from '../../../storage/schema.js';
import type { ControllerContext } from '../../context.js';
import { createFlavor, findVisibleFlavor, flavorExtraSpecs, listFlavors, setExtraSpecs, type FlavorInput } from '../../services/flavors.js';
import { requireAdmin } from '../auth.js';
import { atLeast } from './microversion.js';

type Json = Record<string, unknown>;

// ---------- views ----------

function links(ctx: ControllerContext, id: string) {
  const base = ctx.publicUrl.replace(/\/+$/, '');
  return [
    { rel: 'self', href: `${base}/compute/v2.1/flavors/${id}` },
    { rel: 'bookmark', href: `${base}/compute/flavors/${id}` },
  ];
}

export function flavorView(req: FastifyRequest, ctx: ControllerContext, f: FlavorTable, extraSpecs: Record<string, string>) {
  return {
    id: f.id,
    name: f.name,
    ram: f.ram,
    disk: f.disk,
    vcpus: f.vcpus,
    // Before 2.75 Nova shows a zero swap as an empty string.
    swap: f.swap === 0 && !atLeast(req, '2.75') ? '' : f.swap,
    'OS-FLV-EXT-DATA:ephemeral': f.ephemeral,
    'OS-FLV-DISABLED:disabled': false,
    'os-flavor-access:is_public': f.is_public === 1,
    rxtx_factor: f.rxtx_factor,
    links: links(ctx, f.id),
    ...(atLeast(req, '2.55') ? { description: f.description } : {}),
    ...(atLeast(req, '2.61') ? { extra_specs: extraSpecs } : {}),
  };
}

function summaryView(req: FastifyRequest, ctx: ControllerContext, f: FlavorTable) {
  return {
    id: f.id,
    name: f.name,
    links: links(ctx, f.id),
    ...(atLeast(req, '2.55') ? { description: f.description } : {}),
  };
}

// ---------- request parsing ----------

/** Nova's filter: "None" means public and private, absent means public only. */
function isPublicFilter(req: FastifyRequest, raw: unknown): boolean | null {
  if (!req.auth.isAdmin) return true;
  if (raw === undefined) return true;
  const s = String(raw).toLowerCase();
  if (s === 'none') return null;
  if (['true', 't', '1', 'yes', 'y', 'on'].includes(s)) return true;
  if (['false', 'f', '0', 'no', 'n', 'off'].includes(s)) return false;
  throw new BadRequest(`Invalid is_public filter [${String(raw)}]`);
}

function intFilter(name: string, raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  const s = String(raw);
  if (!/^\d+$/.test(s)) throw new BadRequest(`Invalid ${name} filter [${s}]`);
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
  if (!Number.isInteger(n) || n < min) {
    throw new BadRequest(`Invalid input for field/attribute ${key}. Value: ${String(v)}. must be an integer >= ${min}`);
  }
  return n;
}

function parseFlavorBody(req: FastifyRequest): FlavorInput {
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

function specValue(key: string, v: unknown): string {
  if (!SPEC_KEY.test(key)) throw new BadRequest(`Invalid input for field/attribute extra_specs. Value: ${key}. does not match '^[a-zA-Z0-9-_:. ]{1,255}$'`);
  if (typeof v === 'string' && v.length <= 255) return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new BadRequest(`Invalid input for field/attribute ${key}. Value: ${JSON.stringify(v)}. is not a string of at most 255 characters`);
}

function specsBody(body: unknown): Record<string, string> {
  const specs = (body as Json | undefined)?.extra_specs;
  if (specs === null || typeof specs !== 'object' || Array.isArray(specs)) {
    throw new BadRequest("Invalid input for field/attribute extra_specs. 'extra_specs' is a required property");
  }
  return Object.fromEntries(Object.entries(specs as Json).map(([k, v]) => [k, specValue(k, v)]));
}

// ---------- routes ----------

/** Flavor routes, relative to the compute prefix (`/compute`); the caller's scope authenticates. */
export function registerFlavorRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  const db = ctx.store.db;

  async function visibleOr404(req: FastifyRequest, id: string): Promise<FlavorTable> {
    const f = await findVisibleFlavor(db, id, req.auth);
    if (!f) throw new NotFound(`Flavor ${id} could not be found.`);
    return f;
  }

  async function list(req: FastifyRequest): Promise<{ rows: FlavorTable[]; next?: string }> {
    const q = req.query as Json;
    const isPublic = isPublicFilter(req, q.is_public);
    const minRam = intFilter('minRam', q.minRam);
    const minDisk = intFilter('minDisk', q.minDisk);
    const limit = intFilter('limit', q.limit);
    return listFlavors(db, req.auth, { isPublic, minRam, minDisk, limit, marker: typeof q.marker === 'string' ? q.marker : undefined });
  }

  function pageLinks(req: FastifyRequest, path: string, next: string | undefined) {
    if (next === undefined) return {};
    const params = new URLSearchParams(req.query as Record<string, string>);
    params.set('marker', next);
    return { flavors_links: [{ rel: 'next', href: `${ctx.publicUrl.replace(/\/+$/, '')}/compute/v2.1/${path}?${params}` }] };
  }

  app.get('/v2.1/flavors', async (req) => {
    const { rows, next } = await list(req);
    return { flavors: rows.map((f) => summaryView(req, ctx, f)), ...pageLinks(req, 'flavors', next) };
  });

  app.get('/v2.1/flavors/detail', async (req) => {
    const { rows, next } = await list(req);
    const flavors = [];
    for (const f of rows) {
      flavors.push(flavorView(req, ctx, f, atLeast(req, '2.61') ? await flavorExtraSpecs(db, f.id) : {}));
    }
    return { flavors, ...pageLinks(req, 'flavors/detail', next) };
  });

  app.get<{ Params: { id: string } }>('/v2.1/flavors/:id', async (req) => {
    const f = await visibleOr404(req, req.params.id);
    return { flavor: flavorView(req, ctx, f, await flavorExtraSpecs(db, f.id)) };
  });

  app.post('/v2.1/flavors', async (req) => {
    requireAdmin(req, 'os_compute_api:os-flavor-manage:create');
    const f = await createFlavor(db, parseFlavorBody(req));
    return { flavor: flavorView(req, ctx, f, {}) };
  });

  app.delete<{ Params: { id: string } }>('/v2.1/flavors/:id', async (req, reply) => {
    requireAdmin(req, 'os_compute_api:os-flavor-manage:delete');
    const f = await visibleOr404(req, req.params.id);
    await ctx.store.transact((tx) => deleteFlavor(tx, f.id));
    catalogChanged();
    return reply.code(202).send();
  });

  app.get<{ Params: { id: string } }>('/v2.1/flavors/:id/os-extra_specs', async (req) => {
    const f = await visibleOr404(req, req.params.id);
    return { extra_specs: await flavorExtraSpecs(db, f.id) };
  });

  app.post<{ Params: { id: string } }>('/v2.1/flavors/:id/os-extra_specs', async (req) => {
    requireAdmin(req, 'os_compute_api:os-flavor-extra-specs:create');
    const f = await visibleOr404(req, req.params.id);
    const specs = specsBody(req.body);
    await setExtraSpecs(db, f.id, specs);
    return { extra_specs: specs };
  });

  app.get<{ Params: { id: string; key: string } }>('/v2.1/flavors/:id/os-extra_specs/:key', async (req) => {
    const f = await visibleOr404(req, req.params.id);
    const specs = await flavorExtraSpecs(db, f.id);
    if (!(req.params.key in specs)) throw new NotFound(`Flavor ${f.id} has no extra specs with key ${req.params.key}.`);
    return { [req.params.key]: specs[req.params.key] };
  });

  app.put<{ Params: { id: string; key: string } }>('/v2.1/flavors/:id/os-extra_specs/:key', async (req) => {
    requireAdmin(req, 'os_compute_api:os-flavor-extra-specs:update');
    const f = await visibleOr404(req, req.params.id);
    const body = req.body as Json | undefined;
    const entries = body && typeof body === 'object' && !Array.isArray(body) ? Object.entries(body) : [];
    if (entries.length !== 1 || entries[0]![0] !== req.params.key) throw new BadRequest('Request body and URI mismatch');
    const value = specValue(req.params.key, entries[0]![1]);
    await setExtraSpecs(db, f.id, { [req.params.key]: value });
    return { [req.params.key]: value };
  });

  app.delete<{ Params: { id: string; key: string } }>('/v2.1/flavors/:id/os-extra_specs/:key', async (req, reply) => {
    requireAdmin(req, 'os_compute_api:os-flavor-extra-specs:delete');
    const f = await visibleOr404(req, req.params.id);
    if (!(await deleteExtraSpec(db, f.id, req.params.key))) throw new NotFound(`Flavor ${f.id} has no extra specs with key ${req.params.key}.`);
    return reply.code(202).send();
  });
}
