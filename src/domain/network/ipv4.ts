/**
 * IPv4 arithmetic for subnets: addresses as unsigned 32-bit numbers so that
 * ranges, pools and the allocator's "next address" are plain integer steps.
 */
export interface Ipv4Cidr {
  network: number;
  prefix: number;
  /** Last address of the block (the broadcast address for prefixes below 31). */
  last: number;
}
export interface Ipv4Range { start: number; end: number }

export function parseIpv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    n = n * 256 + v;
  }
  return n;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Parses `a.b.c.d/p`; host bits must be zero, as networking requires of a subnet CIDR. */
export function parseIpv4Cidr(text: string): Ipv4Cidr | null {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text);
  if (!m) return null;
  const addr = parseIpv4(m[1]!);
  const prefix = Number(m[2]);
  if (addr === null || prefix > 32) return null;
  const size = 2 ** (32 - prefix);
  if (addr % size !== 0) return null;
  return { network: addr, prefix, last: addr + size - 1 };
}

export function cidrContains(cidr: Ipv4Cidr, ip: number): boolean {
  return ip >= cidr.network && ip <= cidr.last;
}

/** The usable host addresses of a block: all but the network and broadcast addresses (/31 and /32 have none to spare). */
export function hostRange(cidr: Ipv4Cidr): Ipv4Range | null {
  if (cidr.prefix >= 31) return { start: cidr.network, end: cidr.last };
  if (cidr.last - cidr.network < 2) return null;
  return { start: cidr.network + 1, end: cidr.last - 1 };
}

/** Networking's default gateway: the first host address. */
export function defaultGateway(cidr: Ipv4Cidr): number | null {
  return hostRange(cidr)?.start ?? null;
}

/**
 * The default allocation pool: the host range minus the gateway when the
 * gateway sits at either end of it (the usual case); null when nothing is left.
 */
export function defaultPool(cidr: Ipv4Cidr, gateway: number | null): Ipv4Range | null {
  const hosts = hostRange(cidr);
  if (!hosts) return null;
  let { start, end } = hosts;
  if (gateway === start) start += 1;
  else if (gateway === end) end -= 1;
  return start <= end ? { start, end } : null;
}

/** Why a requested pool does not fit its subnet, or null when it fits. */
export function poolProblem(cidr: Ipv4Cidr, pool: Ipv4Range, gateway: number | null): string | null {
  if (pool.start > pool.end) return `the pool start ${formatIpv4(pool.start)} is after its end ${formatIpv4(pool.end)}`;
  const hosts = hostRange(cidr);
  if (!hosts || pool.start < hosts.start || pool.end > hosts.end) {
    return `the pool ${formatIpv4(pool.start)}-${formatIpv4(pool.end)} is not within the host addresses of the subnet`;
  }
  if (gateway !== null && gateway >= pool.start && gateway <= pool.end) {
    return `the gateway ${formatIpv4(gateway)} conflicts with the pool ${formatIpv4(pool.start)}-${formatIpv4(pool.end)}`;
  }
  return null;
}

/** The address after `ip` in the pool, wrapping to the start so that released addresses are found again. */
export function nextInPool(pool: Ipv4Range, ip: number): number {
  return ip < pool.start || ip >= pool.end ? pool.start : ip + 1;
}

export function poolSize(pool: Ipv4Range): number {
  return pool.end - pool.start + 1;
}
