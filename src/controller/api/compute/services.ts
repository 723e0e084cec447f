import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, NotFound } from '../../../domain/errors.js';
import { COMPUTE_BINARY, listServices, serviceIsUp, type ServiceRow } from '../../../storage/repositories/hosts.js';
import { nowIso } from '../../../storage/repositories/json.js';
import type { ControllerContext } from '../../context.js';
import { requireAdmin } from '../auth.js';
import { atLeast } from './microversion.js';

function serviceView(req: FastifyRequest, ctx: ControllerContext, s: ServiceRow) {
  return {
    id: s.id,
    binary: s.binary,
    host: s.host,
    zone: s.zone,
    status: s.disabled ? 'disabled' : 'enabled',
    state: serviceIsUp(s, ctx.config.service_down_time) ? 'up' : 'down',
    updated_at: s.updated_at,
    disabled_reason: s.disabled_reason,
    ...(atLeast(req, '2.11') ? { forced_down: s.forced_down === 1 } : {}),
  };
}

export type ServiceChange = { forcedDown?: boolean; disabled?: boolean };
/**
 * Listeners for state changes an operation may wait on (evacuate's source
 * coming back up). With several controller processes on one database they
 * fire in every process, whichever served the change.
 */
export type ServiceChangeListener = (host: string, change: ServiceChange) => Promise<void>;
const listeners: ServiceChangeListener[] = [];
export function onServiceChange(l: ServiceChangeListener): void {
  listeners.push(l);
}

/** Runs this process's listeners: for a change made here, or one another process relayed. */
export async function fireServiceChange(host: string, change: ServiceChange): Promise<void> {
  for (const l of listeners) await l(host, change);
}

/** Where a controller sends the changes it makes, for the other processes on its database. */
const relays = new WeakMap<ControllerContext, (host: string, change: ServiceChange) => void>();
export function relayServiceChanges(ctx: ControllerContext, relay: ((host: string, change: ServiceChange) => void) | null): void {
  if (relay) relays.set(ctx, relay);
  else relays.delete(ctx);
}

async function applyChange(
  ctx: ControllerContext, s: ServiceRow, change: { status?: string; disabled_reason?: string | null; forced_down?: boolean },
): Promise<ServiceRow> {
  const set: Partial<ServiceRow> = { updated_at: nowIso() };
  if (change.status !== undefined) {
    if (change.status !== 'enabled' && change.status !== 'disabled') throw new BadRequest(`Invalid status '${change.status}': use enabled or disabled.`);
    set.disabled = change.status === 'disabled' ? 1 : 0;
    set.disabled_reason = change.status === 'disabled' ? (change.disabled_reason ?? null) : null;
  } else if (change.disabled_reason !== undefined) {
    throw new BadRequest('disabled_reason is only accepted together with status "disabled".');
  }
  if (change.forced_down !== undefined) {
    if (typeof change.forced_down !== 'boolean') throw new BadRequest('forced_down must be a boolean.');
    set.forced_down = change.forced_down ? 1 : 0;
  }
  await ctx.store.db.updateTable('services').set(set).where('id', '=', s.id).execute();
  const updated = (await ctx.store.db.selectFrom('services').selectAll().where('id', '=', s.id).executeTakeFirst())!;
  const changed: ServiceChange = {
    ...(change.forced_down !== undefined ? { forcedDown: change.forced_down } : {}),
    ...(change.status !== undefined ? { disabled: change.status === 'disabled' } : {}),
  };
  // The other processes first: this one's listeners may take a while (the fencing sweep).
  relays.get(ctx)?.(updated.host, changed);
  await fireServiceChange(updated.host, changed);
  return updated;
}

export function registerServiceRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  app.get<{ Querystring: { host?: string; binary?: string } }>('/v2.1/os-services', async (req) => {
    requireAdmin(req, 'os_compute_api:os-services:list');
    const rows = await listServices(ctx.store.db, { host: req.query.host, binary: req.query.binary });
    return { services: rows.map((s) => serviceView(req, ctx, s)) };
  });

  app.put<{ Params: { id: string }; Body: { status?: string; disabled_reason?: string; forced_down?: boolean } }>(
    '/v2.1/os-services/:id', async (req) => {
      requireAdmin(req, 'os_compute_api:os-services:update');
      const legacy = ['disable', 'enable', 'disable-log-reason', 'force-down'].includes(req.params.id);
      const body = (req.body ?? {}) as Record<string, unknown>;
      if (legacy) {
        const host = body.host;
        const binary = body.binary;
        if (typeof host !== 'string' || typeof binary !== 'string') throw new BadRequest('host and binary are required.');
        const [s] = await listServices(ctx.store.db, { host, binary });
        if (!s) throw new NotFound(`Host '${host}' is not mapped to any cell`);
        const change = req.params.id === 'enable' ? { status: 'enabled' }
          : req.params.id === 'force-down' ? { forced_down: body.forced_down as boolean }
            : { status: 'disabled', disabled_reason: (body.disabled_reason as string | undefined) ?? null };
        const updated = await applyChange(ctx, s, change);
        return {
          service: {
            host: updated.host, binary: updated.binary, status: updated.disabled ? 'disabled' : 'enabled',
            ...(updated.disabled_reason ? { disabled_reason: updated.disabled_reason } : {}),
            ...(req.params.id === 'force-down' ? { forced_down: updated.forced_down === 1 } : {}),
          },
        };
      }
      if (!atLeast(req, '2.53')) throw new NotFound(`Service ${req.params.id} could not be found.`);
      const s = await ctx.store.db.selectFrom('services').selectAll().where('id', '=', req.params.id).executeTakeFirst();
      if (!s) throw new NotFound(`Service ${req.params.id} could not be found.`);
      const allowed = new Set(['status', 'disabled_reason', 'forced_down']);
      for (const k of Object.keys(body)) if (!allowed.has(k)) throw new BadRequest(`Additional properties are not allowed ('${k}' was unexpected)`);
      if (Object.keys(body).length === 0) throw new BadRequest('At least one of status or forced_down is required.');
      const updated = await applyChange(ctx, s, body as { status?: string; disabled_reason?: string; forced_down?: boolean });
      return { service: serviceView(req, ctx, updated) };
    });
}

export { COMPUTE_BINARY };
