import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, Forbidden } from '../../../domain/errors.js';
import { parseUsageTime, tenantUsages, type UsageServer } from '../../../domain/usage.js';
import { listInstances, type FlavorSnapshot } from '../../../storage/repositories/instances.js';
import { fromJson } from '../../../storage/repositories/json.js';
import { terminatedInstances } from '../../../storage/repositories/quotas.js';
import type { ControllerContext } from '../../context.js';
import { requireAdmin } from '../auth.js';
import { QUERY_COUNT, QUERY_FLAG, QUERY_TEXT, computeRoute, paramsOf, queryOf } from './schemaTypes.js';

/** Nova's simple_tenant_usage query; the dates are the handler's to read (its 400 is Nova's). */
const usageQuery = queryOf({ start: QUERY_TEXT, end: QUERY_TEXT, detailed: QUERY_FLAG, limit: QUERY_COUNT, marker: QUERY_TEXT });

/** The period asked for: start and end default to now, end no later than now (Nova's _get_datetime_range). */
function period(req: FastifyRequest, now: number): { start: number; stop: number; detailed: boolean } {
  const q = req.query as Record<string, string | undefined>;
  const parse = (v: string | undefined) => {
    if (!v) return now;
    const t = parseUsageTime(v);
    if (t === null) throw new BadRequest('Invalid datetime string: Datetime is in invalid format');
    return t;
  };
  const start = parse(q.start);
  let stop = parse(q.end);
  if (start > stop) throw new BadRequest('Invalid start time. The start time cannot occur after the end time.');
  if (stop > now) stop = now;
  return { start, stop, detailed: q.detailed === '1' };
}

/** Live servers and the deleted ones of the period, as the usage arithmetic needs them. */
async function serversOf(ctx: ControllerContext, projectId: string | undefined, start: number): Promise<UsageServer[]> {
  const [live, gone] = await Promise.all([
    listInstances(ctx.store.reader, projectId ? { projectId } : {}),
    terminatedInstances(ctx.store.reader, { projectId, start: new Date(start).toISOString() }),
  ]);
  const out: UsageServer[] = live.map((i) => ({
    uuid: i.uuid, name: i.name, projectId: i.projectId, vmState: i.vmState, flavor: i.flavor,
    launchedAt: i.launchedAt ? Date.parse(i.launchedAt) : null, terminatedAt: null,
  }));
  for (const g of gone) {
    out.push({
      uuid: g.uuid, name: g.name, projectId: g.project_id, vmState: null, flavor: fromJson<FlavorSnapshot>(g.flavor, null as unknown as FlavorSnapshot),
      launchedAt: g.launched_at ? Date.parse(g.launched_at) : null, terminatedAt: Date.parse(g.terminated_at),
    });
  }
  // Nova lists by the servers' creation; launch time is the nearest we keep for deleted ones.
  return out.sort((a, b) => (a.launchedAt ?? 0) - (b.launchedAt ?? 0));
}

export function registerUsageRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  app.get('/v2.1/os-simple-tenant-usage', computeRoute('Usage of all projects (admin)', { querystring: usageQuery }), async (req) => {
    requireAdmin(req, 'os_compute_api:os-simple-tenant-usage:list');
    const now = Date.now();
    const p = period(req, now);
    return { tenant_usages: tenantUsages(await serversOf(ctx, undefined, p.start), p.start, p.stop, now, p.detailed) };
  });

  app.get<{ Params: { p: string } }>('/v2.1/os-simple-tenant-usage/:p', computeRoute('Usage of one project', { params: paramsOf('p'), querystring: usageQuery }), async (req) => {
    if (!req.auth.isAdmin && req.auth.projectId !== req.params.p) {
      throw new Forbidden("Policy doesn't allow os_compute_api:os-simple-tenant-usage:show to be performed.");
    }
    const now = Date.now();
    const p = period(req, now);
    const [usage] = tenantUsages(await serversOf(ctx, req.params.p, p.start), p.start, p.stop, now, true);
    return { tenant_usage: usage ?? {} };
  });
}
