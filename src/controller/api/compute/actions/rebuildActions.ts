/**
 * `{"rebuild": {"imageRef", "name"?, "adminPass"?, …}}` → 202 + server + Location,
 * `{"rescue": null | {"adminPass"?, "rescue_image_ref"?}}` → 200 {"adminPass"},
 * `{"unrescue": null}` → 202,
 * `{"createImage": {"name", "metadata"?}}` → 202 (2.45+: {"image_id"}; before: Location),
 * `{"shelveOffload": null}` (admin) → 202.
 * Nova 26's shapes (nova-semantics.md §1); each finishes through the agent.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { BadRequest, NotFound } from '../../../../domain/errors.js';
import { imageById } from '../../../../storage/repositories/lookups.js';
import { canSee } from '../../../services/images.js';
import { getPorts } from '../../../../storage/repositories/ports.js';
import type { InstanceRecord } from '../../../../storage/repositories/instances.js';
import type { ControllerContext } from '../../../context.js';
import { startRebuild } from '../../../lifecycle/rebuild.js';
import { hwPropertiesOf } from '../../../services/servers/create.js';
import { startRescue, startUnrescue } from '../../../lifecycle/rescue.js';
import { startShelveOffload } from '../../../lifecycle/shelveOffload.js';
import { startSnapshot } from '../../../lifecycle/snapshot.js';
import { requireAdmin } from '../../auth.js';
import { publicBase } from '../lookup.js';
import { atLeast } from '../microversion.js';
import { serverDetail } from '../serverViews.js';
import { requesterOf } from './powerActions.js';
import { registerServerAction } from './registry.js';
import { withServerGroups } from '../serverGroups.js';
import { ACCESS_IP, ADMIN_PASS, DESCRIPTION, DISK_CONFIG, ID_REF, METADATA, NAME, NO_ARGS, NULLABLE_NAME, bodyOf } from '../schemaTypes.js';

/** Nova's rebuild schemas, all microversions (personality until 2.56; description 2.19, key_name 2.54, user_data 2.57, certificates 2.63, hostname 2.90). */
const REBUILD_ARGS = bodyOf({
  imageRef: { type: 'string', maxLength: 2048 },
  name: NAME,
  adminPass: ADMIN_PASS,
  metadata: METADATA,
  preserve_ephemeral: { type: 'boolean' },
  'OS-DCF:diskConfig': DISK_CONFIG,
  accessIPv4: ACCESS_IP,
  accessIPv6: ACCESS_IP,
  personality: { type: 'array', maxItems: 1000, items: { type: 'object', properties: { path: { type: 'string', maxLength: 255 }, contents: { type: 'string', maxLength: 65535 } }, additionalProperties: false } },
  description: DESCRIPTION,
  key_name: NULLABLE_NAME,
  user_data: { type: ['string', 'null'], maxLength: 65535 },
  trusted_image_certificates: { type: ['array', 'null'], minItems: 1, maxItems: 50, items: { type: 'string', minLength: 1, maxLength: 255 } },
  hostname: { type: 'string', minLength: 1, maxLength: 255 },
}, ['imageRef']);
/** Nova's rescue schema. */
const RESCUE_ARGS = { ...bodyOf({ adminPass: ADMIN_PASS, rescue_image_ref: ID_REF }), type: ['object', 'null'] } as const;
/** Nova's create_image schema. */
const CREATE_IMAGE_ARGS = bodyOf({ name: NAME, metadata: { type: 'object', additionalProperties: { type: 'string', maxLength: 255 } } }, ['name']);

type Json = Record<string, unknown>;

/** Nova's generated admin password ([DEFAULT] password_length 12, letters and digits). */
function generatedAdminPass(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  return Array.from(randomBytes(12), (b) => alphabet[b % alphabet.length]).join('');
}

