/**
 * HostDiscovery of a real hypervisor host: devices from sysfs filtered and
 * tagged by the operator's device_spec, the kernel's version from procfs and
 * libvirt's and QEMU's from the libvirt connection. A host below a vDPA
 * minimum reports no vDPA devices and says why (vdpaSupportProblem); the
 * agent logs that reason once, at registration.
 */
import type { Logger } from 'pino';
import { vdpaSupportProblem } from '../domain/inventory/hostRequirements.js';
import { parseDeviceSpecs } from '../domain/pci/deviceSpec.js';
import type { HostVersions } from '../protocol/agentProtocol.js';
import type { HostDiscovery } from './computeAgent.js';
import { readKernelRelease } from './discovery/hostVersions.js';
import { discoverFromSysfs } from './discovery/sysfs.js';
import { discoverNumaCells } from './discovery/numa.js';
import { parseCpuSpec } from '../domain/numa/cpuSet.js';
import { devicesToReport } from './trackedDevices.js';

export interface LibvirtHostOptions {
  /** Where sysfs is mounted (default /sys). */
  sysfsRoot?: string;
  /** Where procfs is mounted (default /proc): the kernel release is read there. */
  procRoot?: string;
  /** The operator's device_spec entries (checked here: a malformed one throws DeviceSpecError). */
  deviceSpec: unknown[];
  /** Also track vDPA devices without a PCI VF parent (vdpa_sim). */
  trackSoftwareVdpa?: boolean;
  /** libvirt's and QEMU's versions, e.g. `() => driver.connection().then(libvirtHostVersions)`. */
  libvirtVersions: () => Promise<{ libvirt: string; qemu: string }>;
  log: Logger;
  /** Nova's [compute] cpu_dedicated_set / cpu_shared_set (CPU lists), when the operator sets them. */
  cpuDedicatedSet?: string;
  cpuSharedSet?: string;
}

export function libvirtHostDiscovery(o: LibvirtHostOptions): HostDiscovery {
  const specs = parseDeviceSpecs(o.deviceSpec);
  const sysfsRoot = o.sysfsRoot ?? '/sys';
  // Discovery runs every few minutes: a device left out for the same reason is told about once, not every run.
  const warned = new Set<string>();
  const warn = (message: string) => {
    if (warned.has(message)) return;
    warned.add(message);
    o.log.warn(message);
  };
  // Versions are read once: the kernel cannot change under a running agent, and
  // the agent is restarted with libvirt (its connection goes with it).
  let versions: Promise<HostVersions> | undefined;
  const readVersions = (): Promise<HostVersions> => {
    versions ??= (async () => {
      const [kernel, lib] = await Promise.all([readKernelRelease(o.procRoot), o.libvirtVersions()]);
      return { kernel, libvirt: lib.libvirt, qemu: lib.qemu };
    })();
    versions.catch(() => { versions = undefined; });
    return versions;
  };

  return {
    versions: readVersions,
    async devices() {
      const problem = vdpaSupportProblem(await readVersions());
      const found = await discoverFromSysfs(sysfsRoot, { trackSoftwareVdpa: o.trackSoftwareVdpa ?? false, warn });
      return { devices: devicesToReport(found, specs, problem), vdpaUnsupportedReason: problem };
    },
    async numaTopology() {
      const cells = await discoverNumaCells(sysfsRoot);
      if (cells.length === 0) return null;
      return {
        cells,
        cpuDedicatedSet: o.cpuDedicatedSet ? parseCpuSpec(o.cpuDedicatedSet) : null,
        cpuSharedSet: o.cpuSharedSet ? parseCpuSpec(o.cpuSharedSet) : null,
      };
    },
  };
}
