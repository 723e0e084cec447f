import { pino } from 'pino';
import { simulatedDiscovery } from '../../src/agent/simulatedHost.js';
import { DEFAULT_CONFIG } from '../../src/config.js';
import type { ControllerContext } from '../../src/controller/context.js';
import type { HostInventoryEntry } from '../../src/domain/inventory/hostInventory.js';
import type { Store } from '../../src/storage/db.js';
import { syncInventory } from '../../src/storage/devices/deviceWrites.js';
import { registerHost } from '../../src/storage/repositories/hosts.js';
import { asUnit } from './storageAccess.js';

/** Registers inventory hosts and their simulated devices the way an agent's first report does. */
export async function registerFleet(store: Store, entries: Iterable<HostInventoryEntry>): Promise<void> {
  const ratios = { cpu: DEFAULT_CONFIG.cpu_allocation_ratio, ram: DEFAULT_CONFIG.ram_allocation_ratio, disk: DEFAULT_CONFIG.disk_allocation_ratio };
  for (const entry of entries) {
    await registerHost(asUnit(store.db), {
      host: entry.name, serviceVersion: entry.serviceVersion, hypervisorType: 'QEMU', hostIp: entry.hostIp,
      vcpus: entry.vcpus, memoryMb: entry.memoryMb, diskGb: entry.diskGb, versions: entry.versions, vdpaUnsupportedReason: null,
    }, ratios);
    await syncInventory(asUnit(store.db), entry.name, (await simulatedDiscovery(entry).devices()).devices);
  }
}

/** A context for calling the scheduler directly; a candidate page smaller than the fleet makes it use the index. */
export function schedulerContext(store: Store, candidateLimit: number): ControllerContext {
  const config = { ...structuredClone(DEFAULT_CONFIG), scheduler_candidate_limit: candidateLimit };
  return { store, config, log: pino({ level: 'silent' }) } as unknown as ControllerContext;
}
