/**
 * Nova's server metadata routes, what `openstack server set --property` and
 * `server unset --property` use:
 *   GET    /servers/{id}/metadata         → 200 {"metadata": {...}}
 *   POST   /servers/{id}/metadata         {"metadata": {...}} merged  → 200 {"metadata": all}
 *   PUT    /servers/{id}/metadata         {"metadata": {...}} replaces → 200 {"metadata": new}
 *   GET    /servers/{id}/metadata/{key}   → 200 {"meta": {key: value}} | 404
 *   PUT    /servers/{id}/metadata/{key}   {"meta": {key: value}}      → 200 {"meta": …}
 *   DELETE /servers/{id}/metadata/{key}   → 204 | 404
 * Writes: lock (409 "Instance <uuid> is locked" for members), then state
 * (services/servers/metadata.ts).
 */
import type { FastifyInstance } from 'fastify';
import { BadRequest, NotFound } from '../../../domain/errors.js';
import { metadataOfBody } from '../../../domain/servers/metadata.js';
import type { ControllerContext } from '../../context.js';
import { changeMetadata } from '../../services/servers/metadata.js';
import { refuseIfLocked } from './lockGuard.js';
import { visibleServer } from './lookup.js';
import { METADATA, bodyOf, computeRoute, paramsOf, queryOf } from './schemaTypes.js';

/** Nova's server_metadata create/update_all and update schemas. */
const metadataSchema = bodyOf({ metadata: METADATA }, ['metadata']);
const itemSchema = bodyOf({ meta: { ...METADATA, minProperties: 1, maxProperties: 1 } }, ['meta']);
const noQuery = queryOf({});
const serverParams = paramsOf('id');
const itemParams = paramsOf('id', 'key');

type ServerParams = { Params: { id: string } };
type ItemParams = { Params: { id: string; key: string } };

const ITEM_NOT_FOUND = 'Metadata item was not found';

export function registerServerMetadataRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  app.get<ServerParams>('/v2.1/servers/:id/metadata', computeRoute('List a server\'s metadata', { params: serverParams, querystring: noQuery }), async (req) => {
    const instance = await visibleServer(ctx, req, req.params.id);
    return { metadata: instance.metadata };
  });

  app.post<ServerParams>('/v2.1/servers/:id/metadata', computeRoute('Add or change metadata items of a server', { params: serverParams, querystring: noQuery, body: metadataSchema }), async (req) => {
    const items = metadataOfBody(req.body, 'metadata');
    const instance = await visibleServer(ctx, req, req.params.id);
    refuseIfLocked(req, instance);
    return { metadata: await changeMetadata(ctx, instance, 'update metadata', (current) => ({ ...current, ...items })) };
  });

  app.put<ServerParams>('/v2.1/servers/:id/metadata', computeRoute('Replace a server\'s metadata', { params: serverParams, querystring: noQuery, body: metadataSchema }), async (req) => {
    const items = metadataOfBody(req.body, 'metadata');
    const instance = await visibleServer(ctx, req, req.params.id);
    refuseIfLocked(req, instance);
    return { metadata: await changeMetadata(ctx, instance, 'update metadata', () => ({ ...items })) };
  });

  app.get<ItemParams>('/v2.1/servers/:id/metadata/:key', computeRoute('Show a server metadata item', { params: itemParams, querystring: noQuery }), async (req) => {
    const instance = await visibleServer(ctx, req, req.params.id);
    if (!Object.hasOwn(instance.metadata, req.params.key)) throw new NotFound(ITEM_NOT_FOUND);
    return { meta: { [req.params.key]: instance.metadata[req.params.key] } };
  });

  app.put<ItemParams>('/v2.1/servers/:id/metadata/:key', computeRoute('Set a server metadata item', { params: itemParams, querystring: noQuery, body: itemSchema }), async (req) => {
    const item = metadataOfBody(req.body, 'meta');
    const { key } = req.params;
    if (!Object.hasOwn(item, key)) throw new BadRequest('Request body and URI mismatch');
    const instance = await visibleServer(ctx, req, req.params.id);
    refuseIfLocked(req, instance);
    await changeMetadata(ctx, instance, 'update metadata', (current) => ({ ...current, [key]: item[key]! }));
    return { meta: { [key]: item[key] } };
  });

  app.delete<ItemParams>('/v2.1/servers/:id/metadata/:key', computeRoute('Delete a server metadata item', { params: itemParams, querystring: noQuery }), async (req, reply) => {
    const instance = await visibleServer(ctx, req, req.params.id);
    const { key } = req.params;
    if (!Object.hasOwn(instance.metadata, key)) throw new NotFound(ITEM_NOT_FOUND);
    refuseIfLocked(req, instance);
    await changeMetadata(ctx, instance, 'delete metadata', (current) => {
      delete current[key];
      return current;
    });
    return reply.code(204).send();
  });
}
