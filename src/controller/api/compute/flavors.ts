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
    const input = parseFlavorBody(req);
    const f = await ctx.store.transact((u) => createFlavor(u, input));
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
    const specs = specsBody(req.body);
    validateSpecs(req, specs);
    const f = await visibleOr404(req, req.params.id);
    await ctx.store.transact((u) => setExtraSpecs(u, f.id, specs));
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

  app.delete<{ Params: { id: string; key: string } }>('/v2.1/flavors/:id/os-extra_specs/:key', async (req, reply) => {
    requireAdmin(req, 'os_compute_api:os-flavor-extra-specs:delete');
    const f = await visibleOr404(req, req.params.id);
    if (!(await ctx.store.transact((u) => deleteExtraSpec(u, f.id, req.params.key)))) throw new NotFound(`Flavor ${f.id} has no extra specs with key ${req.params.key}.`);
    return reply.code(202).send();
  });
}
