import { removeDiskTransfersOf } from '../services/diskTransfers.js';
import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import { releaseConsumer } from '../../storage/repositories/claims.js';
import { deleteGuest, deleteGuestsOf, guestsOfInstance, guestSpecOf, hasGuests, setDesiredGuest, type GuestRow } from '../../storage/repositories/guests.js';
import { COMPUTE_BINARY, listServices, serviceIsUp } from '../../storage/repositories/hosts.js';
import { removeInstanceRow } from '../../storage/repositories/quotas.js';
import { heldByServer } from '../services/quotas.js';
import { getInstance, updateInstance, type InstanceRecord } from '../../storage/repositories/instances.js';
import { nowIso } from '../../storage/repositories/json.js';
import type { ControllerContext } from '../context.js';
import { failedOn, reached, type Operation, type ServerSnapshot } from '../operations/transitions.js';
import { deletePortsCreatedFor, unbindInstancePorts } from './portBindings.js';
import { releaseColdMoveClaims } from './coldMoveClaims.js';
import type { Unit } from '../../storage/unit.js';

/** Compute hosts whose service is up now: their agents can remove a guest. */
/** Which of these hosts' compute services are up (a server's guests are on one or two hosts: read just those). */
async function upComputeHosts(ctx: ControllerContext, trx: Unit, guests: GuestRow[]): Promise<Set<string>> {
  const up = new Set<string>();
  for (const host of new Set(guests.map((g) => g.host))) {
    const [svc] = await listServices(trx, { host, binary: COMPUTE_BINARY });
    if (svc && serviceIsUp(svc, ctx.config.service_down_time)) up.add(host);
  }
  return up;
}

/**
 * Asks every guest of the server that is still wanted somewhere to go: on an
 * up host its agent removes it, on a down host the row just goes (its agent
 * removes what it no longer owns when it comes back). Returns the hosts told.
 */
async function sendGuestsAway(trx: Unit, uuid: string, guests: GuestRow[], up: Set<string>): Promise<string[]> {
  const told: string[] = [];
  for (const g of guests) {
    if (up.has(g.host)) {
      await setDesiredGuest(trx, uuid, g.host, 'absent', guestSpecOf(g));
      told.push(g.host);
    } else {
      await deleteGuest(trx, uuid, g.host);
    }
  }
  return told;
}

/**
 * Delete: the agents of every host holding a guest remove it, then the
 * claims are freed and the ports unbound. A server whose host is down (or that
 * never had one) is deleted at once; an agent that comes back removes guests
 * it no longer owns.
 *
 * The task state is written before the guests are read, in one transaction:
 * an operation step that adds a guest (a move's destination) either committed
 * before, and its guest is read here, or finds the server deleting and
 * changes nothing.
 */
export async function startDelete(ctx: ControllerContext, instance: InstanceRecord): Promise<void> {
  const outcome = await ctx.store.transact(async (trx) => {
    if (!(await updateInstance(trx, instance.uuid, { taskState: TaskState.DELETING }))) return null;
    const guests = await guestsOfInstance(trx, instance.uuid);
    const told = await sendGuestsAway(trx, instance.uuid, guests, await upComputeHosts(ctx, trx, guests));
    if (told.length > 0) return told;
    // Nothing runs anywhere: freed now (the device feed tells the candidate index).
    const fresh = await getInstance(trx, instance.uuid);
    if (fresh) await finishDeleteIn(trx, fresh);
    return told;
  });
  for (const host of outcome ?? []) ctx.signals.notify(host);
  // A server deleted mid-move leaves no disk of its move on the controller.
  if (outcome) await removeDiskTransfersOf(ctx.imageDir, instance.uuid).catch(() => undefined);
}

/** A step that ran alongside the delete wanted a guest again: it is told to go too (or, on a down host, its row goes). */
async function guestsWantedAgain(ctx: ControllerContext, s: ServerSnapshot): Promise<void> {
  const told = await ctx.store.transact(async (trx) => {
    const fresh = await getInstance(trx, s.instance.uuid);
    if (fresh?.taskState !== TaskState.DELETING) return [];
    const wanted = (await guestsOfInstance(trx, fresh.uuid)).filter((g) => g.desired_state !== 'absent');
    const hosts = await sendGuestsAway(trx, fresh.uuid, wanted, await upComputeHosts(ctx, trx, wanted));
    if (!(await hasGuests(trx, fresh.uuid))) await finishDeleteIn(trx, fresh);
    return hosts;
  });
  ctx.log.warn({ server: s.instance.uuid, hosts: told }, 'guests wanted again during a delete: told to go');
  for (const host of told) ctx.signals.notify(host);
}

