import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, Forbidden, NotFound } from '../../../domain/errors.js';
import { getInstance, listInstances, updateInstance, type InstanceRecord } from '../../../storage/repositories/instances.js';
import { listPorts, type PortRecord } from '../../../storage/repositories/ports.js';
import { guestsOfInstance } from '../../../storage/repositories/guests.js';
import { actionsOf } from '../../../storage/repositories/actions.js';
import { actionEventsOf } from '../../../storage/repositories/operations.js';
import { atLeast } from './microversion.js';
import type { ControllerContext } from '../../context.js';
import { serverQueueOf } from '../../operations/serverQueue.js';
import { startDelete } from '../../lifecycle/delete.js';
import { TaskState } from '../../../domain/lifecycle/serverStatus.js';
import { createServer } from '../../services/servers/create.js';
import { requireAdmin } from '../auth.js';
import { pageLimit } from '../pagination.js';
import { serverAction, serverActionBodySchema } from './actions/registry.js';
import './actions/index.js';
import { publicBase, visibleServer } from './lookup.js';
import { guardServerAction, refuseIfLocked } from './lockGuard.js';
import { serverUpdateOf } from './serverUpdateInput.js';
import { tagAndLockFilters } from './serverListFilters.js';
import { tagsOf, tagsOfMany } from '../../../storage/repositories/instanceTags.js';
import { hostId, serverDetail, serverSummary } from './serverViews.js';
import { groupNamesOfServers } from '../../services/securityGroups.js';
import { groupHintOf, withServerGroups } from './serverGroups.js';
import { computeRoute, paramsOf, queryOf } from './schemaTypes.js';
import { createSchema, listQuery, updateSchema } from './serverSchemas.js';

const serverParams = paramsOf('id');
const noQuery = queryOf({});

interface CreateBody {
  server: {
    name: string; imageRef?: string; flavorRef: string | number;
    networks?: 'none' | 'auto' | Array<{ port?: string; uuid?: string }>;
    metadata?: Record<string, string>; description?: string | null; key_name?: string | null;
    availability_zone?: string | null; min_count?: number | string; max_count?: number | string;
    security_groups?: Array<{ name: string }>;
  };
  'os:scheduler_hints'?: unknown;
  'OS-SCH-HNT:scheduler_hints'?: unknown;
}

/** Each server's ports, in its NIC order, and the names of the security groups they carry. */
async function portsByServer(ctx: ControllerContext, instances: InstanceRecord[]): Promise<Map<string, PortRecord[]> & { groups?: Map<string, string[]> }> {
  const out: Map<string, PortRecord[]> & { groups?: Map<string, string[]> } = new Map<string, PortRecord[]>();
  if (instances.length === 0) return out;
  const ports = await listPorts(ctx.store.reader, { deviceIds: instances.map((i) => i.uuid) });
  out.groups = await groupNamesOfServers(ctx.store.reader, ports);
  for (const p of ports) {
    const list = out.get(p.deviceId) ?? [];
    list.push(p);
    out.set(p.deviceId, list);
  }
  for (const i of instances) {
    const list = out.get(i.uuid);
    if (list) list.sort((a, b) => i.portIds.indexOf(a.id) - i.portIds.indexOf(b.id));
  }
  return out;
}

