import { create } from 'xmlbuilder2';
import { buildDomain, buildInterface, type DomainValues, type InterfaceValues, type NumaValues } from './domainBuilder.js';
import { formatCpuSpec } from '../numa/cpuSet.js';
import { SMALL_PAGE_KIB } from '../numa/hostTopology.js';
import { checkGuestInterface, checkGuestSpec } from './checks.js';
import { ownershipFor, type DomainOwnership } from './ownership.js';
import { pciAddressAttributes, type PciAddressAttributes } from './pciAddress.js';
import type { GuestInterface, GuestNuma, GuestSpec } from './spec.js';
import { compileTemplate, renderTemplate, slotToken, type XmlTemplate } from './xmlTemplate.js';

export type VirtType = 'kvm' | 'qemu' | 'test';

export interface DomainXmlOptions {
  virtType: VirtType;
  /** Default /usr/bin/qemu-system-x86_64 for kvm and qemu; none for test unless given. */
  emulator?: string;
  /** Default q35 for kvm and qemu; ignored for test (the test driver takes no machine type). */
  machine?: string;
  /** The disk is `<instancesPath>/<uuid>/disk`. */
  instancesPath?: string;
  /** Default true for kvm and qemu, false for test. */
  includeDisk?: boolean;
  /**
   * Writes our ownership metadata (ownership.ts): the host whose agent defines
   * the domain, and when the guest was defined there (given, so this stays
   * pure). Without it the domain has no `<metadata>` (the simulator's guests).
   */
  owner?: { host: string; createdAt: Date };
}

export const DEFAULT_EMULATOR = '/usr/bin/qemu-system-x86_64';
export const DEFAULT_MACHINE = 'q35';
export const DEFAULT_INSTANCES_PATH = '/var/lib/vdpa-compute/instances';

/**
 * Extra room above guest RAM in the locked-memory hard limit. With locked
 * memory, libvirt also uses the hard limit as QEMU's RLIMIT_MEMLOCK, and what
 * gets pinned is more than guest RAM: QEMU's own allocations (device models,
 * ROMs, I/O buffers) plus the vDPA/IOMMU mappings. A limit of bare guest RAM
 * makes QEMU fail at start or at hot-plug; 1 GiB is the margin libvirt itself
 * adds for VFIO guests.
 */
export const LOCKED_MEMORY_HEADROOM_MIB = 1024;

/** Guests whose devices DMA into guest RAM: all of it must be lockable (behaviour.md, guest memory). */
export function needsLockedMemory(spec: GuestSpec): boolean {
  return spec.hostdevs.length > 0 || spec.interfaces.some((i) => i.kind === 'vdpa' || i.kind === 'hostdev')
    // Huge pages are never swapped anyway; locking them keeps QEMU's own allocations resident too (Nova's hw:locked_memory).
    || (spec.numa?.nodes.some((n) => n.pageKiB !== SMALL_PAGE_KIB) ?? false);
}

/** Where a guest's serial console is logged: `<instancesPath>/<uuid>/console.log`, as Nova keeps it. */
export function consoleLogPathFor(uuid: string, instancesPath = DEFAULT_INSTANCES_PATH): string {
  return `${instancesPath}/${uuid}/console.log`;
}

