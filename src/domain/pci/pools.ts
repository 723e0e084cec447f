/**
 * Pools: devices grouped by what a request can ask for, with free counts. The
 * scheduler reads pools instead of devices; the claim then picks devices.
 */
import type { HostDevice } from './device.js';
import { servesRequest } from './match.js';
import type { PciRequest } from './request.js';
import type { DeviceChange } from './tracker.js';

export interface PoolKey {
  devType: string;
  /** '' when the devices have no physical_network tag. */
  physicalNetwork: string;
  vendorId: string;
  productId: string;
}

export interface Pool extends PoolKey {
  free: number;
  total: number;
}

type PoolMember = { devType: string; physicalNetwork: string | null; vendorId: string; productId: string };

export function poolKeyOf(dev: PoolMember): PoolKey {
  return {
    devType: dev.devType,
    physicalNetwork: dev.physicalNetwork ?? '',
    vendorId: dev.vendorId.toLowerCase(),
    productId: dev.productId.toLowerCase(),
  };
}

export function poolKeyString(k: PoolKey): string {
  return JSON.stringify([k.devType, k.physicalNetwork, k.vendorId, k.productId]);
}

function isFree(d: HostDevice): boolean {
  return d.status === 'available' && !d.missing;
}

/** Removed devices are not counted; missing ones count in total but are never free. */
export function summarizePools(devices: HostDevice[]): Pool[] {
  const pools = new Map<string, Pool>();
  for (const d of devices) {
    if (d.status === 'removed') continue;
    const key = poolKeyOf(d);
    const k = poolKeyString(key);
    const pool = pools.get(k) ?? { ...key, free: 0, total: 0 };
    pool.total += 1;
    if (isFree(d)) pool.free += 1;
    pools.set(k, pool);
  }
  return [...pools.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, p]) => p);
}

/** How one pool's free count moved. */
export interface PoolDelta {
  key: PoolKey;
  freeDelta: number;
}

/** How free counts move when `changes` are applied to the devices in `before`. */
export function poolDeltas(before: Map<number, HostDevice>, changes: DeviceChange[]): PoolDelta[] {
  const deltas = new Map<string, PoolDelta>();
  for (const c of changes) {
    const d = before.get(c.id);
    if (!d) throw new Error(`poolDeltas: device ${c.id} (${c.address}) is not in the given devices`);
    if (d.missing) continue;
    const delta = (c.to === 'available' ? 1 : 0) - (c.from === 'available' ? 1 : 0);
    if (delta === 0) continue;
    const key = poolKeyOf(d);
    const k = poolKeyString(key);
    const entry = deltas.get(k) ?? { key, freeDelta: 0 };
    entry.freeDelta += delta;
    deltas.set(k, entry);
  }
  return [...deltas.values()].filter((e) => e.freeDelta !== 0);
}

/**
 * Whether the pools have enough free devices for all requests at once: the
 * rule (match.ts `servesRequest`) says which pools may serve each request, a
 * request may take devices from several pools, and requests that could use
 * the same pools share them (a max-flow from requests to pools), so a free
 * device is never counted twice. Parent/child blocking (a PF and its VFs both
 * free) is not visible here; the claim decides that.
 */
export function poolsSatisfy(pools: Pool[], requests: PciRequest[]): boolean {
  // One request (a server with one port, the common case) needs no flow: its pools' free devices add up.
  // Found without allocating: this runs for every candidate of every decision.
  let only: PciRequest | null = null;
  let wantedCount = 0;
  for (const r of requests) {
    if (r.count > 0) {
      only = r;
      wantedCount += 1;
    }
  }
  if (only === null) return true;
  if (wantedCount === 1) return freeServing(pools, only) >= only.count;
  const wanted = requests.filter((r) => r.count > 0);
  const demand = wanted.reduce((n, r) => n + r.count, 0);
  const usable = pools.filter((p) => p.free > 0);
  const fits = wanted.map((r) => usable.map((p, j) => (servesRequest(p, r.spec) ? j : -1)).filter((j) => j >= 0));
  return maxFlow(wanted.map((r) => r.count), usable.map((p) => p.free), fits) === demand;
}

/** Free devices, summed over every pool the rule lets serve the request (stops counting once it has enough). */
export function freeServing(pools: Pool[], request: PciRequest): number {
  let free = 0;
  for (const p of pools) {
    if (p.free > 0 && servesRequest(p, request.spec) && (free += p.free) >= request.count) return free;
  }
  return free;
}

/** Bipartite max-flow (source → requests → pools → sink) with augmenting paths. */
function maxFlow(need: number[], free: number[], fits: number[][]): number {
  // flow[i][j]: devices of pool j given to request i
  const flow = need.map(() => free.map(() => 0));
  const given = need.map(() => 0);
  const used = free.map(() => 0);

  // Find a path from request i to a pool with room, possibly re-routing other requests.
  const augment = (i: number, seen: boolean[]): boolean => {
    for (const j of fits[i]!) {
      if (seen[j]) continue;
      seen[j] = true;
      if (used[j]! < free[j]!) {
        used[j]! += 1;
        flow[i]![j]! += 1;
        return true;
      }
      for (let k = 0; k < need.length; k++) {
        if (k !== i && flow[k]![j]! > 0 && augment(k, seen)) {
          flow[k]![j]! -= 1;
          flow[i]![j]! += 1;
          return true;
        }
      }
    }
    return false;
  };

  let total = 0;
  for (let i = 0; i < need.length; i++) {
    while (given[i]! < need[i]!) {
      if (!augment(i, free.map(() => false))) return total;
      given[i]! += 1;
      total += 1;
    }
  }
  return total;
}
