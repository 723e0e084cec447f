/**
 * Server tags (Nova 26, nova/api/openstack/compute/server_tags.py and
 * schemas/server_tags.py, microversion 2.26+): 1–60 characters without '/'
 * or ',', at most 50 per server.
 */
import { BadRequest } from '../errors.js';

export const MAX_TAGS_PER_SERVER = 50;
const TAG_PATTERN = '^[^,/]*$';

/** How Python shows a string (jsonschema's messages quote values with repr). */
export function pythonRepr(s: string): string {
  if (s.includes("'") && !s.includes('"')) return `"${s}"`;
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** jsonschema's message for a value that is not a tag, or null for a valid tag. */
export function tagProblem(tag: unknown): string | null {
  if (typeof tag !== 'string') return `${JSON.stringify(tag)} is not of type 'string'`;
  if (tag.length < 1) return `${pythonRepr(tag)} is too short`;
  if ([...tag].length > 60) return `${pythonRepr(tag)} is too long`;
  if (!new RegExp(TAG_PATTERN).test(tag)) return `${pythonRepr(tag)} does not match '${TAG_PATTERN}'`;
  return null;
}

/** `PUT /servers/{id}/tags/{tag}`: Nova's own text around the schema's message. */
export function requireTagInUrl(tag: string): void {
  const problem = tagProblem(tag);
  if (problem) {
    throw new BadRequest(`Tag '${tag}' is invalid. It must be a non empty string without characters '/' and ','. Validation error message: ${problem}`);
  }
}

/** `PUT /servers/{id}/tags` body `{"tags": [...]}` (schema update_all): the tags, deduplicated in their order. */
export function tagsOfBody(body: unknown): string[] {
  const invalid = (detail: string) => new BadRequest(`Invalid input for field/attribute tags. Value: ${JSON.stringify(body)}. ${detail}`);
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new BadRequest(`Invalid input for field/attribute tags. Value: ${JSON.stringify(body)}. 'tags' is a required property`);
  const extra = Object.keys(body).filter((k) => k !== 'tags');
  if (extra.length > 0) throw new BadRequest(`Additional properties are not allowed (${extra.map(pythonRepr).join(', ')} ${extra.length > 1 ? 'were' : 'was'} unexpected)`);
  const tags = (body as { tags?: unknown }).tags;
  if (tags === undefined) throw new BadRequest("'tags' is a required property");
  if (!Array.isArray(tags)) throw invalid(`${JSON.stringify(tags)} is not of type 'array'`);
  if (tags.length > MAX_TAGS_PER_SERVER) throw invalid(`${JSON.stringify(tags)} is too long`);
  for (const t of tags) {
    const problem = tagProblem(t);
    if (problem) throw invalid(problem);
  }
  return [...new Set(tags as string[])];
}

/** The per-server limit, checked before a tag is added (Nova checks it even when the tag is already there). */
export function requireRoomForTag(currentCount: number): void {
  if (currentCount >= MAX_TAGS_PER_SERVER) {
    throw new BadRequest(`The number of tags exceeded the per-server limit ${MAX_TAGS_PER_SERVER}`);
  }
}

/** A list filter's value (`?tags=a,b`): comma-separated tags. */
export function tagFilterOf(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const tags = value.split(',').map((t) => t.trim()).filter((t) => t !== '');
  return tags.length > 0 ? tags : undefined;
}
