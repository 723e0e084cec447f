import type { Logger } from 'pino';
import { parseDeviceSpecs } from '../domain/pci/deviceSpec.js';
import { simulatedFunctions, type HostInventoryEntry } from '../domain/inventory/hostInventory.js';
import { vdpaSupportProblem } from '../domain/inventory/hostRequirements.js';
import type { ControllerLink } from '../protocol/agentProtocol.js';
import { ComputeAgent, type HostDiscovery } from './computeAgent.js';
import { SimulatedDriver } from './drivers/simulated.js';
import { devicesToReport } from './trackedDevices.js';

/** A host from the inventory file, discovered as if its sysfs said so. */
export function simulatedDiscovery(entry: HostInventoryEntry): HostDiscovery {
  const specs = parseDeviceSpecs(entry.deviceSpec);
  return {
    versions: async () => entry.versions,
    devices: async () => {
      const problem = vdpaSupportProblem(entry.versions);
      return { devices: devicesToReport(simulatedFunctions(entry), specs, problem), vdpaUnsupportedReason: problem };
    },
  };
}

export function simulatedAgent(entry: HostInventoryEntry, link: ControllerLink, log: Logger, opts: { heartbeatMs?: number; rediscoverMs?: number } = {}): { agent: ComputeAgent; driver: SimulatedDriver } {
  // The host's chardev set is built when a guest starts rather than kept per
  // host: an all-in-one with 10,000 hosts would hold 640,000 strings for nothing.
  const driver = new SimulatedDriver({ hostName: entry.name, availableChardevs: () => chardevsOf(entry) });
  const agent = new ComputeAgent({
    identity: {
      host: entry.name, serviceVersion: entry.serviceVersion, hypervisorType: 'QEMU', hostIp: entry.hostIp,
      vcpus: entry.vcpus, memoryMb: entry.memoryMb, diskGb: entry.diskGb,
    },
    discovery: simulatedDiscovery(entry),
    driver,
    link,
    log: log.child({ host: entry.name }),
    heartbeatMs: opts.heartbeatMs,
    rediscoverMs: opts.rediscoverMs,
  });
  return { agent, driver };
}

function chardevsOf(entry: HostInventoryEntry): Set<string> {
  return new Set(simulatedFunctions(entry).map((f) => f.vdpaChardev).filter((c): c is string => c !== null));
}