/** The log file of a domain's serial console (`<serial><log file=…>`), or null when it logs none. */
export function consoleLogPathOf(domainXml: string): string | null {
  const serial = /<serial\b[^>]*>([\s\S]*?)<\/serial>/.exec(domainXml);
  const log = serial ? /<log\b[^>]*\bfile=(["'])(.*?)\1/.exec(serial[1]!) : null;
  return log ? log[2]!.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&') : null;
}

/** The libvirt domain definition of a guest. Throws BadRequest for a spec libvirt would refuse. */
export function guestDomainXml(spec: GuestSpec, opts: DomainXmlOptions): string {
  checkGuestSpec(spec);
  // NUMA guests come in too many shapes (cells, pins) for the template cache: built directly.
  if (spec.numa) return buildDomain(domainValuesOf(spec, opts));
  const values: string[] = [];
  const slotted = domainValuesOf(spec, opts, (value) => slotToken(values.push(value) - 1));
  return renderTemplate(templateFor(slotted), values);
}

/** One `<interface>` element on its own, as `virDomainAttachDeviceFlags` takes it for hot-plug. */
export function guestInterfaceXml(iface: GuestInterface): string {
  checkGuestInterface(iface);
  return buildInterface(interfaceValuesOf(iface, (v) => v));
}

/** A NIC as a domain's XML describes it (libvirt's or ours). */
export interface DomainXmlInterface {
  /** The `type` attribute as written: vdpa, hostdev, ethernet, network, … ('' when absent). */
  type: string;
  /** `<mac address>`, lower-case ('' when absent). */
  mac: string;
  /** `<mtu size>`. */
  mtu?: number;
  /** `<source dev>`: the vhost-vdpa chardev of a vdpa NIC. */
  sourceDev?: string;
  /** `<source><address …/>` as DDDD:BB:SS.F: the VF of a hostdev NIC. */
  pciAddress?: string;
}

function hexField(el: Element, name: string, width: number): string {
  return (el.getAttribute(name) ?? '0').replace(/^0x/i, '').toLowerCase().padStart(width, '0');
}

/** The `<interface>` elements of a domain's XML, in document order: the one place that XML is read. */
export function interfacesOfXml(domainXml: string): DomainXmlInterface[] {
  if (!domainXml) return [];
  const found: DomainXmlInterface[] = [];
  create(domainXml).root().each(
    (node) => {
      const el = node.node as unknown as Element;
      if (el.nodeName !== 'interface') return;
      const iface: DomainXmlInterface = { type: el.getAttribute('type') ?? '', mac: '' };
      for (const child of Array.from(el.childNodes) as Element[]) {
        if (child.nodeName === 'mac') iface.mac = (child.getAttribute('address') ?? '').toLowerCase();
        if (child.nodeName === 'mtu' && child.getAttribute('size')) iface.mtu = Number(child.getAttribute('size'));
        if (child.nodeName !== 'source') continue;
        if (child.getAttribute('dev')) iface.sourceDev = child.getAttribute('dev')!;
        for (const a of Array.from(child.childNodes) as Element[]) {
          if (a.nodeName === 'address') {
            iface.pciAddress = `${hexField(a, 'domain', 4)}:${hexField(a, 'bus', 2)}:${hexField(a, 'slot', 2)}.${hexField(a, 'function', 1)}`;
          }
        }
      }
      found.push(iface);
    },
    true,
    true,
  );
  return found;
}

/** Nova's name for the rescue image's disk in the instance directory. */
export const RESCUE_DISK = 'disk.rescue';

/** Whether a domain's XML is a rescue guest's (it boots the rescue disk). */
export function isRescueDomainXml(domainXml: string): boolean {
  return domainXml.includes(`/${RESCUE_DISK}'`) || domainXml.includes(`/${RESCUE_DISK}"`);
}

/** The source dev of each `<interface type='vdpa'>`, in document order. */
export function vdpaChardevsOf(domainXml: string): string[] {
  const chardevs: string[] = [];
  for (const i of interfacesOfXml(domainXml)) if (i.type === 'vdpa' && i.sourceDev) chardevs.push(i.sourceDev);
  return chardevs;
}

/**
 * The spec and options as DomainValues; every free-text or numeric value goes
 * through `slot`, so the same function yields literal values (slot = identity)
 * or a template's placeholders.
 */
export function domainValuesOf(spec: GuestSpec, opts: DomainXmlOptions, slot: (value: string) => string = (v) => v): DomainValues {
  const hypervisor = opts.virtType !== 'test';
  const locked = needsLockedMemory(spec);
  const hasVdpa = spec.interfaces.some((i) => i.kind === 'vdpa');
  const emulator = opts.emulator ?? (hypervisor ? DEFAULT_EMULATOR : undefined);
  const includeDisk = opts.includeDisk ?? hypervisor;
  const instanceDir = `${opts.instancesPath ?? DEFAULT_INSTANCES_PATH}/${spec.uuid}`;
  return {
    virtType: opts.virtType,
    name: slot(spec.name),
    uuid: slot(spec.uuid),
    ownership: opts.owner ? slotOwnership(ownershipFor(spec, opts.owner.host, opts.owner.createdAt), slot) : undefined,
    memoryMib: slot(String(spec.memoryMb)),
    hardLimitKib: locked ? slot(String((spec.memoryMb + LOCKED_MEMORY_HEADROOM_MIB) * 1024)) : undefined,
    sharedMemory: hasVdpa,
    memfd: hasVdpa && hypervisor,
    vcpus: slot(String(spec.vcpus)),
    machine: hypervisor ? slot(opts.machine ?? DEFAULT_MACHINE) : undefined,
    acpi: hypervisor,
    hostModelCpu: opts.virtType === 'kvm',
    emulator: emulator === undefined ? undefined : slot(emulator),
    // A rescue guest always has both disks (even where guests otherwise have none, the test driver):
    // booting the rescue image is what rescue is, and the disk is how the domain shows it.
    diskPath: includeDisk || spec.rescue ? slot(`${instanceDir}/disk`) : undefined,
    rescueDiskPath: spec.rescue ? slot(`${instanceDir}/${RESCUE_DISK}`) : undefined,
    consoleLogPath: hypervisor ? slot(consoleLogPathFor(spec.uuid, opts.instancesPath)) : undefined,
    interfaces: spec.interfaces.map((iface) => interfaceValuesOf(iface, slot)),
    hostdevs: spec.hostdevs.map((h) => slotPci(pciAddressAttributes(h.pciAddress), slot)),
    ...(spec.numa ? { numa: numaValuesOf(spec.numa) } : {}),
  };
}

/** The guest's NUMA placement as libvirt's cputune, numatune, cpu/numa and hugepages attributes. */
function numaValuesOf(numa: GuestNuma): NumaValues {
  const bySize = new Map<number, number[]>();
  for (const n of numa.nodes) {
    if (n.pageKiB === SMALL_PAGE_KIB) continue;
    bySize.set(n.pageKiB, [...(bySize.get(n.pageKiB) ?? []), n.id]);
  }
  return {
    vcpupins: numa.vcpuPins.map((p) => ({ vcpu: String(p.vcpu), cpuset: formatCpuSpec(p.hostCpus) })),
    emulatorCpuset: formatCpuSpec(numa.emulatorCpus),
    nodeset: formatCpuSpec(numa.nodes.map((n) => n.hostCell)),
    memnodes: numa.nodes.map((n) => ({ cellid: String(n.id), nodeset: String(n.hostCell) })),
    cells: numa.nodes.map((n) => ({ id: String(n.id), cpus: formatCpuSpec(n.vcpus), memoryMib: String(n.memoryMb) })),
    hugepages: [...bySize].map(([size, cells]) => ({ sizeKib: String(size), nodeset: formatCpuSpec(cells) })),
  };
}

function interfaceValuesOf(iface: GuestInterface, slot: (value: string) => string): InterfaceValues {
  const mac = slot(iface.macAddress.toLowerCase());
  switch (iface.kind) {
    case 'vdpa':
      return { kind: 'vdpa', mac, chardev: slot(iface.vdpaChardev!) };
    case 'hostdev':
      return { kind: 'hostdev', mac, pci: slotPci(pciAddressAttributes(iface.pciAddress!), slot) };
    case 'ethernet':
      return { kind: 'ethernet', mac, mtu: iface.mtu === undefined ? undefined : slot(String(iface.mtu)) };
  }
}

function slotOwnership(o: DomainOwnership, slot: (value: string) => string): DomainOwnership {
  return {
    uuid: slot(o.uuid), name: slot(o.name), flavorName: o.flavorName === null ? null : slot(o.flavorName),
    host: slot(o.host), createdAt: slot(o.createdAt),
  };
}

function slotPci(a: PciAddressAttributes, slot: (value: string) => string): PciAddressAttributes {
  return { domain: slot(a.domain), bus: slot(a.bus), slot: slot(a.slot), function: slot(a.function) };
}

// Guests come in few shapes (interface kinds, hostdev count, options), so the cache stays small.
const MAX_TEMPLATES = 512;
const templates = new Map<string, XmlTemplate>();

function templateFor(slotted: DomainValues): XmlTemplate {
  const key = shapeOf(slotted);
  let template = templates.get(key);
  if (!template) {
    if (templates.size >= MAX_TEMPLATES) templates.clear();
    template = compileTemplate(buildDomain(slotted));
    templates.set(key, template);
  }
  return template;
}

/** Everything in DomainValues that decides which elements exist. */
function shapeOf(v: DomainValues): string {
  const flags = [
    v.hardLimitKib !== undefined, v.sharedMemory, v.memfd, v.machine !== undefined, v.acpi,
    v.hostModelCpu, v.emulator !== undefined, v.diskPath !== undefined, v.consoleLogPath !== undefined, v.rescueDiskPath !== undefined,
    v.ownership !== undefined, v.ownership !== undefined && v.ownership.flavorName !== null,
  ].map((f) => (f ? '1' : '0')).join('');
  const ifaces = v.interfaces.map((i) => (i.kind === 'ethernet' && i.mtu !== undefined ? 'E' : i.kind[0])).join('');
  return `${v.virtType}|${flags}|${ifaces}|${v.hostdevs.length}`;
}
