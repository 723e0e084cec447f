/**
 * Server metadata writes (Nova's `update_instance_metadata` /
 * `delete_instance_metadata`): only while the server is active, paused,
 * suspended or stopped with no task running, and never past the
 * metadata_items quota. The write is conditional on the state that was
 * checked, so an operation that starts meanwhile wins and this gets the 409.
 * (The lock is checked by the route, api/compute/lockGuard.ts.)
 */
import { invalidState } from '../../../domain/lifecycle/invalidState.js';
import { VmState } from '../../../domain/lifecycle/serverStatus.js';
import { requireStateRule } from '../../../domain/lifecycle/stateGuard.js';
import { requireMetadataQuota } from '../../../domain/servers/metadata.js';
import { getInstance, updateInstance, type InstanceRecord } from '../../../storage/repositories/instances.js';
import type { ControllerContext } from '../../context.js';

/** The vm_states in which metadata and tags may change (Nova). */
export const ANNOTATABLE_VM_STATES: readonly string[] = [VmState.ACTIVE, VmState.PAUSED, VmState.SUSPENDED, VmState.STOPPED];

export type MetadataAction = 'update metadata' | 'delete metadata';

/** Writes `change(current metadata)` as the server's metadata; resolves with what was written. */
export async function changeMetadata(
  ctx: ControllerContext, instance: InstanceRecord, action: MetadataAction,
  change: (current: Record<string, string>) => Record<string, string>,
): Promise<Record<string, string>> {
  requireStateRule(action, instance, { vmStates: ANNOTATABLE_VM_STATES, taskStates: [null] });
  const metadata = change({ ...instance.metadata });
  if (action === 'update metadata') requireMetadataQuota(metadata);
  const written = await ctx.store.transact((u) => updateInstance(u, instance.uuid, { metadata }, { taskState: null, vmState: instance.vmState }));
  if (!written) throw invalidState(action, (await getInstance(ctx.store.reader, instance.uuid)) ?? instance);
  return metadata;
}
