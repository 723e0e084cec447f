/**
 * What sysfs and libvirt node devices both describe, and the one set of rules
 * that turns it into DiscoveredFunctions (behaviour.md, "Devices on a host"),
 * so that both sources report a host the same way.
 */
import { SOFTWARE_VDPA_TYPE, type DiscoveredFunction } from '../../domain/pci/device.js';

export interface RawPciFunction {
  address: string; // DDDD:BB:SS.F, lower-case
  vendorId: string;
  productId: string;
  /** The 24-bit PCI class code, or null when the source does not say. */
  classCode: number | null;
  numaNode: number | null;
  /** The PF's address when this function is an SR-IOV VF. */
  physfn: string | null;
  /** The function can have VFs (sriov_totalvfs, virtfn links, virt_functions capability). */
  sriovCapable: boolean;
  devname: string | null;
}

export interface RawVdpaDevice {
  name: string; // e.g. vdpa0
  /** The PCI address of the parent, or null when the parent is not a PCI function (vdpa_sim). */
  parentPci: string | null;
  /** e.g. /dev/vhost-vdpa-0; null when not bound to vhost_vdpa. */
  chardev: string | null;
}

export interface DiscoveryOptions {
  /** Report vDPA devices without a PCI VF parent (vdpa_sim) as 'vdpa-sim'. Off by default, as in Nova. */
  trackSoftwareVdpa?: boolean;
  /** Told about every device that is left out and why. */
  warn?: (message: string) => void;
}

const NETWORK_CLASS = 0x02;

export function classifyFunctions(pci: RawPciFunction[], vdpa: RawVdpaDevice[], opts: DiscoveryOptions = {}): DiscoveredFunction[] {
  const warn = opts.warn ?? (() => {});
  const byAddress = new Map(pci.map((f) => [f.address, f]));
  const vdpaOfVf = new Map<string, RawVdpaDevice>();
  const software: DiscoveredFunction[] = [];

  for (const dev of [...vdpa].sort((a, b) => a.name.localeCompare(b.name))) {
    if (dev.parentPci === null) {
      if (!opts.trackSoftwareVdpa) continue; // Nova ignores these silently; so do we unless asked
      if (dev.chardev === null) {
        warn(`software vDPA device ${dev.name} is left out: it has no vhost-vdpa character device (not bound to vhost_vdpa)`);
        continue;
      }
      software.push({
        address: `vdpa:${dev.name}`, vendorId: '0000', productId: '0000', devType: SOFTWARE_VDPA_TYPE,
        parentAddr: null, numaNode: null, devname: null, vdpaName: dev.name, vdpaChardev: dev.chardev,
      });
      continue;
    }
    const parent = byAddress.get(dev.parentPci);
    if (!parent) {
      warn(`vDPA device ${dev.name} is left out: its parent ${dev.parentPci} is not a PCI function of this host`);
    } else if (parent.physfn === null) {
      warn(`vDPA device ${dev.name} is left out: its parent ${dev.parentPci} is not an SR-IOV VF`);
    } else {
      vdpaOfVf.set(parent.address, dev);
    }
  }

  const found: DiscoveredFunction[] = [];
  for (const f of [...pci].sort((a, b) => a.address.localeCompare(b.address))) {
    const child = vdpaOfVf.get(f.address);
    if (!child && !isOfInterest(f)) continue;
    if (child && child.chardev === null) {
      // The host itself uses this VF through virtio_vdpa (or nothing): neither a free VF nor a usable vDPA device.
      warn(`VF ${f.address} is left out: its vDPA device ${child.name} has no vhost-vdpa character device (not bound to vhost_vdpa)`);
      continue;
    }
    found.push({
      address: f.address,
      vendorId: f.vendorId,
      productId: f.productId,
      devType: child ? 'vdpa' : f.physfn !== null ? 'type-VF' : f.sriovCapable ? 'type-PF' : 'type-PCI',
      parentAddr: f.physfn,
      numaNode: f.numaNode,
      devname: f.devname,
      vdpaName: child?.name ?? null,
      vdpaChardev: child?.chardev ?? null,
    });
  }
  return [...found, ...software];
}

/** SR-IOV functions and network devices; other PCI devices (bridges, storage) are not reported. */
function isOfInterest(f: RawPciFunction): boolean {
  return f.physfn !== null || f.sriovCapable || f.classCode === null || f.classCode >> 16 === NETWORK_CLASS;
}

/** "0x15b3\n" or "15B3" -> "15b3" */
export function hexId(text: string): string {
  return text.trim().toLowerCase().replace(/^0x/, '').padStart(4, '0');
}

export function formatPciAddress(domain: number, bus: number, slot: number, fn: number): string {
  const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
  return `${hex(domain, 4)}:${hex(bus, 2)}:${hex(slot, 2)}.${fn.toString(16)}`;
}

export function numaNodeOf(text: string | null | undefined): number | null {
  if (text === null || text === undefined) return null;
  const n = Number(text.trim());
  return Number.isInteger(n) && n >= 0 ? n : null;
}
