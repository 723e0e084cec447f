import type { FastifyInstance } from 'fastify';
import { Forbidden } from '../../../domain/errors.js';
import { COMPUTE_DEFAULTS } from '../../../domain/quotas/resources.js';
import { projectLimits, projectUsage } from '../../../storage/repositories/quotas.js';
import { countServerGroups } from '../../../storage/repositories/serverGroups.js';
import type { ControllerContext } from '../../context.js';
import { atLeast } from './microversion.js';
import { QUERY_TEXT, computeRoute, queryOf } from './schemaTypes.js';

/** Nova's absolute limits (views/limits.py): the project's quotas and what its servers use. */
export function registerComputeExtras(app: FastifyInstance, ctx: ControllerContext): void {
  app.get<{ Querystring: { tenant_id?: string } }>('/v2.1/limits', computeRoute('Show the project\'s absolute limits', { querystring: queryOf({ tenant_id: QUERY_TEXT, reserved: QUERY_TEXT }) }), async (req) => {
    const projectId = req.query.tenant_id ?? req.auth.projectId;
    if (projectId !== req.auth.projectId && !req.auth.isAdmin) {
      throw new Forbidden("Policy doesn't allow os_compute_api:limits:other_project to be performed.");
    }
    const [own, used, groups] = await Promise.all([
      projectLimits(ctx.store.reader, projectId), projectUsage(ctx.store.reader, projectId), countServerGroups(ctx.store.reader, projectId),
    ]);
    const limit = (k: string) => own[k] ?? COMPUTE_DEFAULTS[k]!;
    const absolute: Record<string, number> = {
      maxTotalRAMSize: limit('ram'), maxTotalInstances: limit('instances'), maxTotalCores: limit('cores'),
      maxTotalKeypairs: limit('key_pairs'), maxServerMeta: limit('metadata_items'),
      maxServerGroups: limit('server_groups'), maxServerGroupMembers: limit('server_group_members'),
      totalRAMUsed: used.ram, totalCoresUsed: used.cores, totalInstancesUsed: used.instances, totalServerGroupsUsed: groups,
    };
    if (!atLeast(req, '2.39')) absolute.maxImageMeta = limit('metadata_items');
    if (!atLeast(req, '2.57')) {
      absolute.maxPersonality = limit('injected_files');
      absolute.maxPersonalitySize = limit('injected_file_content_bytes');
    }
    if (!atLeast(req, '2.36')) {
      Object.assign(absolute, {
        maxTotalFloatingIps: -1, maxSecurityGroups: -1, maxSecurityGroupRules: -1, totalFloatingIpsUsed: 0, totalSecurityGroupsUsed: 0,
      });
    }
    return { limits: { rate: [], absolute } };
  });
}
