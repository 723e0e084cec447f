import {
  dropClusterLease, holdClusterLease, releaseAllServerLeases, serversInProgress, serversToResync,
} from '../../storage/repositories/operations.js';
import type { ControllerContext } from '../context.js';
import { sweepOpenEvacuations } from '../lifecycle/evacuate.js';
import { sweepDiskTransfers } from '../lifecycle/coldMoveDisk.js';
import { failWorkOnDownHosts } from '../lifecycle/hostFailure.js';
import { offloadExpiredShelved } from '../lifecycle/shelveOffload.js';
import { operationEngineOf } from './engine.js';

/**
 * What keeps operations moving when no event comes: at start-up every
 * server with a task state is queued (by every process; the server leases
 * decide who works on each), and one process of the cluster, the holder of
 * the `periodic-jobs` lease, runs the singleton jobs:
 *  - resync every reconcile_interval: servers whose task state has not moved
 *    for that long are queued again (their deadlines are checked there);
 *  - takeover on every tick: servers whose lease expired (a process died in
 *    the middle of a step) are queued at once;
 *  - host failure every service_down_time / 4: work on dead hosts ends;
 *  - with the resync, evacuations whose old host is back and clean are
 *    completed (their claims there freed), servers shelved longer than
 *    shelved_offload_time (> 0) are offloaded, and cold-move disk blobs no
 *    move wants any more are removed (also at every process's start-up).
 * A process that dies loses the lease after lease_seconds and another one
 * takes the jobs over on its next tick.
 */
export const PERIODIC_JOBS_LEASE = 'periodic-jobs';

export interface OperationsRuntime {
  /** Whether this process runs the cluster's singleton jobs now. */
  isLeader(): boolean;
  stop(): Promise<void>;
}

export async function startOperations(ctx: ControllerContext): Promise<OperationsRuntime> {
  const engine = operationEngineOf(ctx);
  const db = ctx.store.reader;
  const cfg = ctx.config;
  // One process owns a SQLite file: leases left by a killed predecessor are nobody's.
  if (ctx.store.singleProcess) await ctx.store.autocommit((u) => releaseAllServerLeases(u));
  for (const uuid of await serversInProgress(db)) engine.enqueue(uuid);
  await sweepDiskTransfers(ctx).catch((err) => ctx.log.warn({ err }, 'sweeping disk transfer blobs failed'));

  const tickMs = Math.max(200, Math.min(cfg.lease_seconds * 1000 / 3, 5000));
  const resyncMs = cfg.reconcile_interval * 1000;
  const hostCheckMs = Math.max(1000, cfg.service_down_time * 1000 / 4);
  let leader = false;
  let lastResync = 0;
  let lastHostCheck = 0;
  let stopped = false;
  let running: Promise<void> = Promise.resolve();

  const jobs = async () => {
    const wasLeader = leader;
    leader = await ctx.store.autocommit((u) => holdClusterLease(u, PERIODIC_JOBS_LEASE, engine.owner, cfg.lease_seconds));
    if (!leader) return;
    if (!wasLeader) ctx.log.info({ owner: engine.owner }, 'running the cluster\'s periodic jobs');
    const now = Date.now();
    const resync = !wasLeader || now - lastResync >= resyncMs;
    if (resync) lastResync = now;
    for (const uuid of await serversToResync(db, resync ? resyncMs : null)) engine.enqueue(uuid);
    if (resync) await sweepOpenEvacuations(ctx);
    if (resync) await offloadExpiredShelved(ctx);
    if (resync) await sweepDiskTransfers(ctx);
    if (now - lastHostCheck >= hostCheckMs) {
      lastHostCheck = now;
      await failWorkOnDownHosts(ctx);
    }
  };
  const timer = setInterval(() => {
    if (stopped) return;
    running = running.then(jobs).catch((err) => ctx.log.error({ err }, 'periodic operation jobs failed'));
  }, tickMs);
  timer.unref();
  running = running.then(jobs).catch((err) => ctx.log.error({ err }, 'periodic operation jobs failed'));

  return {
    isLeader: () => leader,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
      await engine.queue.stop();
      if (leader) await ctx.store.autocommit((u) => dropClusterLease(u, PERIODIC_JOBS_LEASE, engine.owner)).catch(() => undefined);
    },
  };
}
