/**
 * `GET /servers[/detail]` filters on tags (2.26+: `tags`, `tags-any`,
 * `not-tags`, `not-tags-any`, each a comma-separated list) and on the lock
 * (2.73+: `locked=true|false`), as Nova reads them; below their microversion
 * Nova ignores them.
 */
import type { FastifyRequest } from 'fastify';
import { BadRequest } from '../../../domain/errors.js';
import { tagFilterOf } from '../../../domain/servers/tags.js';
import type { InstanceListFilter } from '../../../storage/repositories/instances.js';
import { atLeast } from './microversion.js';

export function tagAndLockFilters(req: FastifyRequest): Pick<InstanceListFilter, 'tags' | 'tagsAny' | 'notTags' | 'notTagsAny' | 'locked'> {
  const q = req.query as Record<string, string | undefined>;
  const out: Pick<InstanceListFilter, 'tags' | 'tagsAny' | 'notTags' | 'notTagsAny' | 'locked'> = {};
  if (atLeast(req, '2.26')) {
    const tags = tagFilterOf(q.tags);
    const tagsAny = tagFilterOf(q['tags-any']);
    const notTags = tagFilterOf(q['not-tags']);
    const notTagsAny = tagFilterOf(q['not-tags-any']);
    if (tags) out.tags = tags;
    if (tagsAny) out.tagsAny = tagsAny;
    if (notTags) out.notTags = notTags;
    if (notTagsAny) out.notTagsAny = notTagsAny;
  }
  if (atLeast(req, '2.73') && q.locked !== undefined) {
    const v = q.locked.toLowerCase();
    if (!['true', 'false', '1', '0', 't', 'f', 'yes', 'no', 'y', 'n', 'on', 'off'].includes(v)) {
      throw new BadRequest(`Invalid input for query parameters locked. Value: ${q.locked}. '${q.locked}' is not one of ['true', 'false', '1', '0', 't', 'f', 'yes', 'no', 'y', 'n', 'on', 'off']`);
    }
    out.locked = ['true', '1', 't', 'yes', 'y', 'on'].includes(v);
  }
  return out;
}
