import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import { releaseConsumer } from '../../storage/repositories/claims.js';
import { deleteGuest, deleteGuestsOf, guestsOfInstance, hasGuests, setDesiredGuest, type GuestRow } from '../../storage/repositories/guests.js';
import { listServices, serviceIsUp } from '../../storage/repositories/hosts.js';
import { deleteInstanceRow, getInstance, updateInstance, type InstanceRecord } from '../../storage/repositories/instances.js';
import { nowIso } from '../../storage/repositories/json.js';
import type { Kysely } from 'kysely';
import type { Database } from '../../storage/schema.js';
import type { ControllerContext } from '../context.js';
import { noteClaimsChanged } from '../services/scheduler.js';
import { unbindInstancePorts } from './portBindings.js';
import { releaseColdMoveClaims } from './coldMoveClaims.js';

/**
 * Delete: the agents of every host holding a guest remove it, then the
 * claims are freed and the ports unbound. A server whose host is down (or that
 * never had one) is deleted at once; an agent that comes back removes guests
 * it no longer owns.
 */
export async function startDelete(ctx: ControllerContext, instance: InstanceRecord): Promise<void> {
  const { db } = ctx.store;
  const guests = await guestsOfInstance(db, instance.uuid);
  const hosts = [...new Set(guests.map((g) => g.host))];
  const upHosts: string[] = [];
  for (const host of hosts) {
    const [svc] = await listServices(db, { host, binary: 'nova-compute' });
    if (svc && serviceIsUp(svc, ctx.config.service_down_time)) upHosts.push(host);
  }
  if (upHosts.length === 0) {
    await finishDelete(ctx, instance.uuid);
    return;
  }
  await ctx.store.transact(async (trx) => {
    await updateInstance(trx, instance.uuid, { taskState: TaskState.DELETING });
    for (const g of guests) {
      if (upHosts.includes(g.host)) await setDesiredGuest(trx, instance.uuid, g.host, 'absent', JSON.parse(g.spec));
      else await deleteGuest(trx, instance.uuid, g.host);
    }
  });
  for (const host of upHosts) ctx.signals.notify(host);
}

/** The agents' answers to a delete, in the transaction that records the report (reports.ts). */
export async function onDeleteReportIn(
  ctx: ControllerContext, trx: Kysely<Database>, instance: InstanceRecord, guest: GuestRow,
): Promise<void> {
  if (guest.observed_state === 'absent') {
    await deleteGuest(trx, instance.uuid, guest.host);
    if (!(await hasGuests(trx, instance.uuid))) await finishDeleteIn(trx, ctx.store.dialect, instance);
    return;
  }
  if (guest.error && guest.desired_state === 'absent') {
    await updateInstance(trx, instance.uuid, {
      vmState: VmState.ERROR, taskState: null, fault: { code: 500, message: guest.error, created: nowIso() },
    }, { taskState: TaskState.DELETING });
  }
}

export async function finishDelete(ctx: ControllerContext, uuid: string): Promise<void> {
  const { dialect } = ctx.store;
  const host = await ctx.store.transact(async (trx) => {
    const instance = await getInstance(trx, uuid);
    if (!instance) return null;
    await finishDeleteIn(trx, dialect, instance);
    return instance.host;
  });
  if (host) noteClaimsChanged(ctx, host);
}

/** Frees everything the server holds and removes it; `instance` was read in this same transaction. */
async function finishDeleteIn(trx: Kysely<Database>, dialect: ControllerContext['store']['dialect'], instance: InstanceRecord): Promise<void> {
  const uuid = instance.uuid;
  await releaseConsumer(trx, dialect, uuid);
  // A server deleted mid-move also holds claims under its migration's uuid (an evacuation's stay until
  // its source host is back and has removed the old guest).
  await releaseColdMoveClaims(trx, dialect, uuid);
  await unbindInstancePorts(trx, instance);
  await deleteGuestsOf(trx, uuid);
  await deleteInstanceRow(trx, uuid);
}
