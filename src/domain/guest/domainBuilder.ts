import { create, fragment } from 'xmlbuilder2';
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

export interface DomainValues {
  virtType: 'kvm' | 'qemu' | 'test';
  name: string;
  uuid: string;
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
}

type Builder = ReturnType<typeof fragment>;

export function buildDomain(v: DomainValues): string {
  // Element order follows libvirt's own output order (which its RNG schema accepts).
  const domain = create().ele('domain', { type: v.virtType });
  domain.ele('name').txt(v.name);
  domain.ele('uuid').txt(v.uuid);
  domain.ele('memory', { unit: 'MiB' }).txt(v.memoryMib);
  domain.ele('currentMemory', { unit: 'MiB' }).txt(v.memoryMib);
  if (v.hardLimitKib !== undefined) {
    domain.ele('memtune').ele('hard_limit', { unit: 'KiB' }).txt(v.hardLimitKib);
    const backing = domain.ele('memoryBacking');
    if (v.memfd) backing.ele('source', { type: 'memfd' });
    if (v.sharedMemory) backing.ele('access', { mode: 'shared' });
    backing.ele('locked');
  } else if (v.sharedMemory || v.memfd) {
    const backing = domain.ele('memoryBacking');
    if (v.memfd) backing.ele('source', { type: 'memfd' });
    if (v.sharedMemory) backing.ele('access', { mode: 'shared' });
  }
  domain.ele('vcpu', { placement: 'static' }).txt(v.vcpus);

  const os = domain.ele('os');
  os.ele('type', v.machine !== undefined ? { arch: 'x86_64', machine: v.machine } : { arch: 'x86_64' }).txt('hvm');
  os.ele('boot', { dev: 'hd' });
  if (v.acpi) domain.ele('features').ele('acpi');
  if (v.hostModelCpu) domain.ele('cpu', { mode: 'host-model' });

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
