import type { Logger } from 'pino';
import { parseDeviceSpecs } from '../domain/pci/deviceSpec.js';
import { simulatedFunctions, type HostInventoryEntry } from '../domain/inventory/hostInventory.js';
import { vdpaSupportProblem } from '../domain/inventory/hostRequirements.js';
import type { TrackedDevice } from '../domain/pci/device.js';
import type { HostNumaTopology } from '../domain/numa/hostTopology.js';
import type { ControllerLink, HostVersions } from '../protocol/agentProtocol.js';
import { ComputeAgent, type HostDiscovery } from './computeAgent.js';
import { FaultInjectingDriver } from './drivers/faultInjection.js';
import { SimulatedDriver } from './drivers/simulated.js';
import { devicesToReport } from './trackedDevices.js';

/**
 * A host from the inventory file, discovered as if its sysfs said so. The
 * device specs are parsed on each discovery (at registration and every
 * rediscovery) rather than kept: an all-in-one holds 10,000 of these.
 */
class SimulatedDiscovery implements HostDiscovery {
  constructor(private readonly entry: HostInventoryEntry) {}

  async versions(): Promise<HostVersions> {
    return this.entry.versions;
  }

  async devices(): Promise<{ devices: TrackedDevice[]; vdpaUnsupportedReason: string | null }> {
    const problem = vdpaSupportProblem(this.entry.versions);
    const specs = parseDeviceSpecs(this.entry.deviceSpec);
    return { devices: devicesToReport(simulatedFunctions(this.entry), specs, problem), vdpaUnsupportedReason: problem };
  }

  /**
   * The simulated hardware is the inventory entry, which never changes, so
   * neither do the devices: a rediscovery has nothing to walk. (10,000 hosts
   * rebuilding 65 devices each per minute were most of the all-in-one's
   * steady-state garbage, promoted straight to the old generation.)
   */
  stateToken(): string {
    return 'inventory-entry';
  }

  async numaTopology(): Promise<HostNumaTopology | null> {
    return this.entry.numa ?? null;
  }
}

export function simulatedDiscovery(entry: HostInventoryEntry): HostDiscovery {
  return new SimulatedDiscovery(entry);
}

export function simulatedAgent(entry: HostInventoryEntry, link: ControllerLink, log: Logger, opts: { heartbeatMs?: number; rediscoverMs?: number; pollMs?: number } = {}): { agent: ComputeAgent; driver: SimulatedDriver } {
  // The host's chardev set is built when a guest starts rather than kept per
  // host: an all-in-one with 10,000 hosts would hold 640,000 strings for nothing.
  const driver = new SimulatedDriver({ hostName: entry.name, availableChardevs: () => chardevsOf(entry) });
  // Only a host with faults pays for the wrapper; the caller keeps the simulator itself to inspect.
  const agentDriver = entry.faults ? new FaultInjectingDriver(driver, entry.faults) : driver;
  const agent = new ComputeAgent({
    identity: {
      host: entry.name, serviceVersion: entry.serviceVersion, hypervisorType: 'QEMU', hostIp: entry.hostIp,
      vcpus: entry.vcpus, memoryMb: entry.memoryMb, diskGb: entry.diskGb,
    },
    discovery: simulatedDiscovery(entry),
    driver: agentDriver,
    link,
    // Every line the agent logs names its host: no child logger per host.
    log,
    heartbeatMs: opts.heartbeatMs,
    rediscoverMs: opts.rediscoverMs,
    pollMs: opts.pollMs,
  });
  return { agent, driver };
}

function chardevsOf(entry: HostInventoryEntry): Set<string> {
  return new Set(simulatedFunctions(entry).map((f) => f.vdpaChardev).filter((c): c is string => c !== null));
}
