import { BadRequest } from '../errors.js';

/**
 * The attributes of a PCI `<address>`. libvirt's schema wants `type='pci'` on
 * an interface's source address but forbids it on a `<hostdev>` source address.
 */
export interface PciAddressAttributes {
  domain: string;
  bus: string;
  slot: string;
  function: string;
}

const PCI_ADDRESS = /^([0-9a-f]{4}):([0-9a-f]{2}):([0-1][0-9a-f])\.([0-7])$/i;

/** `0000:06:00.1` → domain='0x0000' bus='0x06' slot='0x00' function='0x1'. */
export function pciAddressAttributes(address: string): PciAddressAttributes {
  const m = PCI_ADDRESS.exec(address);
  if (!m) throw new BadRequest(`Invalid PCI address '${address}': expected DDDD:BB:SS.F`);
  const [, domain, bus, slot, fn] = m as unknown as [string, string, string, string, string];
  return {
    domain: `0x${domain.toLowerCase()}`,
    bus: `0x${bus.toLowerCase()}`,
    slot: `0x${slot.toLowerCase()}`,
    function: `0x${fn}`,
  };
}
