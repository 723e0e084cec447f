import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, NotFound } from '../../../domain/errors.js';
import { deleteExtraSpec, deleteFlavor } from '../../../storage/repositories/flavors.js';
import { catalogChanged } from '../../../storage/repositories/lookups.js';
import type { FlavorTable } from '../../../storage/schema.js';
import type { ControllerContext } from '../../context.js';
import { createFlavor, findVisibleFlavor, flavorExtraSpecs, listFlavors, setExtraSpecs } from '../../services/flavors.js';
import { requireAdmin } from '../auth.js';
import { intFilter, isPublicFilter, parseFlavorBody, specsBody, specValue, validateSpecs } from './flavorInput.js';
import { flavorView, summaryView } from './flavorViews.js';
import { atLeast } from './microversion.js';
import { QUERY_COUNT, QUERY_FLAG, QUERY_TEXT, bodyOf, computeRoute, paramsOf, queryOf } from './schemaTypes.js';

/** Nova's flavor_param_positive / _non_negative: an integer or a string of digits, within the database's integers. */
const flavorSize = (minimum: number) => ({ type: ['integer', 'string'], pattern: '^[0-9]*$', maxLength: 10, minimum, maximum: 2 ** 31 - 1 }) as const;

/** Nova's flavor_manage create schema (description from 2.55: the handler checks the microversion). */
const createSchema = bodyOf({
  flavor: bodyOf({
    name: { type: 'string', minLength: 1, maxLength: 255 },
    id: { type: ['string', 'null'], minLength: 1, maxLength: 255, pattern: '^(?! )[a-zA-Z0-9. _-]+(?<! )$' },
    ram: flavorSize(1),
    vcpus: flavorSize(1),
    disk: flavorSize(0),
    'OS-FLV-EXT-DATA:ephemeral': flavorSize(0),
    swap: flavorSize(0),
    rxtx_factor: { type: 'number', exclusiveMinimum: 0, maximum: 3.40282e38 },
    'os-flavor-access:is_public': { type: 'boolean' },
    description: { type: ['string', 'null'], maxLength: 65535 },
  }, ['name', 'ram', 'vcpus', 'disk']),
}, ['flavor']);

const SPEC_KEY = { type: 'string', pattern: '^[a-zA-Z0-9-_:. ]{1,255}$' } as const;
const SPEC_VALUE = { type: ['string', 'number', 'boolean'], maxLength: 255 } as const;
/** Nova's flavors_extraspecs create and update schemas. */
const specsSchema = bodyOf({ extra_specs: { type: 'object', propertyNames: SPEC_KEY, additionalProperties: SPEC_VALUE } }, ['extra_specs']);
const specSchema = { type: 'object', minProperties: 1, maxProperties: 1, propertyNames: SPEC_KEY, additionalProperties: SPEC_VALUE } as const;

/** Nova's flavors index query; minRam and minDisk are the handler's to read ("Invalid minRam filter [x]"). */
const listQuery = queryOf({
  limit: QUERY_COUNT, marker: QUERY_TEXT, is_public: QUERY_FLAG, minRam: QUERY_TEXT, minDisk: QUERY_TEXT,
  sort_key: QUERY_TEXT, sort_dir: QUERY_TEXT,
});
const noQuery = queryOf({});
const flavorParams = paramsOf('id');
const specParams = paramsOf('id', 'key');

type Json = Record<string, unknown>;

