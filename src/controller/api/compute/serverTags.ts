/**
 * Nova's server tag routes (2.26+; below it Nova has no such routes, 404),
 * what `openstack server set --tag` / `server unset --tag` use:
 *   GET    /servers/{id}/tags        → 200 {"tags": [...]}
 *   PUT    /servers/{id}/tags        {"tags": [...]} replaces → 200 {"tags": [...]}
 *   DELETE /servers/{id}/tags        → 204
 *   GET    /servers/{id}/tags/{tag}  → 204 | 404 "Server <id> has no tag '<tag>'"
 *   PUT    /servers/{id}/tags/{tag}  → 201 + Location (204 when already there)
 *   DELETE /servers/{id}/tags/{tag}  → 204 | 404 "Instance <id> has no tag '<tag>'"
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { NotFound } from '../../../domain/errors.js';
import { tagsOfBody } from '../../../domain/servers/tags.js';
import { tagsOf } from '../../../storage/repositories/instanceTags.js';
import type { ControllerContext } from '../../context.js';
import { addServerTag, removeAllServerTags, removeServerTag, replaceServerTags } from '../../services/servers/tags.js';
import { publicBase, visibleServer } from './lookup.js';
import { atLeast, microversionString } from './microversion.js';
import { TAG, bodyOf, computeRoute, paramsOf, queryOf } from './schemaTypes.js';

/** Nova's server_tags update_all schema (2.26+: below it the routes are 404s, which the handler answers). */
const replaceSchema = bodyOf({ tags: { type: 'array', maxItems: 50, items: TAG } }, ['tags']);
const noQuery = queryOf({});
const serverParams = paramsOf('id');
/** The tag's own rules in a URL are the handler's, with Nova's message around them. */
const tagParams = paramsOf('id', 'tag');

type ServerParams = { Params: { id: string } };
type TagParams = { Params: { id: string; tag: string } };

function requireTagsVersion(req: FastifyRequest): void {
  if (!atLeast(req, '2.26')) throw new NotFound(`API version ${microversionString(req)} is not supported on this method.`);
}

export function registerServerTagRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  app.get<ServerParams>('/v2.1/servers/:id/tags', computeRoute('List a server\'s tags (2.26+)', { params: serverParams, querystring: noQuery }), async (req) => {
    requireTagsVersion(req);
    const instance = await visibleServer(ctx, req, req.params.id);
    return { tags: await tagsOf(ctx.store.reader, instance.uuid) };
  });

  app.put<ServerParams>('/v2.1/servers/:id/tags', computeRoute('Replace a server\'s tags (2.26+)', { params: serverParams, querystring: noQuery, body: replaceSchema }), async (req) => {
    requireTagsVersion(req);
    const tags = tagsOfBody(req.body);
    const instance = await visibleServer(ctx, req, req.params.id);
    return { tags: await replaceServerTags(ctx, instance, tags) };
  });

  app.delete<ServerParams>('/v2.1/servers/:id/tags', computeRoute('Remove all tags of a server (2.26+)', { params: serverParams, querystring: noQuery }), async (req, reply) => {
    requireTagsVersion(req);
    const instance = await visibleServer(ctx, req, req.params.id);
    await removeAllServerTags(ctx, instance);
    return reply.code(204).send();
  });

  app.get<TagParams>('/v2.1/servers/:id/tags/:tag', computeRoute('Check a server tag (2.26+)', { params: tagParams, querystring: noQuery }), async (req, reply) => {
    requireTagsVersion(req);
    const instance = await visibleServer(ctx, req, req.params.id);
    if (!(await tagsOf(ctx.store.reader, instance.uuid)).includes(req.params.tag)) {
      throw new NotFound(`Server ${req.params.id} has no tag '${req.params.tag}'`);
    }
    return reply.code(204).send();
  });

  app.put<TagParams>('/v2.1/servers/:id/tags/:tag', computeRoute('Add a server tag (2.26+)', { params: tagParams, querystring: noQuery }), async (req, reply) => {
    requireTagsVersion(req);
    const instance = await visibleServer(ctx, req, req.params.id);
    const added = await addServerTag(ctx, instance, req.params.tag);
    if (!added) return reply.code(204).send();
    const location = `${publicBase(ctx)}/compute/v2.1/servers/${instance.uuid}/tags/${encodeURIComponent(req.params.tag)}`;
    return reply.code(201).header('location', location).send();
  });

  app.delete<TagParams>('/v2.1/servers/:id/tags/:tag', computeRoute('Remove a server tag (2.26+)', { params: tagParams, querystring: noQuery }), async (req, reply) => {
    requireTagsVersion(req);
    const instance = await visibleServer(ctx, req, req.params.id);
    await removeServerTag(ctx, instance, req.params.tag);
    return reply.code(204).send();
  });
}
