import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, NotFound } from '../../../domain/errors.js';
import { getMigration, getMigrationById, listMigrations, type MigrationRow } from '../../../storage/repositories/migrations.js';
import type { ControllerContext } from '../../context.js';
import { requireAdmin } from '../auth.js';
import { publicBase, visibleServer } from './lookup.js';
import { atLeast } from './microversion.js';
import { QUERY_COUNT, QUERY_TEXT, computeRoute, paramsOf, queryOf } from './schemaTypes.js';
import { pageLimit } from '../pagination.js';

/** Nova's os-migrations index query (limit and marker from 2.59, user_id and project_id from 2.80). */
const listQuery = queryOf({
  limit: QUERY_COUNT, marker: QUERY_TEXT, host: QUERY_TEXT, status: QUERY_TEXT, instance_uuid: QUERY_TEXT,
  migration_type: QUERY_TEXT, project_id: QUERY_TEXT, user_id: QUERY_TEXT, 'changes-since': QUERY_TEXT, 'changes-before': QUERY_TEXT,
});
const noQuery = queryOf({});

const LIVE_IN_PROGRESS = ['queued', 'preparing', 'running', 'post-migrating'];

/** Nova's flavor ids are integers; ours are strings that usually hold one. */
function flavorIdOut(id: string | null): number | string | null {
  if (id === null) return null;
  return /^\d+$/.test(id) ? Number(id) : id;
}

function inProgressLive(m: MigrationRow): boolean {
  return m.migration_type === 'live-migration' && LIVE_IN_PROGRESS.includes(m.status);
}

/** One entry of GET /os-migrations, with the fields of the request's microversion. */
function migrationView(req: FastifyRequest, base: string, m: MigrationRow): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: m.id,
    source_node: m.source_node, dest_node: m.dest_node,
    source_compute: m.source_compute, dest_compute: m.dest_compute, dest_host: null,
    status: m.status, instance_uuid: m.instance_uuid,
    old_instance_type_id: flavorIdOut(m.old_flavor_id), new_instance_type_id: flavorIdOut(m.new_flavor_id),
    created_at: m.created_at, updated_at: m.updated_at,
  };
  if (atLeast(req, '2.23')) {
    out.migration_type = m.migration_type;
    if (inProgressLive(m)) {
      const href = `servers/${m.instance_uuid}/migrations/${m.id}`;
      out.links = [
        { rel: 'self', href: `${base}/compute/v2.1/${href}` },
        { rel: 'bookmark', href: `${base}/compute/${href}` },
      ];
    }
  }
  if (atLeast(req, '2.59')) out.uuid = m.uuid;
  if (atLeast(req, '2.80')) {
    out.user_id = m.user_id;
    out.project_id = m.project_id;
  }
  return out;
}

/** One entry of GET /servers/{id}/migrations (in-progress live migrations). */
function serverMigrationView(req: FastifyRequest, m: MigrationRow): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: m.id, server_uuid: m.instance_uuid, status: m.status,
    source_compute: m.source_compute, source_node: m.source_node,
    dest_compute: m.dest_compute, dest_node: m.dest_node, dest_host: null,
    created_at: m.created_at, updated_at: m.updated_at,
    memory_total_bytes: null, memory_processed_bytes: null, memory_remaining_bytes: null,
    disk_total_bytes: null, disk_processed_bytes: null, disk_remaining_bytes: null,
  };
  if (atLeast(req, '2.59')) out.uuid = m.uuid;
  if (atLeast(req, '2.80')) {
    out.user_id = m.user_id;
    out.project_id = m.project_id;
  }
  return out;
}

function requireVersion(req: FastifyRequest, version: string): void {
  // Nova answers 404 for a route older microversions do not have.
  if (!atLeast(req, version)) throw new NotFound('The resource could not be found.');
}

export function registerMigrationRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  const base = () => publicBase(ctx);

  app.get('/v2.1/os-migrations', computeRoute('List migrations (admin)', { querystring: listQuery }), async (req) => {
    requireAdmin(req, 'os_compute_api:os-migrations:index');
    const q = req.query as Record<string, string | undefined>;
    let limit: number | undefined;
    let markerId: number | undefined;
    if (atLeast(req, '2.59')) {
      if (q.limit !== undefined) {
        limit = pageLimit(q.limit, () => 'Invalid input for query parameters limit.');
      }
      if (q.marker !== undefined) {
        const marker = await getMigration(ctx.store.reader, q.marker);
        if (!marker) throw new BadRequest(`Marker ${q.marker} could not be found.`);
        markerId = marker.id;
      }
    }
    const rows = await listMigrations(ctx.store.reader, {
      host: q.host, status: q.status, instanceUuid: q.instance_uuid, migrationType: q.migration_type,
      ...(atLeast(req, '2.80') && q.project_id ? { projectId: q.project_id } : {}),
      ...(limit !== undefined ? { limit } : {}), ...(markerId !== undefined ? { markerId } : {}),
    });
    const filtered = atLeast(req, '2.80') && q.user_id ? rows.filter((m) => m.user_id === q.user_id) : rows;
    return { migrations: filtered.map((m) => migrationView(req, base(), m)) };
  });

  app.get<{ Params: { id: string } }>('/v2.1/servers/:id/migrations', computeRoute('List a server\'s live migrations in progress (admin, 2.23+)', { params: paramsOf('id'), querystring: noQuery }), async (req) => {
    requireVersion(req, '2.23');
    // Nova finds the server first: another project's is 404, not 403.
    const instance = await visibleServer(ctx, req, req.params.id);
    requireAdmin(req, 'os_compute_api:servers:migrations:index');
    const rows = await listMigrations(ctx.store.reader, { instanceUuid: instance.uuid, migrationType: 'live-migration' });
    return { migrations: rows.filter(inProgressLive).map((m) => serverMigrationView(req, m)) };
  });

  app.get<{ Params: { id: string; mid: string } }>('/v2.1/servers/:id/migrations/:mid', computeRoute('Show a live migration in progress (admin, 2.23+)', { params: paramsOf('id', 'mid'), querystring: noQuery }), async (req) => {
    requireVersion(req, '2.23');
    const instance = await visibleServer(ctx, req, req.params.id);
    requireAdmin(req, 'os_compute_api:servers:migrations:show');
    const id = /^\d+$/.test(req.params.mid) ? Number(req.params.mid) : NaN;
    const m = Number.isFinite(id) ? await getMigrationById(ctx.store.reader, id) : undefined;
    if (!m || m.instance_uuid !== instance.uuid) {
      throw new NotFound(`Migration ${req.params.mid} for instance ${instance.uuid} could not be found.`);
    }
    if (!inProgressLive(m)) {
      throw new NotFound(`Migration ${req.params.mid} for instance ${instance.uuid} is not a live migration in progress.`);
    }
    return { migration: serverMigrationView(req, m) };
  });
}