/**
 * | task state | observation                           | step                                              |
 * |------------|---------------------------------------|---------------------------------------------------|
 * | deleting   | a host reports its guest gone         | that guest row goes; the last one finishes delete |
 * | deleting   | no guest left on any host             | claims freed, ports unbound, server removed       |
 * | deleting   | a host failed to remove the guest     | ERROR with the host's message (claims kept)       |
 * | deleting   | a guest wanted again (a step that ran | told to go (on a down host its row goes)          |
 * |            | alongside the delete)                 |                                                   |
 * | deleting   | deadline                              | ERROR, fault naming the host (claims kept: the    |
 * |            |                                       | guest may still run there; delete again)          |
 */
async function guestGoneIn(trx: Unit, instance: InstanceRecord, guest: GuestRow): Promise<void> {
  await deleteGuest(trx, instance.uuid, guest.host);
  if (!(await hasGuests(trx, instance.uuid))) await finishDeleteIn(trx, instance);
}

async function deleteFailedIn(trx: Unit, instance: InstanceRecord, message: string): Promise<void> {
  await updateInstance(trx, instance.uuid, {
    vmState: VmState.ERROR, taskState: null, fault: { code: 500, message, created: nowIso() },
  }, { taskState: TaskState.DELETING });
}

const goneGuest = (s: ServerSnapshot) => s.guests.find((g) => reached(g, 'absent'));
const stuckGuest = (s: ServerSnapshot) => s.guests.find((g) => failedOn(g) && g.desired_state === 'absent');

/** The agents' answers to a delete, in the transaction that records the report (reports.ts); true when handled. */
export async function onDeleteReportIn(
  ctx: ControllerContext, trx: Unit, instance: InstanceRecord, guest: GuestRow,
): Promise<boolean> {
  if (reached(guest, 'absent')) {
    await guestGoneIn(trx, instance, guest);
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
      step: (ctx, s) => ctx.store.transact((trx) => guestGoneIn(trx, s.instance, goneGuest(s)!)),
    },
    {
      state: TaskState.DELETING, on: 'no guest left on any host', when: (s) => s.guests.length === 0,
      step: (ctx, s) => finishDelete(ctx, s.instance.uuid),
    },
    {
      state: TaskState.DELETING, on: 'a host failed to remove the guest', when: (s) => stuckGuest(s) !== undefined,
      step: (ctx, s) => ctx.store.transact((trx) => deleteFailedIn(trx, s.instance, stuckGuest(s)!.error!)),
    },
    {
      state: TaskState.DELETING, on: 'a guest wanted again', when: (s) => s.guests.some((g) => g.desired_state !== 'absent'),
      step: guestsWantedAgain,
    },
  ],
  async onDeadline(ctx, s, why) {
    await ctx.store.transact((trx) => deleteFailedIn(trx, s.instance, why));
  },
};

export async function finishDelete(ctx: ControllerContext, uuid: string): Promise<void> {
  await ctx.store.transact(async (trx) => {
    const instance = await getInstance(trx, uuid);
    if (!instance) return;
    await finishDeleteIn(trx, instance);
  });
}

/** Frees everything the server holds and removes it; `instance` was read in this same transaction. */
async function finishDeleteIn(trx: Unit, instance: InstanceRecord): Promise<void> {
  const uuid = instance.uuid;
  await releaseConsumer(trx, uuid);
  // A server deleted mid-move also holds claims under its migration's uuid (an evacuation's stay until
  // its source host is back and has removed the old guest).
  await releaseColdMoveClaims(trx, uuid);
  await unbindInstancePorts(trx, instance);
  await deletePortsCreatedFor(trx, instance);
  await deleteGuestsOf(trx, uuid);
  await removeInstanceRow(trx, instance, heldByServer(instance));
}
