import type { ControllerLink } from '../../protocol/agentProtocol.js';
import { allGuests, pendingGuests } from '../../storage/repositories/guests.js';
import { heartbeat, registerHost, syncInventory } from '../../storage/repositories/hosts.js';
import type { ControllerContext } from '../context.js';
import { handleGuestReport } from '../lifecycle/reports.js';

/**
 * The controller's side of the agent protocol, on the database. In-process
 * agents call it directly; remote agents reach the same object through
 * /agent/v1 over HTTP.
 */
export function createAgentLink(ctx: ControllerContext): ControllerLink {
  const { db } = ctx.store;
  return {
    async registerHost(reg) {
      await registerHost(db, reg, {
        cpu: ctx.config.cpu_allocation_ratio, ram: ctx.config.ram_allocation_ratio, disk: ctx.config.disk_allocation_ratio,
      });
    },
    async reportInventory(report) {
      const r = await syncInventory(db, report.host, report.devices);
      if (r.added || r.removed || r.flagged) ctx.log.info({ host: report.host, ...r }, 'inventory changed');
    },
    async heartbeat(host) {
      await heartbeat(db, host);
    },
    pendingGuests: (host) => pendingGuests(db, host),
    allGuests: (host) => allGuests(db, host),
    reportGuest: (report) => handleGuestReport(ctx, report),
    waitForWork: (host, timeoutMs) => ctx.signals.wait(host, timeoutMs),
  };
}
