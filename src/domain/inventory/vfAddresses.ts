/**
 * VF addresses as SR-IOV lays them out: a VF's routing id (bus<<8 | slot<<3 |
 * function) is the PF's plus its offset, so with ARI the function number wraps
 * after 7 and the slot (then the bus) carries on: VF 8 of 06:00.0 is 06:01.0.
 */
const PCI_ADDRESS = /^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/;

export function isPciAddress(text: string): boolean {
  return PCI_ADDRESS.test(text);
}

/** The address of the VF `offset` (1-based) routing ids after its PF. */
export function vfAddress(pfAddress: string, offset: number): string {
  const m = PCI_ADDRESS.exec(pfAddress.toLowerCase());
  if (!m) throw new RangeError(`not a PCI address: ${pfAddress}`);
  const domain = m[1]!;
  const routingId = (parseInt(m[2]!, 16) << 8) | (parseInt(m[3]!, 16) << 3) | parseInt(m[4]!, 16);
  const rid = routingId + offset;
  if (rid > 0xffff) throw new RangeError(`VF ${offset} of ${pfAddress} would lie past bus ff`);
  const bus = (rid >> 8).toString(16).padStart(2, '0');
  const slot = ((rid >> 3) & 0x1f).toString(16).padStart(2, '0');
  return `${domain}:${bus}:${slot}.${rid & 0x7}`;
}
