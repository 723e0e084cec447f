import type { GuestReport } from '../../protocol/agentProtocol.js';
import { withRequestId } from '../../protocol/requestIds.js';
import { deleteGuest, recordGuestReportReadingInstance } from '../../storage/repositories/guests.js';
import type { ControllerContext } from '../context.js';
import { serverQueueOf } from '../operations/serverQueue.js';
import { BUILD, onBuildReportIn } from './build.js';
import { DELETE, onDeleteReportIn } from './delete.js';
import { reached } from '../operations/transitions.js';
import { countOperation, type OperationOutcome } from '../services/metrics/registry.js';
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
export async function recordAndHandleReport(
  ctx: ControllerContext, trx: Unit, report: GuestReport, ended?: (operation: string, outcome: OperationOutcome) => void,
): Promise<boolean> {
  // Two hosts reporting on one server (a delete after a move, a migration) take turns, so the
  // second sees what the first did (e.g. the last remaining guest row) instead of a stale view.
  const { guest, instance } = await recordGuestReportReadingInstance(trx, report, { lock: true });
  if (!guest) return false; // stale or repeated: already recorded
  if (!instance) {
    if (guest.observed_state === 'absent') await deleteGuest(trx, report.instanceUuid, report.host);
    return false;
  }
  if (instance.taskState === TaskState.SPAWNING && await onBuildReportIn(trx, instance, guest)) {
    ended?.(BUILD.action, 'success');
    return false;
  }
  if (instance.taskState === TaskState.DELETING && await onDeleteReportIn(ctx, trx, instance, guest)) {
    ended?.(DELETE.action, reached(guest, 'absent') ? 'success' : 'error');
    return false;
  }
  if (instance.taskState) return true;
  // A guest the server no longer needs on this host (build failure, finished move) is gone.
  if (guest.desired_state === 'absent' && guest.observed_state === 'absent') {
    await deleteGuest(trx, report.instanceUuid, report.host);
  }
  return false;
}

export function handleGuestReport(ctx: ControllerContext, report: GuestReport): Promise<void> {
  // In the scope of the request the instruction served, not of whatever delivered the report.
  return withRequestId(report.requestId, () => recordReport(ctx, report));
}

async function recordReport(ctx: ControllerContext, report: GuestReport): Promise<void> {
  let ended: [string, OperationOutcome] | null = null;
  const advance = await ctx.store.transact((trx) => {
    ended = null; // a unit run again starts afresh
    return recordAndHandleReport(ctx, trx, report, (operation, outcome) => { ended = [operation, outcome]; });
  });
  // Counted after the commit: a build or delete the report's own transaction finished (the engine counts the rest).
  if (ended) countOperation(ctx, ...(ended as [string, OperationOutcome]));
  if (advance) serverQueueOf(ctx).enqueue(report.instanceUuid);
}
