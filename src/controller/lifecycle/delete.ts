import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import { releaseConsumer } from '../../storage/repositories/claims.js';
import { deleteGuest, deleteGuestsOf, guestsOfInstance, hasGuests, setDesiredGuest, type GuestRow, guestSpecOf } from '../../storage/repositories/guests.js';
import { listServices, serviceIsUp } from '../../storage/repositories/hosts.js';
import { deleteInstanceRow, getInstance, updateInstance, type InstanceRecord } from '../../storage/repositories/instances.js';
import { nowIso } from '../../storage/repositories/json.js';
import type { Kysely } from 'kysely';
import type { Database } from '../../storage/schema.js';
import type { ControllerContext } from '../context.js';
import type { Dialect } from '../../storage/db.js';
import { failedOn, reached, type Operation, type ServerSnapshot } from '../operations/transitions.js';
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
      if (upHosts.includes(g.host)) await setDesiredGuest(trx, instance.uuid, g.host, 'absent', guestSpecOf(g));
      else await deleteGuest(trx, instance.uuid, g.host);
    }
  });
  for (const host of upHosts) ctx.signals.notify(host);
}

/**
 * | task state | observation                           | step                                              |
 * |------------|---------------------------------------|---------------------------------------------------|
 * | deleting   | a host reports its guest gone         | that guest row goes; the last one finishes delete |
 * | deleting   | no guest left on any host             | claims freed, ports unbound, server removed       |
 * | deleting   | a host failed to remove the guest     | ERROR with the host's message (claims kept)       |
 * | deleting   | deadline                              | ERROR, fault naming the host (claims kept: the    |
 * |            |                                       | guest may still run there; delete again)          |
 */
async function guestGoneIn(trx: Kysely<Database>, dialect: Dialect, instance: InstanceRecord, guest: GuestRow): Promise<void> {
  await deleteGuest(trx, instance.uuid, guest.host);
  if (!(await hasGuests(trx, instance.uuid))) await finishDeleteIn(trx, dialect, instance);
}

async function deleteFailedIn(trx: Kysely<Database>, instance: InstanceRecord, message: string): Promise<void> {
  await updateInstance(trx, instance.uuid, {
    vmState: VmState.ERROR, taskState: null, fault: { code: 500, message, created: nowIso() },
  }, { taskState: TaskState.DELETING });
}

const goneGuest = (s: ServerSnapshot) => s.guests.find((g) => reached(g, 'absent'));
const stuckGuest = (s: ServerSnapshot) => s.guests.find((g) => failedOn(g) && g.desired_state === 'absent');

/** The agents' answers to a delete, in the transaction that records the report (reports.ts); true when handled. */
export async function onDeleteReportIn(
  ctx: ControllerContext, trx: Kysely<Database>, instance: InstanceRecord, guest: GuestRow,
): Promise<boolean> {
  if (reached(guest, 'absent')) {
    await guestGoneIn(trx, ctx.store.dialect, instance, guest);
    return true;
  }
  if (failedOn(guest) && guest.desired_state === 'absent') {
    await deleteFailedIn(trx, instance, guest.error!);
    return true;
  }
  return false;
}

export const DELETE: Operation = {
  action: 'delete',
  transitions: [
    {
      state: TaskState.DELETING, on: 'a host reports its guest gone', when: (s) => goneGuest(s) !== undefined,
      step: (ctx, s) => ctx.store.transact((trx) => guestGoneIn(trx, ctx.store.dialect, s.instance, goneGuest(s)!)),
    },
    {
      state: TaskState.DELETING, on: 'no guest left on any host', when: (s) => s.guests.length === 0,
      step: (ctx, s) => finishDelete(ctx, s.instance.uuid),
    },
    {
      state: TaskState.DELETING, on: 'a host failed to remove the guest', when: (s) => stuckGuest(s) !== undefined,
      step: (ctx, s) => ctx.store.transact((trx) => deleteFailedIn(trx, s.instance, stuckGuest(s)!.error!)),
    },
  ],
  async onDeadline(ctx, s, why) {
    await ctx.store.transact((trx) => deleteFailedIn(trx, s.instance, why));
  },
};

export async function finishDelete(ctx: ControllerContext, uuid: string): Promise<void> {
  const { dialect } = ctx.store;
  await ctx.store.transact(async (trx) => {
    const instance = await getInstance(trx, uuid);
    if (!instance) return;
    await finishDeleteIn(trx, dialect, instance);
  });
}

/** Frees everything the server holds and removes it; `instance` was read in this same transaction. */
async function finishDeleteIn(trx: Kysely<Database>, dialect: Dialect, instance: InstanceRecord): Promise<void> {
  const uuid = instance.uuid;
  await releaseConsumer(trx, dialect, uuid);
  // A server deleted mid-move also holds claims under its migration's uuid (an evacuation's stay until
  // its source host is back and has removed the old guest).
  await releaseColdMoveClaims(trx, dialect, uuid);
  await unbindInstancePorts(trx, instance);
  await deleteGuestsOf(trx, uuid);
  await deleteInstanceRow(trx, uuid);
}
