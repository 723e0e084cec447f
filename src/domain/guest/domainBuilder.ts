import { create, fragment } from 'xmlbuilder2';
import { appendOwnership, type DomainOwnership } from './ownership.js';
import type { PciAddressAttributes } from './pciAddress.js';

/**
 * Everything a domain definition is made of, already as strings. Which
 * elements exist (the shape) depends only on the non-string fields and on
 * which optional strings are present; the strings may be placeholders.
 */
export interface InterfaceValues {
  kind: 'vdpa' | 'hostdev' | 'ethernet';
  mac: string;
  chardev?: string;
  pci?: PciAddressAttributes;
  mtu?: string;
}

/** A guest with a NUMA topology, already as libvirt's attribute strings. */
export interface NumaValues {
  vcpupins: Array<{ vcpu: string; cpuset: string }>;
  emulatorCpuset: string;
  /** Every host cell the guest's memory comes from, and per guest cell its host cell. */
  nodeset: string;
  memnodes: Array<{ cellid: string; nodeset: string }>;
  cells: Array<{ id: string; cpus: string; memoryMib: string }>;
  hugepages: Array<{ sizeKib: string; nodeset: string }>;
}

export interface DomainValues {
  virtType: 'kvm' | 'qemu' | 'test';
  name: string;
  uuid: string;
  /** Our `<metadata><vdpa:instance>` (ownership.ts): which server, which host's agent defined it. */
  ownership?: DomainOwnership;
  memoryMib: string;
  /** Present for a guest whose memory is locked. */
  hardLimitKib?: string;
  /** vhost-vdpa maps guest RAM by file descriptor: it must be shareable memory. */
  sharedMemory: boolean;
  memfd: boolean;
  vcpus: string;
  machine?: string;
  acpi: boolean;
  hostModelCpu: boolean;
  emulator?: string;
  diskPath?: string;
  /** Rescue mode: this disk boots (vda) and diskPath becomes the second disk (vdb), as Nova's rescue does. */
  rescueDiskPath?: string;
  /** The serial console's log file (Nova's `<serial type="pty"><log file=…/>`); no serial device when absent. */
  consoleLogPath?: string;
  interfaces: InterfaceValues[];
  hostdevs: PciAddressAttributes[];
  numa?: NumaValues;
}

type Builder = ReturnType<typeof fragment>;

