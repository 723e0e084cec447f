import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { BadRequest, Conflict, Forbidden, NotFound } from '../../../domain/errors.js';
import type { ControllerContext } from '../../context.js';
import { authenticate } from '../auth.js';
import { IMAGE_SERVICE_READS, requireProjectRole } from '../projectRoles.js';
import { useErrorFormat } from '../errors.js';
import { guardInput } from '../inputGuards.js';
import { imageErrorFormat } from './errorFormat.js';
import { deleteImage } from '../../../storage/repositories/images.js';
import {
  VISIBILITIES, applyImagePatch, createImage, findVisibleImage, listImages, patchableImage, saveImagePatch, type ImagePatchOp, type Visibility,
} from '../../services/images.js';
import { readImageData, removeImageData, storeImageData } from '../../services/imageData.js';
import { imageView } from './views.js';
import { glanceWording, imageSchemas, JSON_PATCH_TYPE, PATCHED_IMAGE, READ_ONLY_PROPERTIES } from './schemas.js';
import { schemaFailure, validateSchemas } from '../schemaValidation.js';

type Json = Record<string, unknown>;

const DEFAULT_LIMIT = 25;
const MAX_LIMIT = 1000;
/** Set by the service, never by a client (Glance answers 403 for these). */
const READ_ONLY = new Set<string>(READ_ONLY_PROPERTIES);
const CORE = new Set(['id', 'name', 'visibility', 'disk_format', 'container_format', 'min_disk', 'min_ram', 'protected', 'tags']);

function versions(publicUrl: string) {
  return {
    versions: [{
      id: 'v2.16', status: 'CURRENT',
      links: [{ rel: 'self', href: `${publicUrl.replace(/\/+$/, '')}/image/v2/` }],
    }],
  };
}

function optString(q: Json, key: string): string | undefined {
  const v = q[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new BadRequest(`Invalid value for ${key}.`);
  return v;
}

function nonNegativeInt(v: unknown, field: string): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new BadRequest(`Invalid value for ${field}: must be an integer >= 0.`);
  return v;
}

function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_LIMIT;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new BadRequest('limit param must be an integer');
  return Math.min(n, MAX_LIMIT);
}

