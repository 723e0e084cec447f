import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { deleteGuest } from '../../storage/repositories/guests.js';
import { updateInstance } from '../../storage/repositories/instances.js';
import { nowIso } from '../../storage/repositories/json.js';
import { VmState } from '../../domain/lifecycle/serverStatus.js';
import { currentRequestId, withRequestId } from '../../protocol/requestIds.js';
import {
  acquireServerLease, readServerSnapshot, releaseServerLease, serverExists,
} from '../../storage/repositories/operations.js';
import type { ControllerContext } from '../context.js';
import { countOperation, type OperationOutcome } from '../services/metrics/registry.js';
import { operationFor } from './registry.js';
import { attachServerQueue, type ReconcileHint, type ServerQueue } from './serverQueue.js';
import { answered, waitedHost, type Operation, type ServerSnapshot } from './transitions.js';
import { KeyedWorkQueue, type WorkOutcome } from './workQueue.js';

/**
 * The operation engine: every server with a task state is advanced by
 * `reconcileServer`, which reads the server from the database and takes the
 * next step of its operation's transition table. The same function runs
 * after an API call, after an agent report, on the periodic resync and at
 * start-up (cluster.ts), through one keyed work queue per process; a lease on
 * the server's row keeps two processes from working on it at once.
 */
export interface OperationEngine extends ServerQueue {
  readonly queue: KeyedWorkQueue<ReconcileHint>;
}

/** Steps taken in one reconcile before the key is queued again (a guard against a step that changes nothing). */
const MAX_STEPS_PER_RUN = 8;
const LEASE_BUSY_RETRY_MS = 1000;
const CONCURRENCY = 32;

const engines = new WeakMap<ControllerContext, OperationEngine>();

/**
 * Lease owner ids. A listener's is stable (host name and listen address), so a
 * controller restarted on the same address takes its own leases back at once
 * instead of waiting for them to expire; two live processes cannot share one.
 */
