import type { FastifyInstance } from 'fastify';
import { viewOf } from '../../../domain/audit/findings.js';
import { auditDatabase } from '../../../storage/repositories/audit.js';
import type { ControllerContext } from '../../context.js';
import { requireAdmin } from '../auth.js';
import { computeRoute, queryOf } from './schemaTypes.js';

/** vdpa-compute extension: `vdpa-compute doctor`'s audit, read only (repairs are the CLI's, with --fix). */
export function registerDoctorRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  app.get('/v2.1/os-vdpa-doctor', computeRoute('Audit the database (vdpa-compute, admin)', { querystring: queryOf({}) }), async (req) => {
    requireAdmin(req, 'vdpa-compute:os-vdpa-doctor');
    const findings = await auditDatabase(ctx.store, { now: Date.now(), operationTimeoutSeconds: ctx.config.operation_timeout });
    return { findings: findings.map(viewOf) };
  });
}
