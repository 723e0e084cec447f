/**
 * Server tag writes (Nova's server_tags.py): only while the server is
 * active, paused, suspended or stopped (`update tag`, `update tags`,
 * `delete tag`, `delete tags`); no task-state or lock check, as Nova.
 */
import { NotFound } from '../../../domain/errors.js';
import { requireStateRule } from '../../../domain/lifecycle/stateGuard.js';
import { requireRoomForTag, requireTagInUrl } from '../../../domain/servers/tags.js';
import { addTag, removeTag, replaceTags, tagsOf } from '../../../storage/repositories/instanceTags.js';
import type { InstanceRecord } from '../../../storage/repositories/instances.js';
import type { ControllerContext } from '../../context.js';
import { ANNOTATABLE_VM_STATES } from './metadata.js';

type TagAction = 'update tag' | 'update tags' | 'delete tag' | 'delete tags';

function requireTaggable(instance: InstanceRecord, action: TagAction): void {
  requireStateRule(action, instance, { vmStates: ANNOTATABLE_VM_STATES, mustHaveLaunched: false });
}

/** Adds one tag; resolves true when it is new (201), false when the server had it (204). */
export async function addServerTag(ctx: ControllerContext, instance: InstanceRecord, tag: string): Promise<boolean> {
  requireTaggable(instance, 'update tag');
  requireTagInUrl(tag);
  return ctx.store.transact(async (trx) => {
    const tags = await tagsOf(trx, instance.uuid);
    requireRoomForTag(tags.length);
    if (tags.includes(tag)) return false;
    await addTag(trx, instance.uuid, tag);
    return true;
  });
}

export async function replaceServerTags(ctx: ControllerContext, instance: InstanceRecord, tags: string[]): Promise<string[]> {
  requireTaggable(instance, 'update tags');
  await ctx.store.transact((trx) => replaceTags(trx, instance.uuid, tags));
  return tagsOf(ctx.store.reader, instance.uuid);
}

export async function removeServerTag(ctx: ControllerContext, instance: InstanceRecord, tag: string): Promise<void> {
  requireTaggable(instance, 'delete tag');
  const removed = await ctx.store.transact((trx) => removeTag(trx, instance.uuid, tag));
  if (!removed) throw new NotFound(`Instance ${instance.uuid} has no tag '${tag}'`);
}

export async function removeAllServerTags(ctx: ControllerContext, instance: InstanceRecord): Promise<void> {
  requireTaggable(instance, 'delete tags');
  await ctx.store.transact((trx) => replaceTags(trx, instance.uuid, []));
}