/** jsonschema's wording for a body that is not the object asked for. */
function bodyObject(action: string, args: unknown, nullable: boolean): Json | null {
  if (args === null && nullable) return null;
  if (args === undefined && nullable) return null;
  if (typeof args !== 'object' || args === null || Array.isArray(args)) {
    throw new BadRequest(`Invalid input for field/attribute ${action}. Value: ${JSON.stringify(args)}. ${JSON.stringify(args)} is not of type 'object'`);
  }
  return args as Json;
}

function onlyKeys(body: Json, allowed: string[]): void {
  const extra = Object.keys(body).filter((k) => !allowed.includes(k));
  if (extra.length) throw new BadRequest(`Additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} ${extra.length === 1 ? 'was' : 'were'} unexpected)`);
}

/** Nova's parameter_types.name: 1–255 printable characters, no leading or trailing whitespace. */
function validName(action: string, field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length < 1 || value.length > 255 || /^\s|\s$/.test(value) || /[\x00-\x1f\x7f]/.test(value)) {
    throw new BadRequest(`Invalid input for field/attribute ${field}. Value: ${JSON.stringify(value)}. `
      + 'An invalid \'name\' value was provided. The name must be: printable characters. Can not start or end with whitespace.');
  }
  return value;
}

/** Nova's rebuild reply: the server's basic view (no extended attributes below 2.75) and adminPass. */
async function rebuildView(ctx: ControllerContext, req: FastifyRequest, instance: InstanceRecord, adminPass: string): Promise<Json> {
  const full = serverDetail(req, publicBase(ctx), instance, await getPorts(ctx.store.reader, instance.portIds));
  const body: Json = {};
  for (const [k, v] of Object.entries(full)) {
    if (!atLeast(req, '2.75') && (/^OS-(EXT|SRV-USG)/.test(k) || ['security_groups', 'os-extended-volumes:volumes_attached', 'config_drive'].includes(k))) continue;
    if (k === 'key_name' && !atLeast(req, '2.54')) continue;
    body[k] = v;
  }
  body.adminPass = adminPass;
  return withServerGroups(ctx, req, instance, body);
}

registerServerAction('rebuild', REBUILD_ARGS, async (ctx, req, instance, args) => {
  const body = bodyObject('rebuild', args, false)!;
  const allowed = ['imageRef', 'name', 'adminPass', 'metadata', 'preserve_ephemeral', 'OS-DCF:diskConfig', 'accessIPv4', 'accessIPv6'];
  if (!atLeast(req, '2.57')) allowed.push('personality');
  if (atLeast(req, '2.19')) allowed.push('description');
  if (atLeast(req, '2.54')) allowed.push('key_name');
  if (atLeast(req, '2.57')) allowed.push('user_data');
  if (atLeast(req, '2.63')) allowed.push('trusted_image_certificates');
  if (atLeast(req, '2.90')) allowed.push('hostname');
  onlyKeys(body, allowed);
  if (body.imageRef === undefined) {
    throw new BadRequest(`Invalid input for field/attribute rebuild. Value: ${JSON.stringify(body)}. 'imageRef' is a required property`);
  }
  if (typeof body.imageRef !== 'string') {
    throw new BadRequest(`Invalid input for field/attribute imageRef. Value: ${JSON.stringify(body.imageRef)}. ${JSON.stringify(body.imageRef)} is not of type 'string'`);
  }
  const name = body.name === undefined ? undefined : validName('rebuild', 'name', body.name);
  if (body.adminPass !== undefined && typeof body.adminPass !== 'string') {
    throw new BadRequest(`Invalid input for field/attribute adminPass. Value: ${JSON.stringify(body.adminPass)}. ${JSON.stringify(body.adminPass)} is not of type 'string'`);
  }
  // Nova takes the image id from the end of an image URL too.
  const imageId = body.imageRef.split('/').pop()!;
  const image = await imageById(ctx.store.reader, imageId);
  const visible = image && canSee(req.auth, image);
  if (!image || !visible || image.status !== 'active') throw new BadRequest('Cannot find image for rebuild');
  const rebuilt = await startRebuild(ctx, requesterOf(req), instance, { imageRef: image.id, name, imageProperties: hwPropertiesOf(image.properties) });
  const adminPass = (body.adminPass as string | undefined) ?? generatedAdminPass();
  return {
    status: 202,
    body: { server: await rebuildView(ctx, req, rebuilt, adminPass) },
    headers: { location: `${publicBase(ctx)}/compute/v2.1/servers/${instance.uuid}` },
  };
});