async function listFilter(ctx: ControllerContext, req: FastifyRequest) {
  const q = req.query as Record<string, string | undefined>;
  const allTenants = q.all_tenants !== undefined && q.all_tenants !== '0' && q.all_tenants.toLowerCase() !== 'false';
  if (allTenants && !req.auth.isAdmin) throw new Forbidden("Policy doesn't allow os_compute_api:servers:index:get_all_tenants to be performed.");
  const projectId = req.auth.isAdmin && (allTenants || q.project_id || q.tenant_id)
    ? (q.project_id ?? q.tenant_id)
    : req.auth.projectId;
  const limit = pageLimit(q.limit, (v) => `Invalid input for query parameters limit. Value: ${v}.`);
  if (q.host && !req.auth.isAdmin) throw new Forbidden("Policy doesn't allow filtering servers by host.");
  // Nova's marker: the last server of the previous page, one the caller can see.
  let marker: { createdAt: string; uuid: string } | undefined;
  if (q.marker !== undefined) {
    const m = UUID.test(q.marker) ? await getInstance(ctx.store.reader, q.marker.toLowerCase()) : null;
    if (!m || (!req.auth.isAdmin && m.projectId !== req.auth.projectId)) throw new BadRequest(`Marker ${q.marker} could not be found.`);
    marker = { createdAt: m.createdAt, uuid: m.uuid };
  }
  return { projectId, name: q.name, host: q.host, limit, marker, ...tagAndLockFilters(req) };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Nova's servers_links: a next link when the page is full. */
function serverLinks(req: FastifyRequest, base: string, path: string, list: InstanceRecord[], limit: number | undefined) {
  const last = list.at(-1);
  if (limit === undefined || list.length < limit || !last) return {};
  const params = new URLSearchParams(req.query as Record<string, string>);
  params.set('marker', last.uuid);
  return { servers_links: [{ rel: 'next', href: `${base}/compute/v2.1/${path}?${params}` }] };
}

export function registerServerRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  const base = () => publicBase(ctx);

  app.post<{ Body: CreateBody }>('/v2.1/servers', computeRoute('Create a server', { body: createSchema, querystring: noQuery }), async (req, reply) => {
    const s = req.body.server;
    const min = Number(s.min_count ?? 1);
    const max = Number(s.max_count ?? min);
    if (min !== 1 || max !== 1) throw new BadRequest('Only one server per request is supported (min_count = max_count = 1).');
    if (!s.imageRef) throw new BadRequest('Missing imageRef attribute: booting from volume is not supported.');
    const portIds: string[] = [];
    const networkIds: Array<{ index: number; networkId: string }> = [];
    if (Array.isArray(s.networks)) {
      s.networks.forEach((n, index) => {
        if (!n || typeof n !== 'object' || (n.port !== undefined && typeof n.port !== 'string') || (n.uuid !== undefined && typeof n.uuid !== 'string')) {
          throw new BadRequest('Invalid input for field/attribute networks: each entry must be an object.');
        }
        // A network without a port: the compute API makes a port on it (a normal one: vDPA ports are made first, in networking).
        if (n.port) portIds.push(n.port);
        else if (n.uuid) networkIds.push({ index, networkId: n.uuid });
        else throw new BadRequest('Bad networks format: network uuid is not in proper format or is not a network id.');
      });
    } else if (s.networks === 'auto') {
      throw new BadRequest('networks "auto" is not supported; create a port and pass networks: [{"port": "<uuid>"}].');
    } else if (s.networks !== undefined && s.networks !== 'none') {
      throw new BadRequest('Invalid input for field/attribute networks: expected "none", "auto" or a list of {"port": "<uuid>"}.');
    }
    const instance = await createServer(ctx, req.auth, req.id, {
      name: s.name, imageRef: s.imageRef, flavorRef: String(s.flavorRef), portIds, metadata: s.metadata ?? {},
      description: s.description ?? null, keyName: s.key_name ?? null, availabilityZone: s.availability_zone ?? null,
      networkIds, securityGroups: s.security_groups ? s.security_groups.map((g) => g.name) : null,
      serverGroup: groupHintOf(req.body['os:scheduler_hints'] ?? req.body['OS-SCH-HNT:scheduler_hints']),
    });
    serverQueueOf(ctx).enqueue(instance.uuid, { created: instance });
    // Nova answers a create with the groups asked for, `default` when none.
    const groups = (s.security_groups ?? [{ name: 'default' }]).map((g) => ({ name: g.name }));
    return reply.code(202).send({
      server: { id: instance.uuid, links: serverSummary(base(), instance).links, 'OS-DCF:diskConfig': 'MANUAL', security_groups: groups },
    });
  });

  app.get('/v2.1/servers', computeRoute('List servers', { querystring: listQuery }), async (req) => {
    const filter = await listFilter(ctx, req);
    const list = await listInstances(ctx.store.reader, filter);
    return { servers: list.map((i) => serverSummary(base(), i)), ...serverLinks(req, base(), 'servers', list, filter.limit) };
  });

  app.get('/v2.1/servers/detail', computeRoute('List servers with details', { querystring: listQuery }), async (req) => {
    const filter = await listFilter(ctx, req);
    const list = await listInstances(ctx.store.reader, filter);
    const ports = await portsByServer(ctx, list);
    const tags = atLeast(req, '2.26') ? await tagsOfMany(ctx.store.reader, list.map((i) => i.uuid)) : new Map<string, string[]>();
    return {
      servers: list.map((i) => serverDetail(req, base(), i, ports.get(i.uuid) ?? [], tags.get(i.uuid) ?? [], ports.groups?.get(i.uuid))),
      ...serverLinks(req, base(), 'servers/detail', list, filter.limit),
    };
  });

  app.get<{ Params: { id: string } }>('/v2.1/servers/:id', computeRoute('Show a server', { params: serverParams, querystring: noQuery }), async (req) => {
    const instance = await visibleServer(ctx, req, req.params.id);
    const ports = await portsByServer(ctx, [instance]);
    const server = serverDetail(req, base(), instance, ports.get(instance.uuid) ?? [], await tagsOf(ctx.store.reader, instance.uuid), ports.groups?.get(instance.uuid));
    return { server: await withServerGroups(ctx, req, instance, server) };
  });

  app.put<{ Params: { id: string }; Body: unknown }>('/v2.1/servers/:id', computeRoute('Update a server', { params: serverParams, querystring: noQuery, body: updateSchema }), async (req) => {
    const instance = await visibleServer(ctx, req, req.params.id);
    const s = serverUpdateOf(req, req.body);
    await ctx.store.transact((u) => updateInstance(u, instance.uuid, {
      ...(s.name !== undefined ? { name: s.name } : {}),
      ...(s.description !== undefined ? { description: s.description } : {}),
    }));
    const updated = (await getInstance(ctx.store.reader, instance.uuid))!;
    const ports = await portsByServer(ctx, [updated]);
    const server = serverDetail(req, base(), updated, ports.get(updated.uuid) ?? [], await tagsOf(ctx.store.reader, updated.uuid), ports.groups?.get(updated.uuid));
    return { server: await withServerGroups(ctx, req, updated, server) };
  });

  app.delete<{ Params: { id: string } }>('/v2.1/servers/:id', computeRoute('Delete a server', { params: serverParams, querystring: noQuery }), async (req, reply) => {
    const instance = await visibleServer(ctx, req, req.params.id);
    refuseIfLocked(req, instance);
    if (instance.taskState !== TaskState.DELETING) await startDelete(ctx, instance);
    return reply.code(204).send();
  });

  app.post<{ Params: { id: string }; Body: Record<string, unknown> }>('/v2.1/servers/:id/action',
    computeRoute('Run a server action', { params: serverParams, querystring: noQuery, body: serverActionBodySchema() }), async (req, reply) => {
    const instance = await visibleServer(ctx, req, req.params.id);
    const body = req.body;
    if (!body || typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length !== 1) {
      throw new BadRequest('The action body must be an object with exactly one action.');
    }
    const [name] = Object.keys(body) as [string];
    const handler = serverAction(name);
    if (!handler) throw new BadRequest(`There is no such action: ${name}`);
    guardServerAction(req, name, instance);
    const result = await handler(ctx, req, instance, body[name]);
    if (result.headers) reply.headers(result.headers);
    return reply.code(result.status).send(result.body ?? (result.status === 204 ? undefined : ''));
  });

  app.get<{ Params: { id: string } }>('/v2.1/servers/:id/domain-xml', computeRoute('Show a server\'s libvirt domain XML (vdpa-compute, admin)', { params: serverParams, querystring: noQuery }), async (req) => {
    const instance = await visibleServer(ctx, req, req.params.id);
    requireAdmin(req, 'vdpa-compute:servers:domain_xml');
    const guests = await guestsOfInstance(ctx.store.reader, instance.uuid);
    const guest = guests.find((g) => g.host === instance.host && g.domain_xml) ?? guests.find((g) => g.domain_xml);
    if (!guest?.domain_xml) throw new NotFound(`Server ${instance.uuid} has no guest definition yet.`);
    return { domain_xml: guest.domain_xml, host: guest.host };
  });

  app.get<{ Params: { id: string } }>('/v2.1/servers/:id/os-instance-actions', computeRoute('List a server\'s actions', { params: serverParams, querystring: noQuery }), async (req) => {
    const instance = await visibleServer(ctx, req, req.params.id);
    const rows = await actionsOf(ctx.store.reader, instance.uuid);
    return {
      instanceActions: rows.map((a) => ({
        action: a.action, instance_uuid: a.instance_uuid, request_id: a.request_id, user_id: a.user_id,
        project_id: a.project_id, start_time: a.start_time, updated_at: a.finish_time ?? a.start_time,
        message: a.message, result: a.result,
      })),
    };
  });

  // One action with its events (Nova's shape; host from 2.62, details from 2.84): e.g. each build attempt.
  app.get<{ Params: { id: string; requestId: string } }>('/v2.1/servers/:id/os-instance-actions/:requestId',
    computeRoute('Show a server action with its events', { params: paramsOf('id', 'requestId'), querystring: noQuery }), async (req) => {
    const instance = await visibleServer(ctx, req, req.params.id);
    const rows = await actionsOf(ctx.store.reader, instance.uuid);
    const action = rows.find((a) => a.request_id === req.params.requestId);
    if (!action) throw new NotFound(`Action ${req.params.requestId} not found`);
    // Events name their action, not its request: they belong to the newest action of that name that started before them.
    const later = rows.filter((a) => a.action === action.action && a.start_time > action.start_time).map((a) => a.start_time).sort()[0];
    const events = (await actionEventsOf(ctx.store.reader, instance.uuid))
      .filter((e) => e.action === action.action && e.start_time >= action.start_time && (later === undefined || e.start_time < later));
    return {
      instanceAction: {
        action: action.action, instance_uuid: action.instance_uuid, request_id: action.request_id, user_id: action.user_id,
        project_id: action.project_id, start_time: action.start_time, updated_at: action.finish_time ?? action.start_time,
        message: action.message, result: action.result,
        events: events.map((e) => ({
          event: e.event, start_time: e.start_time, finish_time: e.finish_time, result: e.result,
          ...(req.auth.isAdmin ? { traceback: null } : {}),
          ...(atLeast(req, '2.62') ? { hostId: e.host ? hostId(instance.projectId, e.host) : '', ...(req.auth.isAdmin ? { host: e.host } : {}) } : {}),
          ...(atLeast(req, '2.84') ? { details: e.details } : {}),
        })),
      },
    };
  });
}