export function processIdentity(listenAddress?: string): string {
  return listenAddress ? `${hostname()}@${listenAddress}` : `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

export function operationEngineOf(ctx: ControllerContext): OperationEngine {
  let engine = engines.get(ctx);
  if (!engine) {
    const owner = ctx.processId ?? processIdentity();
    const queue: KeyedWorkQueue<ReconcileHint> = new KeyedWorkQueue((uuid, hint) => reconcileServer(ctx, owner, uuid, hint), {
      concurrency: CONCURRENCY,
      onError: (uuid, err, attempt) => ctx.log.error({ err, server: uuid, attempt }, 'reconcile step failed; retrying'),
    });
    engine = {
      owner, queue,
      enqueue: (uuid, hint) => {
        const requestId = hint?.requestId ?? currentRequestId();
        queue.add(uuid, hint || requestId ? { hint: { ...hint, requestId } } : {});
      },
    };
    engines.set(ctx, engine);
    attachServerQueue(ctx, engine);
  }
  return engine;
}

function deadlineOf(ctx: ControllerContext, s: ServerSnapshot): number | null {
  const since = s.instance.taskChangedAt ? Date.parse(s.instance.taskChangedAt) : Date.parse(s.instance.updatedAt);
  return Number.isFinite(since) ? since + ctx.config.operation_timeout * 1000 : null;
}

/** Fault text of a step that waited too long: names the step (task state) and the host. */
export function deadlineMessage(ctx: ControllerContext, s: ServerSnapshot): string {
  return `Timed out after ${ctx.config.operation_timeout} s in task_state ${s.instance.taskState} `
    + `waiting for compute host ${waitedHost(s)}.`;
}

async function snapshotOf(ctx: ControllerContext, uuid: string): Promise<ServerSnapshot | null> {
  const rows = await readServerSnapshot(ctx.store.reader, uuid);
  return rows ? { ...rows, now: Date.now() } : null;
}

/** An idle server's guests on other hosts that are gone and wanted gone: their rows go. */
async function tidyIdle(ctx: ControllerContext, s: ServerSnapshot): Promise<void> {
  const leftovers = s.guests.filter((g) => g.host !== s.instance.host && answered(g)
    && g.desired_state === 'absent' && g.observed_state === 'absent');
  if (leftovers.length === 0) return;
  await ctx.store.transact(async (trx) => {
    for (const g of leftovers) await deleteGuest(trx, g.instance_uuid, g.host);
  });
}

async function clearUnownedTask(ctx: ControllerContext, s: ServerSnapshot, why: string): Promise<void> {
  ctx.log.warn({ server: s.instance.uuid, taskState: s.instance.taskState }, 'no operation advances this task state; clearing it');
  await ctx.store.transact((trx) => updateInstance(trx, s.instance.uuid, {
    taskState: null, fault: { code: 500, message: why, created: nowIso() },
  }, { taskState: s.instance.taskState }));
}

/**
 * Counts the operation once a step ended it (vdpa_operations_total): the
 * server is gone (a delete), or its task state now belongs to no operation
 * or another one. A step past the deadline is a timeout whatever it rolled
 * back to; otherwise a server left in ERROR is an error.
 */
function countIfEnded(ctx: ControllerContext, op: Operation, s: ServerSnapshot | null, timedOut: boolean): void {
  if (s && operationFor(s.instance.taskState) === op) return;
  const outcome: OperationOutcome = timedOut ? 'timeout' : s?.instance.vmState === VmState.ERROR ? 'error' : 'success';
  countOperation(ctx, op.action, outcome);
}

/**
 * Takes the next steps of the server's operation. Level-triggered: it acts
 * on what the database says now, never on the event that queued it.
 */
export function reconcileServer(ctx: ControllerContext, owner: string, uuid: string, hint?: ReconcileHint): Promise<WorkOutcome> {
  // The steps (their logs, the guest instructions they write) carry the id of the request that queued them.
  return withRequestId(hint?.requestId, () => reconcile(ctx, owner, uuid, hint));
}

async function reconcile(ctx: ControllerContext, owner: string, uuid: string, hint?: ReconcileHint): Promise<WorkOutcome> {
  const db = ctx.store.reader;
  const created = hint?.created?.uuid === uuid ? hint.created : undefined;
  if (!created && !(await ctx.store.autocommit((u) => acquireServerLease(u, uuid, owner, ctx.config.lease_seconds)))) {
    // Another process works on it (or it is gone): look again once its step is likely over.
    return (await serverExists(db, uuid)) ? { retryInMs: LEASE_BUSY_RETRY_MS } : undefined;
  }
  // A created server's lease was written with it, and its placement's write lets go of it.
  const release = !created;
  try {
    let s: ServerSnapshot | null = created ? { instance: created, guests: [], migration: null, now: Date.now() } : await snapshotOf(ctx, uuid);
    for (let i = 0; s && i < MAX_STEPS_PER_RUN; i++) {
      const state = s.instance.taskState;
      const op = operationFor(state);
      if (!state) {
        await tidyIdle(ctx, s);
        return;
      }
      const deadline = deadlineOf(ctx, s);
      if (!op) {
        // A task state nothing advances (written by hand, or by an older version): cleared at its deadline.
        if (deadline !== null && s.now > deadline) await clearUnownedTask(ctx, s, deadlineMessage(ctx, s));
        return;
      }
      const timedOut = deadline !== null && s.now > deadline;
      if (timedOut) {
        const why = deadlineMessage(ctx, s);
        ctx.log.warn({ reqId: hint?.requestId, server: uuid, host: s.instance.host, taskState: state, why }, 'operation past its deadline');
        await op.onDeadline(ctx, s, why);
      } else {
        const row = op.transitions.find((t) => t.state === state && t.when(s!));
        if (!row) return; // waiting on a host; its report queues the server again
        ctx.log.debug({ reqId: hint?.requestId, server: uuid, host: s.instance.host, taskState: state, on: row.on }, 'operation step');
        if ((await row.step(ctx, s)) === 'wait') return;
      }
      s = await snapshotOf(ctx, uuid);
      countIfEnded(ctx, op, s, timedOut);
    }
    if (s) return { retryInMs: LEASE_BUSY_RETRY_MS };
  } finally {
    if (release) await ctx.store.autocommit((u) => releaseServerLease(u, uuid, owner)).catch((err) => ctx.log.warn({ err, server: uuid }, 'lease release failed'));
  }
}
