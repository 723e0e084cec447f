import { BadRequest } from '../errors.js';
import { pciAddressAttributes } from './pciAddress.js';
import type { GuestInterface, GuestSpec } from './spec.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const VDPA_CHARDEV = /^\/dev\/vhost-vdpa-\d+$/;
// libvirt's own limits for a domain name: no '/', not empty.
const DOMAIN_NAME = /^[^/]+$/;

/**
 * Refuses an interface libvirt would refuse, so the error names the port
 * instead of libvirt's coarse "Extra element devices in interleave".
 */
export function checkGuestInterface(iface: GuestInterface): void {
  const port = `port ${iface.portId}`;
  if (!MAC.test(iface.macAddress)) {
    throw new BadRequest(`Invalid MAC address '${iface.macAddress}' on ${port}`);
  }
  // libvirt rejects a multicast MAC on a guest NIC ("expected unicast mac address").
  if (parseInt(iface.macAddress.slice(0, 2), 16) & 1) {
    throw new BadRequest(`MAC address '${iface.macAddress}' on ${port} is multicast`);
  }
  switch (iface.kind) {
    case 'vdpa':
      if (!iface.vdpaChardev) {
        throw new BadRequest(`vdpa interface for ${port} has no vDPA character device`);
      }
      if (!VDPA_CHARDEV.test(iface.vdpaChardev)) {
        throw new BadRequest(`Invalid vDPA character device '${iface.vdpaChardev}' on ${port}`);
      }
      if (iface.mtu !== undefined) {
        // libvirt's QEMU driver: "setting MTU on interface type vdpa is not supported yet".
        throw new BadRequest(`An MTU cannot be set on vdpa interface for ${port}`);
      }
      return;
    case 'hostdev':
      if (!iface.pciAddress) throw new BadRequest(`hostdev interface for ${port} has no PCI address`);
      pciAddressAttributes(iface.pciAddress);
      return;
    case 'ethernet':
      if (iface.mtu !== undefined && !(Number.isInteger(iface.mtu) && iface.mtu >= 68 && iface.mtu <= 65535)) {
        throw new BadRequest(`Invalid MTU ${iface.mtu} on ${port}`);
      }
      return;
    default:
      throw new BadRequest(`Unknown interface kind '${(iface as { kind: string }).kind}' on ${port}`);
  }
}

export function checkGuestSpec(spec: GuestSpec): void {
  if (!UUID.test(spec.uuid)) throw new BadRequest(`Invalid guest UUID '${spec.uuid}'`);
  if (!DOMAIN_NAME.test(spec.name)) throw new BadRequest(`Invalid guest domain name '${spec.name}'`);
  if (!Number.isInteger(spec.vcpus) || spec.vcpus < 1) throw new BadRequest(`Invalid vCPU count ${spec.vcpus}`);
  if (!Number.isInteger(spec.memoryMb) || spec.memoryMb < 1) throw new BadRequest(`Invalid memory size ${spec.memoryMb} MiB`);
  const chardevs = new Set<string>();
  const pciAddresses = new Set<string>();
  const claimPci = (address: string, what: string): void => {
    const key = address.toLowerCase();
    if (pciAddresses.has(key)) throw new BadRequest(`PCI device ${address} is given twice (${what})`);
    pciAddresses.add(key);
  };
  for (const iface of spec.interfaces) {
    checkGuestInterface(iface);
    if (iface.kind === 'vdpa') {
      if (chardevs.has(iface.vdpaChardev!)) {
        throw new BadRequest(`vDPA device ${iface.vdpaChardev} is given to more than one interface`);
      }
      chardevs.add(iface.vdpaChardev!);
    } else if (iface.kind === 'hostdev') {
      claimPci(iface.pciAddress!, `port ${iface.portId}`);
    }
  }
  for (const hostdev of spec.hostdevs) {
    pciAddressAttributes(hostdev.pciAddress);
    claimPci(hostdev.pciAddress, 'hostdev');
  }
}
