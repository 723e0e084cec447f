import type { Kysely } from 'kysely';
import type { GuestReport } from '../../protocol/agentProtocol.js';
import { deleteGuest, recordGuestReportReadingInstance, type GuestRow } from '../../storage/repositories/guests.js';
import type { InstanceRecord } from '../../storage/repositories/instances.js';
import type { Database } from '../../storage/schema.js';
import type { ControllerContext } from '../context.js';
import { noteClaimsChanged } from '../services/scheduler.js';
import { onBuildReportIn } from './build.js';
import { onDeleteReportIn } from './delete.js';
import { TaskState } from '../../domain/lifecycle/serverStatus.js';

export type ReportHandler = (ctx: ControllerContext, instance: InstanceRecord, guest: GuestRow) => Promise<void>;

/** What to do once the report's transaction has committed (wake an agent, run a handler with its own transactions). */
export type AfterCommit = () => Promise<void> | void;

/**
 * A handler that runs inside the transaction recording the report, so the
 * report and what it advances commit together (one commit per report).
 */
export type InlineReportHandler = (
  ctx: ControllerContext, trx: Kysely<Database>, instance: InstanceRecord, guest: GuestRow,
) => Promise<AfterCommit | void>;

/** Which operation an agent's report advances, by the server's task state: one table, one module each. */
const handlers = new Map<string, ReportHandler>();
const inlineHandlers = new Map<string, InlineReportHandler>([
  [TaskState.SPAWNING, onBuildReportIn],
  [TaskState.DELETING, onDeleteReportIn],
]);

export function registerReportHandler(taskState: string, handler: ReportHandler): void {
  inlineHandlers.delete(taskState);
  handlers.set(taskState, handler);
}

/**
 * Records one report and, inside the same transaction, whatever an inline
 * handler does with it. Handlers registered with registerReportHandler open
 * their own transactions: they run after this one commits, as before.
 */
export async function recordAndHandleReport(ctx: ControllerContext, trx: Kysely<Database>, report: GuestReport): Promise<AfterCommit | void> {
  // Two hosts reporting on one server (a delete after a move, a migration) take turns, so the
  // second sees what the first did (e.g. the last remaining guest row) instead of a stale view.
  const { guest, instance } = await recordGuestReportReadingInstance(trx, report, { lock: ctx.store.dialect === 'postgres' });
  if (!guest) return; // stale or repeated: already handled
  if (!instance) {
    if (guest.observed_state === 'absent') await deleteGuest(trx, report.instanceUuid, report.host);
    return;
  }
  const inline = instance.taskState ? inlineHandlers.get(instance.taskState) : undefined;
  if (inline) return inline(ctx, trx, instance, guest);
  const handler = instance.taskState ? handlers.get(instance.taskState) : undefined;
  if (handler) return () => handler(ctx, instance, guest);
  // A guest the server no longer needs on this host (build failure, finished move) is gone.
  if (guest.desired_state === 'absent' && guest.observed_state === 'absent') {
    await deleteGuest(trx, report.instanceUuid, report.host);
  }
}

export async function handleGuestReport(ctx: ControllerContext, report: GuestReport): Promise<void> {
  const after = await ctx.store.transact((trx) => recordAndHandleReport(ctx, trx, report));
  // A guest gone from a host (delete, finished move, shelve) usually freed claims there:
  // the scheduler's candidate index reads that host again instead of waiting for its full reload.
  if (report.observedState === 'absent') noteClaimsChanged(ctx, report.host);
  if (after) await after();
}
