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
import {
  ACCESS_IP, ADMIN_PASS, DESCRIPTION, DISK_CONFIG, HOST, ID_REF, METADATA, NAME, NULLABLE_NAME, QUERY_COUNT, QUERY_FLAG,
  QUERY_TEXT, TAG, bodyOf, computeRoute, paramsOf, queryOf,
} from './schemaTypes.js';

/** Nova's parameter_types.boolean: JSON booleans and the strings oslo's strutils reads as one. */
const NOVA_BOOLEAN = {
  type: ['boolean', 'string'],
  enum: [true, false, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', 'y', 't',
    'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no', 'n', 'f'],
} as const;
/** parameter_types.positive_integer (min_count, max_count). */
const POSITIVE_COUNT = { type: ['integer', 'string'], pattern: '^[0-9]*$', minLength: 1, maxLength: 20, minimum: 1 } as const;
/** Nova's block_device_mapping_v2 item (the legacy one has a subset of its fields). */
const BLOCK_DEVICE = bodyOf({
  virtual_name: { type: 'string', maxLength: 255 }, volume_id: ID_REF, snapshot_id: ID_REF,
  volume_size: { type: ['integer', 'string', 'null'], pattern: '^[0-9]+$', maxLength: 20, minimum: 1 },
  device_name: { type: 'string', minLength: 1, maxLength: 255 }, delete_on_termination: NOVA_BOOLEAN, no_device: {},
  connection_info: { type: 'string', maxLength: 16777215 },
  source_type: { type: 'string', enum: ['volume', 'image', 'snapshot', 'blank'] }, uuid: ID_REF, image_id: ID_REF,
  destination_type: { type: 'string', enum: ['local', 'volume'] }, guest_format: { type: 'string', maxLength: 255 },
  device_type: { type: 'string', maxLength: 255 }, disk_bus: { type: 'string', maxLength: 255 },
  boot_index: { type: ['integer', 'string', 'null'], pattern: '^-?[0-9]+$', maxLength: 20 }, tag: TAG,
  volume_type: { type: ['string', 'null'], maxLength: 255 },
});
/** Scheduler hints are open in Nova too (additionalProperties: True). */
const SCHEDULER_HINTS = { type: 'object' } as const;

/**
 * Nova's server create schema, the union of its microversions (description
 * 2.19, networks "auto"/"none" 2.37, tags 2.52, personality until 2.56,
 * certificates 2.63, host/hypervisor_hostname 2.74, hostname 2.90); unknown
 * properties are a 400 as in Nova. Scheduler hints sit beside `server`.
 */
const createSchema = bodyOf({
  server: bodyOf({
    name: NAME,
    imageRef: { type: 'string', maxLength: 2048 },
    flavorRef: { type: ['string', 'integer'], minLength: 1, maxLength: 255 },
    adminPass: ADMIN_PASS,
    metadata: METADATA,
    networks: {
      // A list of NICs, or (strings) Nova's "none" / "auto".
      type: ['array', 'string'],
      pattern: '^(none|auto)$',
      items: bodyOf({ port: { type: ['string', 'null'], maxLength: 255 }, uuid: ID_REF, fixed_ip: { type: 'string', maxLength: 64 }, tag: TAG }),
    },
    'OS-DCF:diskConfig': DISK_CONFIG,
    accessIPv4: ACCESS_IP,
    accessIPv6: ACCESS_IP,
    personality: { type: 'array', items: { type: 'object', properties: { path: { type: 'string', maxLength: 255 }, contents: { type: 'string', maxLength: 65535 } }, additionalProperties: false } },
    availability_zone: NULLABLE_NAME,
    block_device_mapping: { type: 'array', items: BLOCK_DEVICE },
    block_device_mapping_v2: { type: 'array', items: BLOCK_DEVICE },
    config_drive: NOVA_BOOLEAN,
    key_name: NULLABLE_NAME,
    min_count: POSITIVE_COUNT,
    max_count: POSITIVE_COUNT,
    return_reservation_id: NOVA_BOOLEAN,
    security_groups: { type: 'array', minItems: 1, items: bodyOf({ name: NAME }, ['name']) },
    user_data: { type: ['string', 'null'], maxLength: 65535 },
    description: DESCRIPTION,
    tags: { type: 'array', maxItems: 50, items: TAG },
    trusted_image_certificates: { type: ['array', 'null'], minItems: 1, maxItems: 50, items: { type: 'string', minLength: 1, maxLength: 255 } },
    host: HOST,
    hypervisor_hostname: HOST,
    hostname: { type: 'string', minLength: 1, maxLength: 255 },
  }, ['name', 'flavorRef']),
  'os:scheduler_hints': SCHEDULER_HINTS,
  'OS-SCH-HNT:scheduler_hints': SCHEDULER_HINTS,
}, ['server']);

/** Nova's update schemas (name; description from 2.19, hostname from 2.90: the handler checks the microversion). */
const updateSchema = bodyOf({
  server: bodyOf({
    name: NAME, description: DESCRIPTION, accessIPv4: ACCESS_IP, accessIPv6: ACCESS_IP,
    'OS-DCF:diskConfig': DISK_CONFIG, hostname: { type: 'string', minLength: 1, maxLength: 255 },
  }),
}, ['server']);

/** Nova's servers index/detail filters this API reads; the others Nova knows are ignored, bounded. */
const listQuery = queryOf({
  limit: QUERY_COUNT, marker: QUERY_TEXT, name: QUERY_TEXT, host: QUERY_TEXT, all_tenants: QUERY_FLAG,
  project_id: QUERY_TEXT, tenant_id: QUERY_TEXT, tags: QUERY_TEXT, 'tags-any': QUERY_TEXT, 'not-tags': QUERY_TEXT,
  'not-tags-any': QUERY_TEXT, locked: QUERY_FLAG,
});
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
    return { server: serverDetail(req, base(), instance, ports.get(instance.uuid) ?? [], await tagsOf(ctx.store.reader, instance.uuid), ports.groups?.get(instance.uuid)) };
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
    return { server: serverDetail(req, base(), updated, ports.get(updated.uuid) ?? [], await tagsOf(ctx.store.reader, updated.uuid), ports.groups?.get(updated.uuid)) };
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
    requireAdmin(req, 'vdpa-compute:servers:domain_xml');
    const instance = await visibleServer(ctx, req, req.params.id);
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
