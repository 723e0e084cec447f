import type { GuestReport } from '../../protocol/agentProtocol.js';
import { deleteGuest, recordGuestReportReadingInstance } from '../../storage/repositories/guests.js';
import type { ControllerContext } from '../context.js';
import { serverQueueOf } from '../operations/serverQueue.js';
import { onBuildReportIn } from './build.js';
import { onDeleteReportIn } from './delete.js';
import { TaskState } from '../../domain/lifecycle/serverStatus.js';
import type { Unit } from '../../storage/unit.js';

/**
 * Records one agent report. A report only records an observation: what it
 * means for the server is the operation engine's to decide, from the
 * database, after the commit (so a crash between the two loses nothing: the
 * resync reads the same rows). The two answers every server gets (its build
 * ran, its delete finished) are decided in the report's own transaction, as
 * the same conditional writes the engine's steps make, to keep the hot path
 * at one commit per report. Returns whether the engine has work to do.
 */
export async function recordAndHandleReport(ctx: ControllerContext, trx: Unit, report: GuestReport): Promise<boolean> {
  // Two hosts reporting on one server (a delete after a move, a migration) take turns, so the
  // second sees what the first did (e.g. the last remaining guest row) instead of a stale view.
  const { guest, instance } = await recordGuestReportReadingInstance(trx, report, { lock: true });
  if (!guest) return false; // stale or repeated: already recorded
  if (!instance) {
    if (guest.observed_state === 'absent') await deleteGuest(trx, report.instanceUuid, report.host);
    return false;
  }
  if (instance.taskState === TaskState.SPAWNING && await onBuildReportIn(trx, instance, guest)) return false;
  if (instance.taskState === TaskState.DELETING && await onDeleteReportIn(ctx, trx, instance, guest)) return false;
  if (instance.taskState) return true;
  // A guest the server no longer needs on this host (build failure, finished move) is gone.
  if (guest.desired_state === 'absent' && guest.observed_state === 'absent') {
    await deleteGuest(trx, report.instanceUuid, report.host);
  }
  return false;
}

export async function handleGuestReport(ctx: ControllerContext, report: GuestReport): Promise<void> {
  const advance = await ctx.store.transact((trx) => recordAndHandleReport(ctx, trx, report));
  if (advance) serverQueueOf(ctx).enqueue(report.instanceUuid);
}
