/**
 * Port MAC addresses: OpenStack's fa:16:3e prefix (a locally administered,
 * unicast OUI every operator recognises) followed by three random octets.
 * The randomness comes in from the caller so that the domain stays pure.
 */
export const MAC_PREFIX = 'fa:16:3e';

export function macFromRandomBytes(bytes: Uint8Array): string {
  if (bytes.length < 3) throw new RangeError('a port MAC needs three random bytes');
  const tail = Array.from(bytes.slice(0, 3), (b) => b.toString(16).padStart(2, '0'));
  return [MAC_PREFIX, ...tail].join(':');
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A MAC the user may request: six hex octets, unicast (the group bit of the first octet clear). */
export function isValidUnicastMac(mac: string): boolean {
  const m = mac.toLowerCase();
  if (!MAC_RE.test(m)) return false;
  return (Number.parseInt(m.slice(0, 2), 16) & 1) === 0 && m !== '00:00:00:00:00:00';
}
