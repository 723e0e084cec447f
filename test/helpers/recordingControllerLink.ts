import type { ControllerLink, GuestAssignment, GuestReport, PowerStateReport } from '../../src/protocol/agentProtocol.js';

/**
 * A controller link for agent tests that drive the agent in this process:
 * it places `assignments` on the agent's host and records what the agent
 * reports (guest reports, power-state changes).
 */
export function recordingControllerLink(assignments: GuestAssignment[]) {
  const reports: GuestReport[] = [];
  const power: PowerStateReport[] = [];
  const link: ControllerLink = {
    registerHost: async () => {},
    reportInventory: async () => {},
    heartbeat: async () => {},
    pendingGuests: async () => [],
    allGuests: async () => assignments,
    reportGuest: async (r) => { reports.push(r); },
    reportPowerState: async (r) => { power.push(r); },
    waitForWork: async () => new Promise((r) => setTimeout(r, 50)),
  };
  return { link, reports, power };
}
