import { BadRequest } from '../../domain/errors.js';
import { updateService, type ServiceRow } from '../../storage/repositories/hosts.js';
import { nowIso } from '../../storage/repositories/json.js';
import type { ControllerContext } from '../context.js';

/**
 * Compute service status changes (PUT os-services) and who hears of them: the
 * scheduler's candidate index, the agents' fencing sweep, and the other
 * controller processes on the database (clusterServiceChanges.ts relays them).
 */
export type ServiceChange = { forcedDown?: boolean; disabled?: boolean };
/**
 * Listeners for state changes an operation may wait on (evacuate's source
 * coming back up). With several controller processes on one database they
 * fire in every process, whichever served the change.
 */
export type ServiceChangeListener = (host: string, change: ServiceChange) => Promise<void>;
const listeners: ServiceChangeListener[] = [];
export function onServiceChange(l: ServiceChangeListener): void {
  listeners.push(l);
}

/** Runs this process's listeners: for a change made here, or one another process relayed. */
export async function fireServiceChange(host: string, change: ServiceChange): Promise<void> {
  for (const l of listeners) await l(host, change);
}

/** Where a controller sends the changes it makes, for the other processes on its database. */
const relays = new WeakMap<ControllerContext, (host: string, change: ServiceChange) => void>();
export function relayServiceChanges(ctx: ControllerContext, relay: ((host: string, change: ServiceChange) => void) | null): void {
  if (relay) relays.set(ctx, relay);
  else relays.delete(ctx);
}

export async function changeService(
  ctx: ControllerContext, s: ServiceRow, change: { status?: string; disabled_reason?: string | null; forced_down?: boolean },
): Promise<ServiceRow> {
  const set: Partial<ServiceRow> = { updated_at: nowIso() };
  if (change.status !== undefined) {
    if (change.status !== 'enabled' && change.status !== 'disabled') throw new BadRequest(`Invalid status '${change.status}': use enabled or disabled.`);
    set.disabled = change.status === 'disabled' ? 1 : 0;
    set.disabled_reason = change.status === 'disabled' ? (change.disabled_reason ?? null) : null;
  } else if (change.disabled_reason !== undefined) {
    throw new BadRequest('disabled_reason is only accepted together with status "disabled".');
  }
  if (change.forced_down !== undefined) {
    if (typeof change.forced_down !== 'boolean') throw new BadRequest('forced_down must be a boolean.');
    set.forced_down = change.forced_down ? 1 : 0;
  }
  const updated = await ctx.store.transact((u) => updateService(u, s.id, set));
  const changed: ServiceChange = {
    ...(change.forced_down !== undefined ? { forcedDown: change.forced_down } : {}),
    ...(change.status !== undefined ? { disabled: change.status === 'disabled' } : {}),
  };
  // The other processes first: this one's listeners may take a while (the fencing sweep).
  relays.get(ctx)?.(updated.host, changed);
  await fireServiceChange(updated.host, changed);
  return updated;
}