/** Image v2 (Glance-compatible): records, and their data streamed to and from the image directory. */
export async function imageApi(app: FastifyInstance, ctx: ControllerContext): Promise<void> {
  useErrorFormat(app, imageErrorFormat);
  validateSchemas(app, glanceWording);
  guardInput(app);
  app.get('/', { schema: imageSchemas.versions }, async (_req, reply) => reply.code(300).send(versions(ctx.publicUrl)));
  app.get('/versions', { schema: imageSchemas.versionList }, async () => versions(ctx.publicUrl));

  await app.register(async (secured) => {
    secured.addHook('onRequest', async (req) => {
      await authenticate(ctx, req);
      requireProjectRole(req, req.auth.isService ? IMAGE_SERVICE_READS : new Set(), (action) => `You are not authorized to complete ${action} action.`);
    });
    const db = ctx.store.reader;

    secured.get('/v2/images', { schema: imageSchemas.list }, async (req) => {
      const q = req.query as Json;
      const limit = parseLimit(optString(q, 'limit'));
      const marker = optString(q, 'marker');
      const filters = { name: optString(q, 'name'), status: optString(q, 'status'), visibility: optString(q, 'visibility') };
      const { images, more } = await listImages(db, req.auth, { ...filters, limit, marker });
      const body: Json = { images: images.map(imageView), first: '/v2/images', schema: '/v2/schemas/images' };
      const last = images.at(-1);
      if (more && last) {
        const params = new URLSearchParams();
        for (const [k, v] of Object.entries(filters)) if (v !== undefined) params.set(k, v);
        params.set('limit', String(limit));
        params.set('marker', last.id);
        body.next = `/v2/images?${params.toString()}`;
      }
      return body;
    });

    secured.get<{ Params: { id: string } }>('/v2/images/:id', { schema: imageSchemas.show }, async (req) => {
      const row = await findVisibleImage(db, req.params.id, req.auth);
      if (!row) throw new NotFound(`No image found with ID ${req.params.id}`);
      return imageView(row);
    });

    secured.post('/v2/images', { schema: imageSchemas.create }, async (req, reply) => {
      const body = (req.body ?? {}) as Json;
      if (typeof body !== 'object' || Array.isArray(body)) throw new BadRequest('Body must be a JSON object.');
      for (const key of Object.keys(body)) {
        if (READ_ONLY.has(key)) throw new Forbidden(`Attribute '${key}' is read-only.`);
      }
      const visibility = (body.visibility ?? 'shared') as Visibility;
      if (!VISIBILITIES.includes(visibility)) throw new BadRequest(`Invalid visibility value: ${String(body.visibility)}`);
      if (visibility === 'public' && !req.auth.isAdmin) throw new Forbidden('You are not authorized to complete publicize_image action.');
      const tags = body.tags ?? [];
      if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string')) throw new BadRequest('Invalid tags: must be a list of strings.');
      const properties: Record<string, string> = {};
      for (const [k, v] of Object.entries(body)) {
        if (CORE.has(k)) continue;
        if (typeof v !== 'string') throw new BadRequest(`Invalid value for property ${k}: must be a string.`);
        properties[k] = v;
      }
      for (const f of ['id', 'name', 'disk_format', 'container_format'] as const) {
        if (body[f] !== undefined && body[f] !== null && typeof body[f] !== 'string') throw new BadRequest(`Invalid value for ${f}.`);
      }
      if (typeof body.id === 'string' && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(body.id)) {
        throw new BadRequest(`Invalid image id ${body.id}: must be a UUID.`);
      }
      if (body.protected !== undefined && typeof body.protected !== 'boolean') throw new BadRequest('Invalid value for protected.');
      const row = await ctx.store.transact((u) => createImage(u, {
        id: body.id as string | undefined,
        name: (body.name as string | null | undefined) ?? '',
        visibility,
        diskFormat: body.disk_format as string | undefined,
        containerFormat: body.container_format as string | undefined,
        minDisk: nonNegativeInt(body.min_disk, 'min_disk'),
        minRam: nonNegativeInt(body.min_ram, 'min_ram'),
        owner: req.auth.projectId,
        protected: body.protected === true,
        tags: tags as string[],
        properties,
      }));
      return reply.code(201).header('location', `${ctx.publicUrl.replace(/\/+$/, '')}/image/v2/images/${row.id}`).send(imageView(row));
    });

    // `openstack image set`: a JSON patch, in Glance's own media type only (application/json is a 415, as in Glance).
    secured.patch<{ Params: { id: string }; Body: { op: ImagePatchOp['op']; path: string; value?: unknown }[] }>('/v2/images/:id', {
      schema: imageSchemas.update,
      preValidation: async (req) => {
        if (!String(req.headers['content-type'] ?? '').startsWith(JSON_PATCH_TYPE)) {
          throw Object.assign(new Error(`Unsupported Content-Type: use ${JSON_PATCH_TYPE}`), { statusCode: 415 });
        }
      },
    }, async (req) => {
      const row = await findVisibleImage(db, req.params.id, req.auth);
      if (!row) throw new NotFound(`No image found with ID ${req.params.id}`);
      if (!req.auth.isAdmin && row.owner !== req.auth.projectId) throw new Forbidden('You are not permitted to modify this image.');
      const ops = req.body.map((o) => ({ op: o.op, property: o.path.slice(1).replace(/~1/g, '/').replace(/~0/g, '~'), value: o.value }));
      for (const { property } of ops) {
        if (READ_ONLY.has(property) || property === 'id') throw new Forbidden(`Attribute '${property}' is read-only.`);
      }
      const patched = applyImagePatch(patchableImage(row), ops);
      const failure = schemaFailure(PATCHED_IMAGE, patched);
      if (failure) throw new BadRequest(glanceWording(failure));
      return imageView(await ctx.store.transact((u) => saveImagePatch(u, row, patched, req.auth)));
    });

    // Image data arrives as a stream (services/imageData.ts writes it to disk as it comes).
    secured.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
    secured.put<{ Params: { id: string } }>('/v2/images/:id/file', { schema: imageSchemas.upload }, async (req, reply) => {
      const row = await findVisibleImage(db, req.params.id, req.auth);
      if (!row) throw new NotFound(`No image found with ID ${req.params.id}`);
      if (!req.auth.isAdmin && row.owner !== req.auth.projectId) throw new Forbidden('You are not permitted to upload data for this image.');
      if (row.status !== 'queued') throw new Conflict(`Image status transition from ${row.status} to saving is not allowed`);
      const body = req.body as Readable | undefined;
      await storeImageData(ctx.store, ctx.imageDir, row, body && typeof body.pipe === 'function' ? body : Readable.from([]));
      return reply.code(204).send();
    });

    // Glance: 204 for an image without data, else the bytes with their MD5 in Content-MD5.
    secured.get<{ Params: { id: string } }>('/v2/images/:id/file', { schema: imageSchemas.download }, async (req, reply) => {
      const row = await findVisibleImage(db, req.params.id, req.auth);
      if (!row) throw new NotFound(`No image found with ID ${req.params.id}`);
      const data = await readImageData(ctx.imageDir, row);
      if (!data) return reply.code(204).send();
      return reply.code(200)
        .header('content-type', 'application/octet-stream')
        .header('content-length', String(data.size))
        .header('content-md5', data.checksum)
        .send(data.stream);
    });

    secured.delete<{ Params: { id: string } }>('/v2/images/:id', { schema: imageSchemas.remove }, async (req, reply) => {
      const row = await findVisibleImage(db, req.params.id, req.auth);
      if (!row) throw new NotFound(`No image found with ID ${req.params.id}`);
      if (!req.auth.isAdmin && row.owner !== req.auth.projectId) throw new Forbidden('You are not permitted to delete this image.');
      if (row.protected === 1) throw new Forbidden(`Image ${row.id} is protected and cannot be deleted.`);
      await ctx.store.transact((u) => deleteImage(u, row.id));
      await removeImageData(ctx.imageDir, row.id);
      return reply.code(204).send();
    });
  });
}
