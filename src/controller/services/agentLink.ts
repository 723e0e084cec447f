import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Conflict } from '../../domain/errors.js';
import type { ControllerLink } from '../../protocol/agentProtocol.js';
import { allGuests, pendingGuests } from '../../storage/repositories/guests.js';
import { syncInventory } from '../../storage/devices/deviceWrites.js';
import { heartbeat, registerHost, serviceForcedDown } from '../../storage/repositories/hosts.js';
import { onServiceChange } from './serviceChanges.js';
import type { ControllerContext } from '../context.js';
import { settleEvacuatedSource, sweepEvacuationsFrom } from '../lifecycle/evacuate.js';
import { handleGuestReport } from '../lifecycle/reports.js';
import { syncPowerState } from '../lifecycle/powerSync.js';
import { receiveSnapshotData } from '../lifecycle/snapshot.js';
import { openDiskTransfer, receiveDiskTransfer } from '../lifecycle/coldMoveDisk.js';
import { answerConsoleRequest, pendingConsoleRequests } from './consoleLog.js';

const fencingWired = new WeakSet<ControllerContext>();

/**
 * When an operator sets a forced-down service up again, its agent gets its
 * pending work at once (e.g. destroying a guest evacuated while it was down).
 */
function wireFencing(ctx: ControllerContext): void {
  if (fencingWired.has(ctx)) return;
  fencingWired.add(ctx);
  onServiceChange(async (host, change) => {
    if (change.forcedDown !== false) return;
    await sweepEvacuationsFrom(ctx, host).catch((err) => ctx.log.error({ err, host }, 'evacuation sweep failed'));
    ctx.signals.notify(host);
  });
}

/**
 * The controller's side of the agent protocol, on the database. In-process
 * agents call it directly; remote agents reach the same object through
 * /agent/v1 over HTTP.
 *
 * Fencing: while a compute service is forced down its agent is handed no
 * work; its full guest list is refused rather than returned empty, because an
 * agent removes every guest missing from that list.
 */
export function createAgentLink(ctx: ControllerContext): ControllerLink {
  const db = ctx.store.reader;
  wireFencing(ctx);
  return {
    async registerHost(reg) {
      await ctx.store.transact((u) => registerHost(u, reg, {
        cpu: ctx.config.cpu_allocation_ratio, ram: ctx.config.ram_allocation_ratio, disk: ctx.config.disk_allocation_ratio,
      }));
      if (!(await serviceForcedDown(db, reg.host))) await sweepEvacuationsFrom(ctx, reg.host);
    },
    async reportInventory(report) {
      const r = await ctx.store.transact((u) => syncInventory(u, report.host, report.devices));
      if (r.added || r.removed || r.flagged) ctx.log.info({ host: report.host, ...r }, 'inventory changed');
    },
    async heartbeat(host) {
      await ctx.store.autocommit((u) => heartbeat(u, host));
    },
    pendingGuests: (host) => pendingGuests(db, host),
    async allGuests(host) {
      if (await serviceForcedDown(db, host)) {
        throw new Conflict(`Compute service of ${host} is forced down: it gets no work until it is set up again.`);
      }
      return allGuests(db, host);
    },
    async reportGuest(report) {
      await handleGuestReport(ctx, report);
      await settleEvacuatedSource(ctx, report);
    },
    reportPowerState: (report) => syncPowerState(ctx, report),
    waitForWork: (host, timeoutMs, signal) => ctx.signals.wait(host, timeoutMs, signal),
    pendingConsoleRequests: (host) => pendingConsoleRequests(ctx, host),
    answerConsoleRequest: (answer) => answerConsoleRequest(ctx, answer),
    uploadSnapshot: (host, uuid, imageId, file) => receiveSnapshotData(ctx, host, uuid, imageId, createReadStream(file)),
    uploadDiskTransfer: (host, uuid, migration, file) => receiveDiskTransfer(ctx, host, uuid, migration, createReadStream(file)),
    async downloadDiskTransfer(host, uuid, migration, file) {
      const blob = await openDiskTransfer(ctx, host, uuid, migration);
      await pipeline(blob.stream, createWriteStream(file));
    },
  };
}
