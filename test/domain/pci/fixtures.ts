import type { DiscoveredFunction, HostDevice, TrackedDeviceType } from '../../../src/domain/pci/device.js';

export function fn(address: string, over: Partial<DiscoveredFunction> = {}): DiscoveredFunction {
  return {
    address,
    vendorId: '15b3',
    productId: '101e',
    devType: 'type-VF',
    parentAddr: null,
    numaNode: 0,
    devname: null,
    vdpaName: null,
    vdpaChardev: null,
    ...over,
  };
}

let nextId = 1;
export function hostDevice(address: string, devType: TrackedDeviceType, over: Partial<HostDevice> = {}): HostDevice {
  return {
    ...fn(address, { devType }),
    id: nextId++,
    host: 'compute1',
    physicalNetwork: 'physnet0',
    tags: { physical_network: 'physnet0' },
    status: 'available',
    instanceUuid: null,
    missing: false,
    ...over,
  };
}

/** behaviour.md's counting example: 1 PF (15b3:101d) + 4 VFs (15b3:101e), each VF with a vDPA device. */
export function connectx6Host(): { pf: HostDevice; vfs: HostDevice[]; all: HostDevice[] } {
  const pf = hostDevice('0000:06:00.0', 'type-PF', { productId: '101d', devname: 'enp6s0f0' });
  const vfs = [2, 3, 4, 5].map((f, i) =>
    hostDevice(`0000:06:00.${f}`, 'vdpa', {
      parentAddr: pf.address,
      vdpaName: `vdpa${i}`,
      vdpaChardev: `/dev/vhost-vdpa-${i}`,
    }),
  );
  return { pf, vfs, all: [pf, ...vfs] };
}
