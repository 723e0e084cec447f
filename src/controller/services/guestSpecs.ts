import type { GuestInterface, GuestNuma, GuestSpec } from '../../domain/guest/spec.js';
import type { NumaPlacement } from '../../domain/numa/fit.js';
import type { HostDevice } from '../../domain/pci/device.js';
import type { InstanceRecord } from '../../storage/repositories/instances.js';
import type { PortRecord } from '../../storage/repositories/ports.js';

/** Libvirt domain name of a server (Nova uses instance-%08x of a database id; the uuid prefix is as stable). */
export function domainNameOf(uuid: string): string {
  return `instance-${uuid.slice(0, 8)}`;
}

/**
 * One guest interface per port, in the server's port order: vdpa ports get
 * the chardev of the vDPA device on their claimed VF, direct ports the VF
 * itself, others a plain virtio NIC.
 */
export function guestInterfaceFor(port: PortRecord, device: HostDevice | undefined): GuestInterface {
  if (port.vnicType === 'vdpa') {
    if (!device?.vdpaChardev) throw new Error(`port ${port.id} has no claimed vDPA device`);
    return { portId: port.id, macAddress: port.macAddress, kind: 'vdpa', vdpaChardev: device.vdpaChardev };
  }
  if (device && (port.vnicType === 'direct' || port.vnicType === 'direct-physical' || port.vnicType === 'macvtap')) {
    return { portId: port.id, macAddress: port.macAddress, kind: 'hostdev', pciAddress: device.address };
  }
  return { portId: port.id, macAddress: port.macAddress, kind: 'ethernet', mtu: port.mtu };
}

export function buildGuestSpec(
  instance: InstanceRecord,
  ports: PortRecord[],
  deviceOfPort: Map<string, HostDevice>,
  aliasDevices: HostDevice[],
  flavor = instance.flavor,
  /** The guest's NUMA placement on this host (allocations.numa), for a guest with a NUMA topology. */
  numa?: NumaPlacement | null,
): GuestSpec {
  const byId = new Map(ports.map((p) => [p.id, p]));
  const ordered = instance.portIds.map((id) => byId.get(id)).filter((p): p is PortRecord => p !== undefined);
  return {
    uuid: instance.uuid,
    name: domainNameOf(instance.uuid),
    displayName: instance.name,
    flavorName: flavor.name,
    vcpus: flavor.vcpus,
    memoryMb: flavor.ram,
    diskGb: flavor.disk,
    imageRef: instance.imageRef,
    interfaces: ordered.map((p) => guestInterfaceFor(p, deviceOfPort.get(p.id))),
    hostdevs: aliasDevices.map((d) => ({ pciAddress: d.address })),
    ...(numa ? { numa: guestNumaOf(numa) } : {}),
  };
}

/** A NUMA placement as the guest definition needs it. */
export function guestNumaOf(p: NumaPlacement): GuestNuma {
  const vcpuPins: GuestNuma['vcpuPins'] = [];
  for (const c of p.cells) {
    for (const [vcpu, cpu] of c.pinning) vcpuPins.push({ vcpu, hostCpus: [cpu] });
    for (const vcpu of c.floatingVcpus) vcpuPins.push({ vcpu, hostCpus: c.floatCpus });
  }
  vcpuPins.sort((a, b) => a.vcpu - b.vcpu);
  return {
    nodes: p.cells.map((c) => ({
      id: c.guestCell,
      vcpus: [...c.pinning.map(([v]) => v), ...c.floatingVcpus].sort((a, b) => a - b),
      memoryMb: c.memoryMb,
      hostCell: c.hostCell,
      pageKiB: c.pageKiB,
    })),
    vcpuPins,
    emulatorCpus: p.emulatorCpus,
  };
}

/** The binding:profile a port carries while bound to a claimed device (behaviour.md, "Ports"). */
export function bindingProfileFor(device: HostDevice | undefined): Record<string, unknown> {
  if (!device) return {};
  return {
    pci_vendor_info: `${device.vendorId}:${device.productId}`,
    pci_slot: device.address,
    physical_network: device.physicalNetwork,
  };
}

export const VIF_DETAILS_OVS = Object.freeze({
  port_filter: true,
  connectivity: 'l2',
  bridge_name: 'br-int',
  datapath_type: 'system',
  ovs_hybrid_plug: false,
});
