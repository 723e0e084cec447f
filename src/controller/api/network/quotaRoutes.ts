import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, Forbidden, NotFound } from '../../../domain/errors.js';
import { NETWORK_DEFAULTS } from '../../../domain/quotas/resources.js';
import { DEFAULT_ZONE } from '../../../domain/scheduling/zones.js';
import { findProject } from '../../../storage/repositories/identity.js';
import { clearProjectLimits, countOwned, projectLimits, projectsWithLimits, setProjectLimits } from '../../../storage/repositories/quotas.js';
import type { ControllerContext } from '../../context.js';
import { quotaSchemas } from './schemas.js';

type ProjectParams = { Params: { project: string } };

/** `.json` is how older clients spell the same path. */
const projectOf = (req: FastifyRequest<ProjectParams>) => req.params.project.replace(/\.json$/, '');

function mayRead(req: FastifyRequest, projectId: string): void {
  if (!req.auth.isAdmin && req.auth.projectId !== projectId) throw new Forbidden('rule:get_quota is disallowed by policy');
}

async function limitsOf(ctx: ControllerContext, projectId: string | null): Promise<Record<string, number>> {
  const own = projectId ? await projectLimits(ctx.store.reader, projectId) : {};
  return Object.fromEntries(Object.entries(NETWORK_DEFAULTS).map(([k, d]) => [k, own[k] ?? d]));
}

const COUNTED = { port: 'ports', network: 'networks', subnet: 'subnets' } as const;

/** Neutron's quotas extension (per project, defaults from neutron.conf) and its availability zones. */
export function quotaRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  app.get('/v2.0/quotas', { schema: quotaSchemas.list }, async (req) => {
    if (!req.auth.isAdmin) throw new Forbidden('rule:get_quota is disallowed by policy');
    const out = [];
    for (const project_id of await projectsWithLimits(ctx.store.reader)) {
      const own = await projectLimits(ctx.store.reader, project_id);
      if (Object.keys(NETWORK_DEFAULTS).some((k) => own[k] !== undefined)) out.push({ ...(await limitsOf(ctx, project_id)), project_id, tenant_id: project_id });
    }
    return { quotas: out };
  });

  app.get<ProjectParams>('/v2.0/quotas/:project', { schema: quotaSchemas.show }, async (req) => {
    mayRead(req, projectOf(req));
    return { quota: await limitsOf(ctx, projectOf(req)) };
  });

  app.get<ProjectParams>('/v2.0/quotas/:project/default', { schema: quotaSchemas.defaults }, async (req) => {
    mayRead(req, projectOf(req));
    return { quota: await limitsOf(ctx, null) };
  });

  app.get<ProjectParams>('/v2.0/quotas/:project/details', { schema: quotaSchemas.details }, async (req) => {
    const projectId = projectOf(req);
    mayRead(req, projectId);
    const limits = await limitsOf(ctx, projectId);
    const quota: Record<string, { limit: number; used: number; reserved: number }> = {};
    for (const [k, limit] of Object.entries(limits)) {
      const table = COUNTED[k as keyof typeof COUNTED];
      quota[k] = { limit, used: table ? await countOwned(ctx.store.reader, table, projectId) : 0, reserved: 0 };
    }
    return { quota };
  });

  app.put<ProjectParams>('/v2.0/quotas/:project', { schema: quotaSchemas.update }, async (req) => {
    if (!req.auth.isAdmin) throw new Forbidden('rule:update_quota is disallowed by policy');
    const projectId = projectOf(req);
    const body = (req.body as { quota?: Record<string, unknown> } | undefined)?.quota;
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new BadRequest("Invalid input for operation: 'quota' is required.");
    if (!(await findProject(ctx.store.reader, { id: projectId }))) throw new NotFound(`Project ${projectId} could not be found.`);
    const changes: Record<string, number> = {};
    for (const [k, raw] of Object.entries(body)) {
      if (k === 'check_limit' || k === 'force') continue;
      if (!(k in NETWORK_DEFAULTS)) throw new BadRequest(`Unrecognized attribute(s) '${k}'`);
      const v = typeof raw === 'string' && /^-?\d+$/.test(raw) ? Number(raw) : raw;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < -1) {
        throw new BadRequest(`Invalid input for ${k}. Reason: '${String(raw)}' is not a valid integer or -1.`);
      }
      changes[k] = v;
    }
    await ctx.store.transact((trx) => setProjectLimits(trx, projectId, changes));
    return { quota: await limitsOf(ctx, projectId) };
  });

  app.delete<ProjectParams>('/v2.0/quotas/:project', { schema: quotaSchemas.remove }, async (req, reply) => {
    if (!req.auth.isAdmin) throw new Forbidden('rule:delete_quota is disallowed by policy');
    await ctx.store.transact((unit) => clearProjectLimits(unit, projectOf(req), Object.keys(NETWORK_DEFAULTS)));
    return reply.code(204).send();
  });

  // No agents here: the networking backend serves every network in the default zone.
  app.get('/v2.0/availability_zones', { schema: quotaSchemas.zones }, async () => ({
    availability_zones: [{ name: DEFAULT_ZONE, resource: 'network', state: 'available' }],
  }));
}