/** Flavor routes, relative to the compute prefix (`/compute`); the caller's scope authenticates. */
export function registerFlavorRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  const db = ctx.store.reader;

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

  app.get('/v2.1/flavors', computeRoute('List flavors', { querystring: listQuery }), async (req) => {
    const { rows, next } = await list(req);
    return { flavors: rows.map((f) => summaryView(req, ctx, f)), ...pageLinks(req, 'flavors', next) };
  });

  app.get('/v2.1/flavors/detail', computeRoute('List flavors with details', { querystring: listQuery }), async (req) => {
    const { rows, next } = await list(req);
    const flavors = [];
    for (const f of rows) {
      flavors.push(flavorView(req, ctx, f, atLeast(req, '2.61') ? await flavorExtraSpecs(db, f.id) : {}));
    }
    return { flavors, ...pageLinks(req, 'flavors/detail', next) };
  });

  app.get<{ Params: { id: string } }>('/v2.1/flavors/:id', computeRoute('Show a flavor', { params: flavorParams, querystring: noQuery }), async (req) => {
    const f = await visibleOr404(req, req.params.id);
    return { flavor: flavorView(req, ctx, f, await flavorExtraSpecs(db, f.id)) };
  });

  app.post('/v2.1/flavors', computeRoute('Create a flavor (admin)', { body: createSchema, querystring: noQuery }), async (req) => {
    requireAdmin(req, 'os_compute_api:os-flavor-manage:create');
    const input = parseFlavorBody(req);
    const f = await ctx.store.transact((u) => createFlavor(u, input));
    return { flavor: flavorView(req, ctx, f, {}) };
  });

  app.delete<{ Params: { id: string } }>('/v2.1/flavors/:id', computeRoute('Delete a flavor (admin)', { params: flavorParams, querystring: noQuery }), async (req, reply) => {
    requireAdmin(req, 'os_compute_api:os-flavor-manage:delete');
    const f = await visibleOr404(req, req.params.id);
    await ctx.store.transact((tx) => deleteFlavor(tx, f.id));
    catalogChanged();
    return reply.code(202).send();
  });

  app.get<{ Params: { id: string } }>('/v2.1/flavors/:id/os-extra_specs', computeRoute('List a flavor\'s extra specs', { params: flavorParams, querystring: noQuery }), async (req) => {
    const f = await visibleOr404(req, req.params.id);
    return { extra_specs: await flavorExtraSpecs(db, f.id) };
  });

  app.post<{ Params: { id: string } }>('/v2.1/flavors/:id/os-extra_specs', computeRoute('Set extra specs of a flavor (admin)', { params: flavorParams, querystring: noQuery, body: specsSchema }), async (req) => {
    requireAdmin(req, 'os_compute_api:os-flavor-extra-specs:create');
    const specs = specsBody(req.body);
    validateSpecs(req, specs);
    const f = await visibleOr404(req, req.params.id);
    await ctx.store.transact((u) => setExtraSpecs(u, f.id, specs));
    return { extra_specs: specs };
  });

  app.get<{ Params: { id: string; key: string } }>('/v2.1/flavors/:id/os-extra_specs/:key', computeRoute('Show one extra spec of a flavor', { params: specParams, querystring: noQuery }), async (req) => {
    const f = await visibleOr404(req, req.params.id);
    const specs = await flavorExtraSpecs(db, f.id);
    if (!(req.params.key in specs)) throw new NotFound(`Flavor ${f.id} has no extra specs with key ${req.params.key}.`);
    return { [req.params.key]: specs[req.params.key] };
  });

  app.put<{ Params: { id: string; key: string } }>('/v2.1/flavors/:id/os-extra_specs/:key', computeRoute('Update one extra spec of a flavor (admin)', { params: specParams, querystring: noQuery, body: specSchema }), async (req) => {
    requireAdmin(req, 'os_compute_api:os-flavor-extra-specs:update');
    const body = req.body as Json | undefined;
    const entries = body && typeof body === 'object' && !Array.isArray(body) ? Object.entries(body) : [];
    // Nova checks every value of the body before it compares the body's key with the URI's.
    validateSpecs(req, Object.fromEntries(entries.map(([k, v]) => [k, specValue(k, v)])));
    if (entries.length !== 1 || entries[0]![0] !== req.params.key) throw new BadRequest('Request body and URI mismatch');
    const f = await visibleOr404(req, req.params.id);
    const value = specValue(req.params.key, entries[0]![1]);
    await ctx.store.transact((u) => setExtraSpecs(u, f.id, { [req.params.key]: value }));
    return { [req.params.key]: value };
  });

  app.delete<{ Params: { id: string; key: string } }>('/v2.1/flavors/:id/os-extra_specs/:key', computeRoute('Delete one extra spec of a flavor (admin)', { params: specParams, querystring: noQuery }), async (req, reply) => {
    requireAdmin(req, 'os_compute_api:os-flavor-extra-specs:delete');
    const f = await visibleOr404(req, req.params.id);
    if (!(await ctx.store.transact((u) => deleteExtraSpec(u, f.id, req.params.key)))) throw new NotFound(`Flavor ${f.id} has no extra specs with key ${req.params.key}.`);
    return reply.code(202).send();
  });
}
