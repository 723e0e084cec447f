import type { GuestReport } from '../../protocol/agentProtocol.js';
import { deleteGuest, recordGuestReport, type GuestRow } from '../../storage/repositories/guests.js';
import { getInstance, type InstanceRecord } from '../../storage/repositories/instances.js';
import type { ControllerContext } from '../context.js';
import { onBuildReport } from './build.js';
import { onDeleteReport } from './delete.js';
import { TaskState } from '../../domain/lifecycle/serverStatus.js';

export type ReportHandler = (ctx: ControllerContext, instance: InstanceRecord, guest: GuestRow) => Promise<void>;

/** Which operation an agent's report advances, by the server's task state: one table, one module each. */
const handlers = new Map<string, ReportHandler>([
  [TaskState.SPAWNING, onBuildReport],
  [TaskState.DELETING, onDeleteReport],
]);

export function registerReportHandler(taskState: string, handler: ReportHandler): void {
  handlers.set(taskState, handler);
}

export async function handleGuestReport(ctx: ControllerContext, report: GuestReport): Promise<void> {
  const { db } = ctx.store;
  const guest = await recordGuestReport(db, report);
  if (!guest) return; // stale or repeated: already handled
  const instance = await getInstance(db, report.instanceUuid);
  if (!instance) {
    if (guest.observed_state === 'absent') await deleteGuest(db, report.instanceUuid, report.host);
    return;
  }
  const handler = instance.taskState ? handlers.get(instance.taskState) : undefined;
  if (handler) {
    await handler(ctx, instance, guest);
    return;
  }
  // A guest the server no longer needs on this host (build failure, finished move) is gone.
  if (guest.desired_state === 'absent' && guest.observed_state === 'absent') {
    await deleteGuest(db, report.instanceUuid, report.host);
  }
}
