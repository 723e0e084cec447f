import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest } from '../../../domain/errors.js';
import { ZONE_KEY } from '../../../domain/scheduling/zones.js';
import { listAggregates, type AggregateRecord } from '../../../storage/repositories/aggregates.js';
import type { ControllerContext } from '../../context.js';
import {
  addHost, aggregateOrFail, createAggregate, removeAggregate, removeHost, setMetadata, updateAggregate,
} from '../../services/aggregates.js';
import { requireAdmin } from '../auth.js';
import { atLeast } from './microversion.js';
import { HOST, NAME, NULLABLE_NAME, bodyOf, computeRoute, paramsOf, queryOf } from './schemaTypes.js';

/** Nova's aggregates create and update schemas (the printable and ':' rules stay with the handler's messages). */
const createSchema = bodyOf({ aggregate: bodyOf({ name: NAME, availability_zone: NULLABLE_NAME }, ['name']) }, ['aggregate']);
const updateSchema = bodyOf({ aggregate: { ...bodyOf({ name: NAME, availability_zone: NULLABLE_NAME }), minProperties: 1 } }, ['aggregate']);
const hostArgs = bodyOf({ host: HOST }, ['host']);
/** One action: add_host, remove_host or set_metadata (values null to remove). */
const actionSchema = {
  type: 'object',
  minProperties: 1,
  maxProperties: 1,
  properties: {
    add_host: hostArgs,
    remove_host: hostArgs,
    set_metadata: bodyOf({
      metadata: { type: 'object', propertyNames: { minLength: 1, maxLength: 255 }, additionalProperties: { type: ['string', 'null'], maxLength: 255 } },
    }, ['metadata']),
  },
  additionalProperties: false,
} as const;
const noQuery = queryOf({});
const aggregateParams = paramsOf('id');

/** Nova's aggregate (integer id; uuid from 2.41); a create answers without hosts and metadata. */
function aggregateView(req: FastifyRequest, a: AggregateRecord, full = true) {
  return {
    availability_zone: a.metadata[ZONE_KEY] ?? null,
    created_at: a.createdAt,
    deleted: false,
    deleted_at: null,
    ...(full ? { hosts: a.hosts, metadata: a.metadata } : {}),
    id: a.id,
    name: a.name,
    updated_at: a.updatedAt,
    ...(atLeast(req, '2.41') ? { uuid: a.uuid } : {}),
  };
}

const policy = (action: string) => `os_compute_api:os-aggregates:${action}`;

/** A name or zone: 1 to 255 printable characters, no leading or trailing space (Nova's schema). */
function nameField(field: string, value: unknown, opts: { nullable?: boolean } = {}): string | null | undefined {
  if (value === undefined) return undefined;
  if (value === null && opts.nullable) return null;
  if (typeof value !== 'string' || value.length < 1 || value.length > 255 || value.trim() !== value) {
    throw new BadRequest(`Invalid input for field/attribute ${field}. Value: ${String(value)}. ${JSON.stringify(value)} is not a valid ${field}`);
  }
  if (field === 'availability_zone' && value.includes(':')) {
    throw new BadRequest(`Invalid input for field/attribute availability_zone. Value: ${value}. '${value}' does not match '^[^:]*$'`);
  }
  return value;
}

function objectBody(body: unknown, key: string): Record<string, unknown> {
  const inner = body && typeof body === 'object' ? (body as Record<string, unknown>)[key] : undefined;
  if (!inner || typeof inner !== 'object' || Array.isArray(inner)) throw new BadRequest(`Invalid input for field/attribute ${key}. '${key}' is a required property`);
  return inner as Record<string, unknown>;
}

