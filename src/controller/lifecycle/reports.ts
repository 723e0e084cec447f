import type { Kysely } from 'kysely';
import type { GuestReport } from '../../protocol/agentProtocol.js';
import { deleteGuest, recordGuestReport, type GuestRow } from '../../storage/repositories/guests.js';
import { getInstance, type InstanceRecord } from '../../storage/repositories/instances.js';
import type { Database } from '../../storage/schema.js';
import type { ControllerContext } from '../context.js';
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
  const guest = await recordGuestReport(trx, report);
  if (!guest) return; // stale or repeated: already handled
  const instance = await getInstance(trx, report.instanceUuid);
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
  const after = await ctx.store.db.transaction().execute((trx) => recordAndHandleReport(ctx, trx, report));
  if (after) await after();
}

/**
 * Several reports of one agent pass in one transaction. If any of them fails,
 * the whole batch rolls back and each report is handled on its own, so one
 * bad report costs the others nothing.
 */
export async function handleGuestReports(ctx: ControllerContext, reports: GuestReport[]): Promise<void> {
  if (reports.length === 1) return handleGuestReport(ctx, reports[0]!);
  if (reports.length === 0) return;
  let afters: (AfterCommit | void)[];
  try {
    afters = await ctx.store.db.transaction().execute(async (trx) => {
      const out: (AfterCommit | void)[] = [];
      for (const r of reports) out.push(await recordAndHandleReport(ctx, trx, r));
      return out;
    });
  } catch (err) {
    ctx.log.warn({ err, reports: reports.length }, 'batched guest reports failed; handling them one by one');
    for (const r of reports) await handleGuestReport(ctx, r);
    return;
  }
  for (const after of afters) if (after) await after();
}
