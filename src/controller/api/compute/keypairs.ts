import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, Forbidden } from '../../../domain/errors.js';
import type { ControllerContext } from '../../context.js';
import { createKeyPair, deleteKeyPair, keyPairOf, listKeyPairs, type KeyPairRow } from '../../services/keyPairs.js';
import { atLeast } from './microversion.js';
import { publicBase } from './lookup.js';
import { QUERY_COUNT, QUERY_TEXT, bodyOf, computeRoute, paramsOf, queryOf } from './schemaTypes.js';
import { pageLimit } from '../pagination.js';

/** Nova's keypairs create schemas, all microversions (type 2.2, user_id 2.10, '@' and '.' in names 2.92: the handler checks). */
const createSchema = bodyOf({
  keypair: bodyOf({
    name: { type: 'string', minLength: 1, maxLength: 255 },
    public_key: { type: 'string', maxLength: 65535 },
    type: { type: 'string', enum: ['ssh', 'x509'] },
    user_id: { type: 'string', minLength: 1, maxLength: 255 },
  }, ['name']),
}, ['keypair']);
const listQuery = queryOf({ user_id: QUERY_TEXT, limit: QUERY_COUNT, marker: QUERY_TEXT });
const ownerQuery = queryOf({ user_id: QUERY_TEXT });
const keyPairParams = paramsOf('name');

/**
 * os-keypairs as Nova has it: key pairs belong to a user; `user_id` (2.10+)
 * reaches another user's, which the policy (admin or the owner) allows only
 * admins. `type` from 2.2 (then create answers 201 and delete 204), paging
 * from 2.35, and from 2.92 no generation (`public_key` required) and '@' and
 * '.' allowed in names.
 */

type Query = { user_id?: string; limit?: string; marker?: string };

/** The key pairs' owner: the caller, or with 2.10+ `user_id`, which only an admin may name for someone else. */
function ownerOf(req: FastifyRequest, action: string, requested: string | undefined): string {
  const userId = atLeast(req, '2.10') && requested !== undefined ? requested : req.auth.userId;
  if (userId !== req.auth.userId && !req.auth.isAdmin) {
    throw new Forbidden(`Policy doesn't allow os_compute_api:os-keypairs:${action} to be performed.`);
  }
  return userId;
}

function baseView(req: FastifyRequest, k: KeyPairRow): Record<string, unknown> {
  return { name: k.name, public_key: k.public_key, fingerprint: k.fingerprint, ...(atLeast(req, '2.2') ? { type: k.type } : {}) };
}

function invalidBody(detail: string): BadRequest {
  return new BadRequest(`Invalid input for field/attribute keypair. ${detail}`);
}

export function registerKeyPairRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  const db = () => ctx.store.reader;

  app.get<{ Querystring: Query }>('/v2.1/os-keypairs', computeRoute('List key pairs', { querystring: listQuery }), async (req) => {
    const userId = ownerOf(req, 'index', req.query.user_id);
    const paging = atLeast(req, '2.35');
    const limit = paging ? pageLimit(req.query.limit, (v) => `Invalid input for query parameters limit. Value: ${v}.`) : undefined;
    const rows = await listKeyPairs(db(), userId, {
      ...(limit !== undefined ? { limit } : {}), ...(paging && req.query.marker !== undefined ? { marker: req.query.marker } : {}),
    });
    const body: Record<string, unknown> = { keypairs: rows.map((k) => ({ keypair: baseView(req, k) })) };
    if (limit !== undefined && rows.length === limit && limit > 0) {
      const next = new URLSearchParams({ limit: String(limit), marker: rows[rows.length - 1]!.name });
      if (req.query.user_id !== undefined) next.set('user_id', userId);
      body.keypairs_links = [{ rel: 'next', href: `${publicBase(ctx)}/compute/v2.1/os-keypairs?${next}` }];
    }
    return body;
  });

  app.get<{ Params: { name: string }; Querystring: Query }>('/v2.1/os-keypairs/:name', computeRoute('Show a key pair', { params: keyPairParams, querystring: ownerQuery }), async (req) => {
    const userId = ownerOf(req, 'show', req.query.user_id);
    const k = await keyPairOf(db(), userId, req.params.name);
    return {
      keypair: {
        ...baseView(req, k), user_id: k.user_id, id: k.id, created_at: k.created_at.replace(/Z$/, ''),
        deleted: false, deleted_at: null, updated_at: null,
      },
    };
  });

  app.post<{ Body: unknown }>('/v2.1/os-keypairs', computeRoute('Create or import a key pair', { querystring: queryOf({}), body: createSchema }), async (req, reply) => {
    const body = req.body as { keypair?: Record<string, unknown> } | undefined;
    if (!body || typeof body !== 'object' || Array.isArray(body) || typeof body.keypair !== 'object' || body.keypair === null) {
      throw new BadRequest("Invalid input for field/attribute keypair. 'keypair' is a required property");
    }
    const k = body.keypair;
    const allowed = ['name', 'public_key', ...(atLeast(req, '2.2') ? ['type'] : []), ...(atLeast(req, '2.10') ? ['user_id'] : [])];
    const extra = Object.keys(k).filter((key) => !allowed.includes(key));
    if (extra.length > 0) throw invalidBody(`Additional properties are not allowed (${extra.map((e) => `'${e}'`).join(', ')} was unexpected)`);
    if (typeof k.name !== 'string') throw invalidBody("'name' is a required property");
    if (k.public_key !== undefined && typeof k.public_key !== 'string') throw invalidBody(`${JSON.stringify(k.public_key)} is not of type 'string'`);
    if (atLeast(req, '2.92') && k.public_key === undefined) throw invalidBody("'public_key' is a required property");
    if (k.type !== undefined && k.type !== 'ssh' && k.type !== 'x509') throw invalidBody(`${JSON.stringify(k.type)} is not one of ['ssh', 'x509']`);
    const userId = ownerOf(req, 'create', typeof k.user_id === 'string' ? k.user_id : undefined);
    const { row, privateKey } = await createKeyPair(ctx.store, {
      userId, projectId: req.auth.projectId, name: k.name, type: (k.type as 'ssh' | 'x509' | undefined) ?? 'ssh',
      ...(k.public_key !== undefined ? { publicKey: k.public_key as string } : {}), specialCharacters: atLeast(req, '2.92'),
    });
    return reply.code(atLeast(req, '2.2') ? 201 : 200).send({
      keypair: { ...baseView(req, row), user_id: row.user_id, ...(privateKey !== null ? { private_key: privateKey } : {}) },
    });
  });

  app.delete<{ Params: { name: string }; Querystring: Query }>('/v2.1/os-keypairs/:name', computeRoute('Delete a key pair', { params: keyPairParams, querystring: ownerQuery }), async (req, reply) => {
    const userId = ownerOf(req, 'delete', req.query.user_id);
    await ctx.store.transact((u) => deleteKeyPair(u, userId, req.params.name));
    return reply.code(atLeast(req, '2.2') ? 204 : 202).send();
  });
}
