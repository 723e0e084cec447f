import { generateInventory, type HostInventoryEntry } from '../../src/domain/inventory/hostInventory.js';

/** An entry as the inventory file spells it (snake_case keys), so parseHostInventory reads it back unchanged. */
export function inventoryFileEntry(h: HostInventoryEntry): Record<string, unknown> {
  return {
    name: h.name, vcpus: h.vcpus, memory_mb: h.memoryMb, disk_gb: h.diskGb, versions: h.versions,
    service_version: h.serviceVersion, host_ip: h.hostIp, device_spec: h.deviceSpec,
    nics: h.nics.map((n) => ({
      pf: n.pf, vendor_id: n.vendorId, product_id: n.productId, numa_node: n.numaNode, vfs: n.vfs,
      ...(n.vfProductId ? { vf_product_id: n.vfProductId } : {}), vdpa: n.vdpa, ...(n.devname ? { devname: n.devname } : {}),
    })),
  };
}

/** The JSON text of a generated inventory file: `{"hosts": [...]}`. */
export function generatedInventoryJson(hosts: number, vfsPerHost: number): string {
  return JSON.stringify({ hosts: generateInventory({ hosts, vfsPerHost }).map(inventoryFileEntry) });
}
