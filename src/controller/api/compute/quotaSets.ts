import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, Forbidden } from '../../../domain/errors.js';
import { COMPUTE_DEFAULTS, COMPUTE_FILE_KEYS, COMPUTE_LEGACY, QUOTA_MAX } from '../../../domain/quotas/resources.js';
import { findProject } from '../../../storage/repositories/identity.js';
import { clearProjectLimits, projectLimits, projectUsage, setProjectLimits } from '../../../storage/repositories/quotas.js';
import { countServerGroups } from '../../../storage/repositories/serverGroups.js';
import type { ControllerContext } from '../../context.js';
import { requireAdmin } from '../auth.js';
import { atLeast } from './microversion.js';
import { QUERY_TEXT, bodyOf, computeRoute, paramsOf, queryOf } from './schemaTypes.js';

/**
 * Nova's quota_sets update schema: each limit an integer (or a string of one)
 * from -1 to the database's largest; which keys a microversion has is the
 * handler's to check (its 400 names the key).
 */
const updateSchema = bodyOf({
  quota_set: {
    type: 'object',
    propertyNames: { maxLength: 255 },
    properties: { force: { type: ['boolean', 'string'], maxLength: 16 } },
    additionalProperties: { type: ['integer', 'string'], pattern: '^-?[0-9]+$', maxLength: 11, minimum: -1, maximum: QUOTA_MAX },
  },
}, ['quota_set']);
/** user_id only (from 2.75 Nova refuses other keys: the handler does, as it depends on the microversion). */
const userQuery = queryOf({ user_id: QUERY_TEXT });
const projectParams = paramsOf('p');

const policy = (action: string) => `os_compute_api:os-quota-sets:${action}`;

/** The keys a microversion shows: ≤2.35 with nova-network's (always -1), from 2.57 without the file keys. */
function keysFor(req: FastifyRequest): { settable: string[]; legacy: string[] } {
  const files = new Set<string>(COMPUTE_FILE_KEYS);
  const settable = Object.keys(COMPUTE_DEFAULTS).filter((k) => !(atLeast(req, '2.57') && files.has(k)));
  return { settable, legacy: atLeast(req, '2.36') ? [] : [...COMPUTE_LEGACY] };
}

/** Reader: admins, or anyone scoped to the project. */
function mayRead(req: FastifyRequest, projectId: string, action: string): void {
  if (!req.auth.isAdmin && req.auth.projectId !== projectId) throw new Forbidden(`Policy doesn't allow ${policy(action)} to be performed.`);
}

async function limitsOf(ctx: ControllerContext, req: FastifyRequest, projectId: string | null): Promise<Record<string, number>> {
  const own = projectId ? await projectLimits(ctx.store.reader, projectId) : {};
  const { settable, legacy } = keysFor(req);
  const out: Record<string, number> = {};
  for (const k of settable) out[k] = own[k] ?? COMPUTE_DEFAULTS[k]!;
  for (const k of legacy) out[k] = -1;
  return out;
}

/** Nova's 2.75+ refusal of unknown query keys; before, only user_id matters. */
function checkQuery(req: FastifyRequest): void {
  const q = req.query as Record<string, unknown>;
  if (!atLeast(req, '2.75')) return;
  for (const k of Object.keys(q)) {
    if (k !== 'user_id') throw new BadRequest(`Invalid input for query parameters ${k}. Value: ${String(q[k])}. Additional properties are not allowed ('${k}' was unexpected)`);
  }
}

export function registerQuotaSetRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  app.get<{ Params: { p: string } }>('/v2.1/os-quota-sets/:p', computeRoute('Show a project\'s quotas', { params: projectParams, querystring: userQuery }), async (req) => {
    checkQuery(req);
    mayRead(req, req.params.p, 'show');
    return { quota_set: { id: req.params.p, ...(await limitsOf(ctx, req, req.params.p)) } };
  });

  app.get<{ Params: { p: string } }>('/v2.1/os-quota-sets/:p/defaults', computeRoute('Show the default quotas', { params: projectParams, querystring: queryOf({}) }), async (req) => ({
    quota_set: { id: req.params.p, ...(await limitsOf(ctx, req, null)) },
  }));

  app.get<{ Params: { p: string } }>('/v2.1/os-quota-sets/:p/detail', computeRoute('Show a project\'s quotas with usage', { params: projectParams, querystring: userQuery }), async (req) => {
    checkQuery(req);
    mayRead(req, req.params.p, 'detail');
    const limits = await limitsOf(ctx, req, req.params.p);
    const used: Record<string, number> = {
      ...(await projectUsage(ctx.store.reader, req.params.p)), server_groups: await countServerGroups(ctx.store.reader, req.params.p),
    };
    const detail: Record<string, unknown> = { id: req.params.p };
    for (const [k, limit] of Object.entries(limits)) detail[k] = { in_use: used[k] ?? 0, limit, reserved: 0 };
    return { quota_set: detail };
  });

  app.put<{ Params: { p: string } }>('/v2.1/os-quota-sets/:p', computeRoute('Update a project\'s quotas (admin)', { params: projectParams, querystring: userQuery, body: updateSchema }), async (req) => {
    checkQuery(req);
    requireAdmin(req, policy('update'));
    const body = req.body as { quota_set?: Record<string, unknown> } | undefined;
    const set = body?.quota_set;
    if (!set || typeof set !== 'object' || Array.isArray(set)) throw new BadRequest("Invalid input for field/attribute quota_set. 'quota_set' is a required property");
    if (!(await findProject(ctx.store.reader, { id: req.params.p }))) throw new BadRequest(`Project ID ${req.params.p} is not a valid project.`);
    const { settable, legacy } = keysFor(req);
    const force = set.force === true || set.force === 'true' || set.force === 'True';
    const used: Record<string, number> = {
      ...(await projectUsage(ctx.store.reader, req.params.p)), server_groups: await countServerGroups(ctx.store.reader, req.params.p),
    };
    const changes: Record<string, number> = {};
    for (const [k, raw] of Object.entries(set)) {
      if (k === 'force') continue;
      if (k === 'networks') throw new BadRequest('The networks quota has been removed');
      if (!settable.includes(k) && !legacy.includes(k)) {
        throw new BadRequest(`Invalid input for field/attribute quota_set. Value: ${JSON.stringify(set)}. Additional properties are not allowed ('${k}' was unexpected)`);
      }
      const v = typeof raw === 'string' && /^-?\d+$/.test(raw) ? Number(raw) : raw;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < -1 || v > QUOTA_MAX) {
        throw new BadRequest(`Invalid input for field/attribute ${k}. Value: ${String(raw)}. ${JSON.stringify(raw)} is not valid under any of the given schemas`);
      }
      if (legacy.includes(k)) continue;
      if (!force && v !== -1 && (used[k] ?? 0) > v) {
        throw new BadRequest(`Quota limit ${v} for ${k} must be greater than or equal to already used and reserved ${used[k]}.`);
      }
      changes[k] = v;
    }
    await ctx.store.transact((trx) => setProjectLimits(trx, req.params.p, changes));
    return { quota_set: await limitsOf(ctx, req, req.params.p) };
  });

  app.delete<{ Params: { p: string } }>('/v2.1/os-quota-sets/:p', computeRoute('Revert a project\'s quotas to the defaults (admin)', { params: projectParams, querystring: userQuery }), async (req, reply) => {
    requireAdmin(req, policy('delete'));
    await ctx.store.transact((unit) => clearProjectLimits(unit, req.params.p, Object.keys(COMPUTE_DEFAULTS)));
    return reply.code(202).send();
  });
}