registerServerAction('rescue', RESCUE_ARGS, async (ctx, req, instance, args) => {
  const body = bodyObject('rescue', args, true) ?? {};
  onlyKeys(body, ['adminPass', 'rescue_image_ref']);
  if (body.adminPass !== undefined && typeof body.adminPass !== 'string') {
    throw new BadRequest(`Invalid input for field/attribute adminPass. Value: ${JSON.stringify(body.adminPass)}. ${JSON.stringify(body.adminPass)} is not of type 'string'`);
  }
  let rescueImage = instance.imageRef;
  if (body.rescue_image_ref !== undefined) {
    if (typeof body.rescue_image_ref !== 'string') {
      throw new BadRequest(`Invalid input for field/attribute rescue_image_ref. Value: ${JSON.stringify(body.rescue_image_ref)}. ${JSON.stringify(body.rescue_image_ref)} is not of type 'string'`);
    }
    const image = await imageById(ctx.store.reader, body.rescue_image_ref);
    const visible = image && canSee(req.auth, image);
    if (!image || !visible) throw new NotFound(`Image ${body.rescue_image_ref} could not be found.`);
    if (image.status !== 'active') throw new BadRequest(`Requested rescue image '${body.rescue_image_ref}' is not supported`);
    rescueImage = image.id;
  }
  await startRescue(ctx, requesterOf(req), instance, rescueImage);
  return { status: 200, body: { adminPass: (body.adminPass as string | undefined) ?? generatedAdminPass() } };
});

registerServerAction('unrescue', NO_ARGS, async (ctx, req, instance) => {
  await startUnrescue(ctx, requesterOf(req), instance);
  return { status: 202 };
});

registerServerAction('createImage', CREATE_IMAGE_ARGS, async (ctx, req, instance, args) => {
  const body = bodyObject('createImage', args, false)!;
  onlyKeys(body, ['name', 'metadata']);
  if (body.name === undefined) {
    throw new BadRequest(`Invalid input for field/attribute createImage. Value: ${JSON.stringify(body)}. 'name' is a required property`);
  }
  const name = validName('createImage', 'name', body.name);
  const metadata: Record<string, string> = {};
  if (body.metadata !== undefined) {
    if (typeof body.metadata !== 'object' || body.metadata === null || Array.isArray(body.metadata)) {
      throw new BadRequest(`Invalid input for field/attribute metadata. Value: ${JSON.stringify(body.metadata)}. ${JSON.stringify(body.metadata)} is not of type 'object'`);
    }
    for (const [k, v] of Object.entries(body.metadata as Json)) {
      if (typeof v !== 'string') throw new BadRequest(`Invalid input for field/attribute ${k}. Value: ${JSON.stringify(v)}. ${JSON.stringify(v)} is not of type 'string'`);
      metadata[k] = v;
    }
  }
  const imageId = await startSnapshot(ctx, requesterOf(req), instance, {
    name, metadata, userName: req.auth.userName, projectName: req.auth.projectName,
  });
  if (atLeast(req, '2.45')) return { status: 202, body: { image_id: imageId } };
  return { status: 202, headers: { location: `${publicBase(ctx)}/image/images/${imageId}` } };
});

registerServerAction('shelveOffload', NO_ARGS, async (ctx, req, instance) => {
  requireAdmin(req, 'os_compute_api:os-shelve:shelve_offload');
  await startShelveOffload(ctx, requesterOf(req), instance);
  return { status: 202 };
});
