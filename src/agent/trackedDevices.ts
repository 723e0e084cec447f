import type { DiscoveredFunction, TrackedDevice } from '../domain/pci/device.js';
import { applyDeviceSpecs, type DeviceSpec } from '../domain/pci/deviceSpec.js';

/**
 * What an agent reports: the functions device_spec selects, minus every vDPA
 * device when the host is below the vDPA minimums (then the VFs under them
 * are not offered either: handing a vDPA-bound VF to a `direct` port would
 * take the device away from the vDPA stack behind the operator's back).
 */
export function devicesToReport(fns: DiscoveredFunction[], specs: DeviceSpec[], vdpaProblem: string | null): TrackedDevice[] {
  const tracked = applyDeviceSpecs(specs, fns);
  if (!vdpaProblem) return tracked;
  return tracked.filter((d) => d.devType !== 'vdpa' && d.devType !== 'vdpa-sim');
}
