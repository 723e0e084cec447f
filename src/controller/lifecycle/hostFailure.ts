import { TaskState } from '../../domain/lifecycle/serverStatus.js';
import { COMPUTE_BINARY, listServices, serviceIsUp } from '../../storage/repositories/hosts.js';
import { instancesInTaskState } from '../../storage/repositories/instances.js';
import { readServerSnapshot } from '../../storage/repositories/operations.js';
import type { ControllerContext } from '../context.js';
import { serverQueueOf } from '../operations/serverQueue.js';
import { buildHostDown } from './build.js';
import { finishDelete } from './delete.js';

/**
 * Work handed to a host that went down must not wait forever: a build on a
 * dead host fails there (rescheduled to another host while attempts are
 * left, else ERROR with a fault that says why, claims and ports released),
 * and a delete completes without the host — its agent removes the leftover
 * guest when it comes back (reconcile). Other operations wait for the host,
 * their deadline, or evacuation. A singleton periodic job (cluster.ts).
 */
export async function failWorkOnDownHosts(ctx: ControllerContext): Promise<number> {
  const db = ctx.store.reader;
  const services = await listServices(db, { binary: COMPUTE_BINARY });
  const down = new Set(services.filter((s) => !serviceIsUp(s, ctx.config.service_down_time)).map((s) => s.host));
  if (down.size === 0) return 0;
  let handled = 0;
  for (const instance of await instancesInTaskState(db, TaskState.SPAWNING)) {
    if (!instance.host || !down.has(instance.host)) continue;
    const snapshot = await readServerSnapshot(db, instance.uuid);
    if (snapshot?.instance.taskState !== TaskState.SPAWNING) continue;
    await buildHostDown(ctx, { ...snapshot, now: Date.now() });
    serverQueueOf(ctx).enqueue(instance.uuid);
    handled += 1;
  }
  for (const instance of await instancesInTaskState(db, TaskState.DELETING)) {
    if (!instance.host || !down.has(instance.host)) continue;
    await finishDelete(ctx, instance.uuid);
    handled += 1;
  }
  return handled;
}

