/**
 * Build, with Nova's reschedule: a spawn that fails on a host is placed again
 * on another, up to scheduler_max_attempts hosts in all.
 *
 * | task state | observation                              | step                                                        |
 * |------------|------------------------------------------|-------------------------------------------------------------|
 * | scheduling | (always)                                 | place: claim, bind, guest recorded → spawning; a previous   |
 * |            |                                          | attempt's host is released in the same transaction          |
 * | scheduling | no valid host                            | ERROR, fault "No valid host was found." (or the last host's |
 * |            |                                          | error after a failed attempt), claims and ports released    |
 * | spawning   | guest running on its host                | ACTIVE, ports ACTIVE (also inline with the report)          |
 * | spawning   | guest failed on its host, attempts left  | back to scheduling, host added to failed_hosts, guest there |
 * |            |                                          | asked absent (the agent removes what it half-defined)       |
 * | spawning   | guest failed, no attempt left            | ERROR with the host's message, claims and ports released    |
 * | spawning   | deadline (host never answered)           | as a failure on that host                                   |
 *
 * Every attempt is an event of the `create` instance action (host, result, message).
 */
import { PowerState } from '../../domain/guest/spec.js';
import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import { finishAction } from '../../storage/repositories/actions.js';
import { releaseConsumer } from '../../storage/repositories/claims.js';
import { setDesiredGuest, type GuestRow, guestSpecOf } from '../../storage/repositories/guests.js';
import { updateInstance, updateInstanceOrFail, type InstanceRecord } from '../../storage/repositories/instances.js';
import { nowIso } from '../../storage/repositories/json.js';
import { finishActionEvent, recordActionEvent } from '../../storage/repositories/operations.js';
import { readPortsLater, setPortStatus, type PortRecord } from '../../storage/repositories/ports.js';
import type { ControllerContext } from '../context.js';
import { NO_VALID_HOST, placeUnlessAborted, ScheduleAborted, scheduleAndClaim } from '../services/scheduler.js';
import { failedOn, ownGuest, reached, type Operation, type ServerSnapshot } from '../operations/transitions.js';
import { bindAndRunGuest, unbindInstancePorts } from './portBindings.js';
import { groupOf, resourceRequestFor, zoneOf } from './resources.js';
import { aggregateDirectoryOf } from '../services/aggregateDirectory.js';
import type { Unit } from '../../storage/unit.js';

const ACTION = 'create';
const ATTEMPT_EVENT = 'compute__do_build_and_run_instance';

/** The placement step of a build (first attempt or a reschedule). */
export async function placeInstance(ctx: ControllerContext, instance: InstanceRecord): Promise<'wait' | void> {
  const uuid = instance.uuid;
  const previous = instance.host;
  const request = resourceRequestFor(instance.flavor, instance.pciRequests, {
    // An admin's zone:host goes to that host only (Nova's forced host; the zone was checked at create).
    ...(instance.requestedHost ? { onlyHosts: [instance.requestedHost] } : zoneOf(instance)),
    ...(instance.failedHosts.length ? { excludeHosts: instance.failedHosts } : {}),
    ...groupOf(instance),
  }, instance.imageProperties);
  const directory = aggregateDirectoryOf(ctx);
  await directory.ready();
  const outcome = await placeUnlessAborted(ctx, () => scheduleAndClaim<Promise<PortRecord[]>>(ctx, request, { consumer: uuid, instanceUuid: uuid }, async (trx, host, claimed, ports) => {
    await updateInstanceOrFail(trx, uuid, { host, node: host, availabilityZone: directory.zoneNameOf(host), taskState: TaskState.SPAWNING, releaseLease: true },
      { taskState: TaskState.SCHEDULING }, () => new ScheduleAborted('server left scheduling'));
    // A reschedule: the failed host's claims go in the transaction that claims the next one.
    if (previous && previous !== host) await releaseConsumer(trx, uuid, previous);
    await bindAndRunGuest(trx, instance, host, claimed, await ports);
    if (previous) await recordActionEvent(trx, uuid, ACTION, { event: ATTEMPT_EVENT, host, result: null });
  }, (trx) => readPortsLater(trx, instance.portIds)));
  if (!outcome) return;
  if (outcome.placed) return 'wait';
  ctx.log.info({ server: uuid, reason: outcome.reason }, 'no valid host');
  // After a failed attempt the operator needs that host's error, not the scheduler's.
  const message = instance.fault?.message && previous ? instance.fault.message : NO_VALID_HOST;
  await buildFailed(ctx, instance, message, previous ? `${NO_VALID_HOST} ${outcome.reason}` : outcome.reason);
}

