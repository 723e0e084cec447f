/** The four PCI device types the tracker knows (behaviour.md, "Devices on a host"). */
export const DEVICE_TYPES = ['type-PCI', 'type-PF', 'type-VF', 'vdpa'] as const;
export type DeviceType = (typeof DEVICE_TYPES)[number];

/** Software vDPA devices (vdpa_sim) are only tracked behind an explicit operator switch. */
export const SOFTWARE_VDPA_TYPE = 'vdpa-sim';
export type TrackedDeviceType = DeviceType | typeof SOFTWARE_VDPA_TYPE;

export const DEVICE_STATUSES = ['available', 'claimed', 'allocated', 'unavailable', 'removed'] as const;
export type DeviceStatus = (typeof DEVICE_STATUSES)[number];

/**
 * A PCI function as discovery sees it, before device_spec decides whether it is
 * tracked. Discovery (sysfs, libvirt node devices, a simulated inventory) all
 * produce this shape.
 */
export interface DiscoveredFunction {
  address: string; // DDDD:BB:SS.F, lower-case hex
  vendorId: string; // 4 hex digits, lower-case
  productId: string;
  devType: TrackedDeviceType;
  parentAddr: string | null; // the PF of a VF (or vdpa VF)
  numaNode: number | null;
  devname: string | null; // network interface name, if any
  vdpaName: string | null; // e.g. vdpa0
  vdpaChardev: string | null; // e.g. /dev/vhost-vdpa-0
}

/** A tracked device: a discovered function that a device_spec entry matched. */
export interface TrackedDevice extends DiscoveredFunction {
  physicalNetwork: string | null;
  tags: Record<string, string>;
}

/** A tracked device as the controller records it for one host. */
export interface HostDevice extends TrackedDevice {
  id: number;
  host: string;
  status: DeviceStatus;
  instanceUuid: string | null;
  /** Set when an allocated device vanished from the host: never handed out again. */
  missing: boolean;
}

export function pciSlotName(address: string): string {
  return `pci_${address.replace(/[:.]/g, '_')}`;
}
