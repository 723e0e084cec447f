import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import { finishAction } from '../../storage/repositories/actions.js';
import { releaseConsumer } from '../../storage/repositories/claims.js';
import { COMPUTE_BINARY, listServices, serviceIsUp } from '../../storage/repositories/hosts.js';
import { instancesInTaskState, updateInstance } from '../../storage/repositories/instances.js';
import { nowIso } from '../../storage/repositories/json.js';
import type { ControllerContext } from '../context.js';
import { finishDelete } from './delete.js';
import { unbindInstancePorts } from './portBindings.js';

/**
 * Work handed to a host that went down must not wait forever: a build on a
 * dead host fails (its server goes to ERROR with a fault that says why, its
 * claims and ports are released), and a delete completes without the host —
 * its agent removes the leftover guest when it comes back (reconcile).
 * Other operations wait for the host or for evacuation, as in Nova.
 */
export async function failWorkOnDownHosts(ctx: ControllerContext): Promise<number> {
  const { db, dialect } = ctx.store;
  const services = await listServices(db, { binary: COMPUTE_BINARY });
  const down = new Set(services.filter((s) => !serviceIsUp(s, ctx.config.service_down_time)).map((s) => s.host));
  if (down.size === 0) return 0;
  let handled = 0;
  for (const instance of await instancesInTaskState(db, TaskState.SPAWNING)) {
    if (!instance.host || !down.has(instance.host)) continue;
    const message = `Compute host ${instance.host} went down while the server was being built.`;
    await ctx.store.transact(async (trx) => {
      const failed = await updateInstance(trx, instance.uuid, {
        vmState: VmState.ERROR, taskState: null, fault: { code: 500, message, created: nowIso() },
      }, { taskState: TaskState.SPAWNING });
      if (!failed) return;
      await releaseConsumer(trx, dialect, instance.uuid);
      await unbindInstancePorts(trx, instance);
      await finishAction(trx, instance.uuid, 'create', 'Error', message);
    });
    handled += 1;
  }
  for (const instance of await instancesInTaskState(db, TaskState.DELETING)) {
    if (!instance.host || !down.has(instance.host)) continue;
    await finishDelete(ctx, instance.uuid);
    handled += 1;
  }
  return handled;
}

/** Runs the check every `everyMs`; returns a stop function. */
export function watchHostFailures(ctx: ControllerContext, everyMs: number): () => void {
  const timer = setInterval(() => {
    failWorkOnDownHosts(ctx).catch((err) => ctx.log.error({ err }, 'host failure check failed'));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