export function registerAggregateRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  app.get('/v2.1/os-aggregates', computeRoute('List aggregates (admin)', { querystring: noQuery }), async (req) => {
    requireAdmin(req, policy('index'));
    return { aggregates: (await listAggregates(ctx.store.reader)).map((a) => aggregateView(req, a)) };
  });

  app.post('/v2.1/os-aggregates', computeRoute('Create an aggregate (admin)', { querystring: noQuery, body: createSchema }), async (req) => {
    requireAdmin(req, policy('create'));
    const a = objectBody(req.body, 'aggregate');
    const name = nameField('name', a.name);
    if (name === undefined || name === null) throw new BadRequest("Invalid input for field/attribute aggregate. 'name' is a required property");
    const zone = nameField('availability_zone', a.availability_zone, { nullable: true }) ?? null;
    return { aggregate: aggregateView(req, await createAggregate(ctx, name, zone), false) };
  });

  app.get<{ Params: { id: string } }>('/v2.1/os-aggregates/:id', computeRoute('Show an aggregate (admin)', { params: aggregateParams, querystring: noQuery }), async (req) => {
    requireAdmin(req, policy('show'));
    return { aggregate: aggregateView(req, await aggregateOrFail(ctx, req.params.id)) };
  });

  app.put<{ Params: { id: string } }>('/v2.1/os-aggregates/:id', computeRoute('Update an aggregate (admin)', { params: aggregateParams, querystring: noQuery, body: updateSchema }), async (req) => {
    requireAdmin(req, policy('update'));
    const a = objectBody(req.body, 'aggregate');
    if (a.name === undefined && a.availability_zone === undefined) {
      throw new BadRequest("Invalid input for field/attribute aggregate. Value: {}. {} does not have enough properties");
    }
    const name = nameField('name', a.name) ?? undefined;
    const zone = nameField('availability_zone', a.availability_zone, { nullable: true });
    return { aggregate: aggregateView(req, await updateAggregate(ctx, req.params.id, { name, zone })) };
  });

  app.delete<{ Params: { id: string } }>('/v2.1/os-aggregates/:id', computeRoute('Delete an aggregate (admin)', { params: aggregateParams, querystring: noQuery }), async (req, reply) => {
    requireAdmin(req, policy('delete'));
    await removeAggregate(ctx, req.params.id);
    return reply.code(200).send();
  });

  app.post<{ Params: { id: string }; Body: Record<string, unknown> }>('/v2.1/os-aggregates/:id/action',
    computeRoute('Add or remove a host, or set metadata, of an aggregate (admin)', { params: aggregateParams, querystring: noQuery, body: actionSchema }), async (req) => {
    const body = req.body;
    if (!body || typeof body !== 'object' || Object.keys(body).length !== 1) throw new BadRequest('The action body must name exactly one action.');
    const [action] = Object.keys(body) as [string];
    const args = objectBody(body, action);
    let result: AggregateRecord;
    if (action === 'add_host' || action === 'remove_host') {
      requireAdmin(req, policy(action));
      if (typeof args.host !== 'string' || args.host === '') throw new BadRequest(`Invalid input for field/attribute host. Value: ${String(args.host)}.`);
      result = action === 'add_host' ? await addHost(ctx, req.params.id, args.host) : await removeHost(ctx, req.params.id, args.host);
    } else if (action === 'set_metadata') {
      requireAdmin(req, policy('set_metadata'));
      const metadata = args.metadata;
      if (!metadata || typeof metadata !== 'object' || Array.isArray(metadata)) {
        throw new BadRequest("Invalid input for field/attribute set_metadata. 'metadata' is a required property");
      }
      const changes: Record<string, string | null> = {};
      for (const [k, v] of Object.entries(metadata)) {
        if (k.length < 1 || k.length > 255 || (v !== null && (typeof v !== 'string' || v.length > 255))) {
          throw new BadRequest(`Invalid input for field/attribute metadata. Value: ${k}.`);
        }
        if (k === ZONE_KEY && typeof v === 'string') nameField('availability_zone', v);
        changes[k] = v as string | null;
      }
      result = await setMetadata(ctx, req.params.id, changes);
    } else {
      throw new BadRequest(`Invalid input for field/attribute ${action}. Additional properties are not allowed ('${action}' was unexpected)`);
    }
    return { aggregate: aggregateView(req, result) };
  });
}