/** The build ends in ERROR before any host runs it: every claim released, the ports unbound. */
async function buildFailed(ctx: ControllerContext, instance: InstanceRecord, message: string, details?: string): Promise<void> {
  await ctx.store.transact(async (trx) => {
    const failed = await updateInstance(trx, instance.uuid, {
      vmState: VmState.ERROR, taskState: null, releaseLease: true,
      fault: { code: 500, message, ...(details ? { details } : {}), created: nowIso() },
    }, { taskState: instance.taskState });
    if (!failed) return;
    await releaseConsumer(trx, instance.uuid);
    await unbindInstancePorts(trx, instance);
    await finishAction(trx, instance.uuid, ACTION, 'Error', message);
  });
}

/** The guest runs: the server is ACTIVE. Runs in the report's own transaction (reports.ts) or as a step. */
async function activate(trx: Unit, instance: InstanceRecord): Promise<boolean> {
  const done = await updateInstance(trx, instance.uuid, {
    vmState: VmState.ACTIVE, taskState: null, powerState: PowerState.RUNNING, launchedAt: nowIso(), fault: null, requestedHost: null,
  }, { taskState: TaskState.SPAWNING });
  if (!done) return false;
  await setPortStatus(trx, instance.portIds, 'ACTIVE');
  if (instance.failedHosts.length) await finishActionEvent(trx, instance.uuid, ATTEMPT_EVENT, 'Success');
  await finishAction(trx, instance.uuid, ACTION, 'Success');
  return true;
}

/**
 * The agent's answer to a build, in the transaction that records the report:
 * the common case (the guest runs) commits with the report. Anything else is
 * left to the engine (true: handled here).
 */
export async function onBuildReportIn(trx: Unit, instance: InstanceRecord, guest: GuestRow): Promise<boolean> {
  if (guest.host !== instance.host || !reached(guest, 'running')) return false;
  return activate(trx, instance);
}

/**
 * The spawn failed on `host` (or the host never answered): another attempt
 * if any is left, else ERROR with the host's message and everything released.
 */
async function spawnFailed(ctx: ControllerContext, s: ServerSnapshot, message: string): Promise<void> {
  const { instance } = s;
  const host = instance.host!;
  const guest = ownGuest(s);
  const failedHosts = [...new Set([...instance.failedHosts, host])];
  const retry = failedHosts.length < ctx.config.scheduler_max_attempts;
  ctx.log.warn({ server: instance.uuid, host, error: message, retry }, 'spawn failed');
  await ctx.store.transact(async (trx) => {
    const fault = { code: 500, message, created: nowIso() };
    const moved = retry
      ? await updateInstance(trx, instance.uuid, { taskState: TaskState.SCHEDULING, failedHosts, fault }, { taskState: TaskState.SPAWNING, vmState: VmState.BUILDING })
      : await updateInstance(trx, instance.uuid, {
        vmState: VmState.ERROR, taskState: null, powerState: PowerState.NOSTATE, failedHosts, fault,
      }, { taskState: TaskState.SPAWNING });
    if (!moved) return;
    if (instance.failedHosts.length) await finishActionEvent(trx, instance.uuid, ATTEMPT_EVENT, 'Error', message);
    else await recordActionEvent(trx, instance.uuid, ACTION, { event: ATTEMPT_EVENT, host, result: 'Error', details: message });
    // The agent removes whatever it half-defined; its claims go with the next attempt's claim.
    if (guest) await setDesiredGuest(trx, instance.uuid, host, 'absent', guestSpecOf(guest));
    if (!retry) {
      await releaseConsumer(trx, instance.uuid);
      await unbindInstancePorts(trx, instance);
      await finishAction(trx, instance.uuid, ACTION, 'Error', message);
    }
  });
  ctx.signals.notify(host);
}

export const BUILD: Operation = {
  action: ACTION,
  transitions: [
    { state: TaskState.SCHEDULING, on: 'not placed yet', when: () => true, step: (ctx, s) => placeInstance(ctx, s.instance) },
    {
      state: TaskState.SPAWNING, on: 'guest running on its host', when: (s) => reached(ownGuest(s), 'running'),
      step: async (ctx, s) => { await ctx.store.transact((trx) => activate(trx, s.instance)); },
    },
    {
      state: TaskState.SPAWNING, on: 'guest failed on its host', when: (s) => failedOn(ownGuest(s)),
      step: (ctx, s) => spawnFailed(ctx, s, ownGuest(s)!.error!),
    },
  ],
  async onDeadline(ctx, s, why) {
    if (s.instance.taskState === TaskState.SPAWNING && s.instance.host) return spawnFailed(ctx, s, why);
    return buildFailed(ctx, s.instance, why);
  },
};

/** A build on a host whose compute service went down fails there (and is rescheduled when attempts are left). */
export async function buildHostDown(ctx: ControllerContext, s: ServerSnapshot): Promise<void> {
  await spawnFailed(ctx, s, `Compute host ${s.instance.host} went down while the server was being built.`);
}
