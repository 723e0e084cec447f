import { TaskState } from '../domain/lifecycle/serverStatus.js';
import { instancesInTaskState } from '../storage/repositories/instances.js';
import type { ControllerContext } from './context.js';
import { placeInstance } from './lifecycle/build.js';
import { resumeInterruptedEvacuations } from './lifecycle/evacuate.js';
import { resumeInterruptedUnshelves } from './lifecycle/unshelve.js';
import { placeLiveMigration } from './lifecycle/liveMigration.js';
import { resumeColdMoves } from './lifecycle/coldMove.js';
import { latestMigrationOf } from '../storage/repositories/migrations.js';

/**
 * After a controller restart (or crash) nothing is lost: servers accepted
 * but not yet placed are placed now. Work already handed to hosts lives in
 * the guests table, which the agents reconcile by themselves.
 */
export async function resumeInterruptedWork(ctx: ControllerContext): Promise<void> {
  const waiting = await instancesInTaskState(ctx.store.db, TaskState.SCHEDULING);
  for (const instance of waiting) {
    await placeInstance(ctx, instance.uuid).catch((err) => ctx.log.error({ err, server: instance.uuid }, 'placement failed'));
  }
  await resumeColdMoves(ctx);
  await resumeInterruptedUnshelves(ctx);
  await resumeInterruptedEvacuations(ctx);
  for (const instance of await instancesInTaskState(ctx.store.db, TaskState.MIGRATING)) {
    const queued = await latestMigrationOf(ctx.store.db, instance.uuid, ['queued'], ['live-migration']);
    if (queued) await placeLiveMigration(ctx, queued.uuid).catch((err) => ctx.log.error({ err, server: instance.uuid }, 'live migration placement failed'));
  }
}
