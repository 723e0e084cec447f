/**
 * Server metadata (Nova 26, nova/api/openstack/compute/server_metadata.py,
 * schemas/server_metadata.py, nova/compute/api.py `_check_metadata_properties_quota`):
 * keys `^[a-zA-Z0-9-_:. ]{1,255}$`, string values up to 255 characters, at
 * most `metadata_items` (128) items.
 */
import { BadRequest, Forbidden } from '../errors.js';
import { pythonRepr } from './tags.js';

export const METADATA_ITEMS_QUOTA = 128;
const KEY = /^[a-zA-Z0-9-_:. ]{1,255}$/;

/** A `{"metadata": {...}}` (or `{"meta": {...}}`) object checked as Nova's schema does. */
export function metadataOfBody(body: unknown, field: 'metadata' | 'meta'): Record<string, string> {
  if (!body || typeof body !== 'object' || Array.isArray(body) || !(field in body)) {
    throw new BadRequest(`Invalid input for field/attribute ${field}. Value: ${JSON.stringify(body)}. '${field}' is a required property`);
  }
  const extra = Object.keys(body).filter((k) => k !== field);
  if (extra.length > 0) throw new BadRequest(`Additional properties are not allowed (${extra.map(pythonRepr).join(', ')} ${extra.length > 1 ? 'were' : 'was'} unexpected)`);
  const value = (body as Record<string, unknown>)[field];
  const invalid = (detail: string) => new BadRequest(`Invalid input for field/attribute ${field}. Value: ${JSON.stringify(value)}. ${detail}`);
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw invalid(`${JSON.stringify(value)} is not of type 'object'`);
  const items = value as Record<string, unknown>;
  if (field === 'meta' && Object.keys(items).length > 1) throw invalid(`${JSON.stringify(value)} has too many properties`);
  for (const [k, v] of Object.entries(items)) {
    if (!KEY.test(k)) throw invalid(`Additional properties are not allowed (${pythonRepr(k)} was unexpected)`);
    if (typeof v !== 'string') throw invalid(`${JSON.stringify(v)} is not of type 'string'`);
    if ([...v].length > 255) throw invalid(`${pythonRepr(v)} is too long`);
  }
  return items as Record<string, string>;
}

/** 403 when the server would hold more metadata items than the quota allows. */
export function requireMetadataQuota(metadata: Record<string, string>, quota = METADATA_ITEMS_QUOTA): void {
  if (quota >= 0 && Object.keys(metadata).length > quota) {
    throw new Forbidden(`Maximum number of metadata items exceeds ${quota}`);
  }
}