export function buildDomain(v: DomainValues): string {
  // Element order follows libvirt's own output order (which its RNG schema accepts).
  const domain = create().ele('domain', { type: v.virtType });
  domain.ele('name').txt(v.name);
  domain.ele('uuid').txt(v.uuid);
  if (v.ownership) appendOwnership(domain.ele('metadata'), v.ownership);
  domain.ele('memory', { unit: 'MiB' }).txt(v.memoryMib);
  domain.ele('currentMemory', { unit: 'MiB' }).txt(v.memoryMib);
  const hugepages = v.numa?.hugepages ?? [];
  if (v.hardLimitKib !== undefined) {
    domain.ele('memtune').ele('hard_limit', { unit: 'KiB' }).txt(v.hardLimitKib);
    const backing = domain.ele('memoryBacking');
    appendHugepages(backing, hugepages);
    if (v.memfd) backing.ele('source', { type: 'memfd' });
    if (v.sharedMemory) backing.ele('access', { mode: 'shared' });
    backing.ele('locked');
  } else if (v.sharedMemory || v.memfd || hugepages.length) {
    const backing = domain.ele('memoryBacking');
    appendHugepages(backing, hugepages);
    if (v.memfd) backing.ele('source', { type: 'memfd' });
    if (v.sharedMemory) backing.ele('access', { mode: 'shared' });
  }
  domain.ele('vcpu', { placement: 'static' }).txt(v.vcpus);
  if (v.numa) {
    const cputune = domain.ele('cputune');
    for (const pin of v.numa.vcpupins) cputune.ele('vcpupin', { vcpu: pin.vcpu, cpuset: pin.cpuset });
    cputune.ele('emulatorpin', { cpuset: v.numa.emulatorCpuset });
    const numatune = domain.ele('numatune');
    numatune.ele('memory', { mode: 'strict', nodeset: v.numa.nodeset });
    for (const m of v.numa.memnodes) numatune.ele('memnode', { cellid: m.cellid, mode: 'strict', nodeset: m.nodeset });
  }

  const os = domain.ele('os');
  os.ele('type', v.machine !== undefined ? { arch: 'x86_64', machine: v.machine } : { arch: 'x86_64' }).txt('hvm');
  os.ele('boot', { dev: 'hd' });
  if (v.acpi) domain.ele('features').ele('acpi');
  if (v.hostModelCpu || v.numa) {
    const cpu = domain.ele('cpu', v.hostModelCpu ? { mode: 'host-model' } : {});
    if (v.numa) {
      const numa = cpu.ele('numa');
      // Each guest cell's memory shared too: vhost-vdpa maps it by file descriptor.
      for (const c of v.numa.cells) {
        numa.ele('cell', { id: c.id, cpus: c.cpus, memory: c.memoryMib, unit: 'MiB', ...(v.sharedMemory ? { memAccess: 'shared' } : {}) });
      }
    }
  }

  const devices = domain.ele('devices');
  if (v.emulator !== undefined) devices.ele('emulator').txt(v.emulator);
  if (v.rescueDiskPath !== undefined) appendDisk(devices, v.rescueDiskPath, 'vda');
  if (v.diskPath !== undefined) appendDisk(devices, v.diskPath, v.rescueDiskPath !== undefined ? 'vdb' : 'vda');
  for (const iface of v.interfaces) appendInterface(devices, iface);
  if (v.consoleLogPath !== undefined) {
    // virtlogd keeps what the guest writes on its serial port in this file: `console log show` reads it.
    const serial = devices.ele('serial', { type: 'pty' });
    serial.ele('log', { file: v.consoleLogPath, append: 'off' });
    serial.ele('target', { port: '0' });
  }
  for (const address of v.hostdevs) {
    // A hostdev's source address takes no type attribute (the schema refuses it).
    devices
      .ele('hostdev', { mode: 'subsystem', type: 'pci', managed: 'yes' })
      .ele('source')
      .ele('address', { ...address });
  }
  return domain.end({ headless: true, prettyPrint: true });
}

function appendHugepages(backing: Builder, pages: NumaValues['hugepages']): void {
  if (pages.length === 0) return;
  const el = backing.ele('hugepages');
  for (const p of pages) el.ele('page', { size: p.sizeKib, unit: 'KiB', nodeset: p.nodeset });
}

function appendDisk(devices: Builder, path: string, target: string): void {
  const disk = devices.ele('disk', { type: 'file', device: 'disk' });
  disk.ele('driver', { name: 'qemu', type: 'qcow2' });
  disk.ele('source', { file: path });
  disk.ele('target', { dev: target, bus: 'virtio' });
}

export function buildInterface(iface: InterfaceValues): string {
  const root = fragment();
  appendInterface(root, iface);
  return root.end({ headless: true, prettyPrint: true });
}

function appendInterface(parent: Builder, iface: InterfaceValues): void {
  switch (iface.kind) {
    case 'vdpa': {
      // Never an <mtu> here: the schema accepts it, libvirt's QEMU driver refuses
      // the domain ("setting MTU on interface type vdpa is not supported yet").
      const el = parent.ele('interface', { type: 'vdpa' });
      el.ele('mac', { address: iface.mac });
      el.ele('source', { dev: iface.chardev! });
      el.ele('model', { type: 'virtio' });
      return;
    }
    case 'hostdev': {
      const el = parent.ele('interface', { type: 'hostdev', managed: 'yes' });
      el.ele('mac', { address: iface.mac });
      el.ele('source').ele('address', { type: 'pci', ...iface.pci! });
      return;
    }
    case 'ethernet': {
      const el = parent.ele('interface', { type: 'ethernet' });
      el.ele('mac', { address: iface.mac });
      el.ele('model', { type: 'virtio' });
      if (iface.mtu !== undefined) el.ele('mtu', { size: iface.mtu });
      return;
    }
  }
}
