/**
 * Live migration (`POST /servers/{id}/action {"os-migrateLive": …}`); the
 * work is in lifecycle/liveMigration.ts.
 */
import { BadRequest } from '../../../../domain/errors.js';
import { startLiveMigration } from '../../../lifecycle/liveMigration.js';
import { requireAdmin } from '../../auth.js';
import { atLeast } from '../microversion.js';
import { registerServerAction } from './registry.js';
import { NULLABLE_HOST, bodyOf } from '../schemaTypes.js';

/** Nova's migrate_live schemas: booleans at 2.1, block_migration "auto" and no disk_over_commit from 2.25, force 2.30–2.67. */
const MIGRATE_LIVE_ARGS = bodyOf({
  block_migration: { type: ['boolean', 'string'], enum: [true, false, 'auto'] },
  disk_over_commit: { type: 'boolean' },
  host: NULLABLE_HOST,
  force: { type: 'boolean' },
}, ['block_migration', 'host']);

function invalid(detail: string): BadRequest {
  return new BadRequest(`Invalid input for field/attribute os-migrateLive. ${detail}`);
}

registerServerAction('os-migrateLive', MIGRATE_LIVE_ARGS, async (ctx, req, instance, args) => {
  requireAdmin(req, 'os_compute_api:os-migrate-server:migrate_live');
  if (!args || typeof args !== 'object' || Array.isArray(args)) throw invalid('Value: must be an object.');
  const body = args as Record<string, unknown>;
  // 2.1: block_migration and disk_over_commit are booleans and required; 2.25 drops disk_over_commit and allows "auto".
  const allowed = atLeast(req, '2.25') ? ['block_migration', 'host', ...(atLeast(req, '2.30') ? ['force'] : [])]
    : ['block_migration', 'disk_over_commit', 'host'];
  const extra = Object.keys(body).filter((k) => !allowed.includes(k));
  if (extra.length > 0) throw invalid(`Additional properties are not allowed (${extra.join(', ')} was unexpected)`);
  if (!('block_migration' in body) || !('host' in body)) throw invalid("'block_migration' and 'host' are required properties");
  const bm = body.block_migration;
  if (!(typeof bm === 'boolean' || (atLeast(req, '2.25') && bm === 'auto'))) throw invalid('block_migration must be a boolean (or "auto" from 2.25).');
  if (!atLeast(req, '2.25') && typeof body.disk_over_commit !== 'boolean') throw invalid('disk_over_commit must be a boolean.');
  if (body.host !== null && (typeof body.host !== 'string' || body.host === '')) throw invalid('host must be a host name or null.');
  if (body.force !== undefined && typeof body.force !== 'boolean') throw invalid('force must be a boolean.');
  await startLiveMigration(ctx, req.auth, req.id, instance, (body.host as string | null) ?? null);
  return { status: 202 };
});
