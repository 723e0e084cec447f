import type { Pool, PoolDelta } from '../../domain/pci/pools.js';
import type { PciRequest } from '../../domain/pci/request.js';
import type { HostState, ResourceRequest } from '../../domain/scheduling/types.js';
import type { IndexedHostRow } from '../../storage/repositories/candidates.js';

/** Where the index reads its rows: every host, or a few (see indexedHostRows). */
export type IndexSource = (hosts?: string[]) => Promise<IndexedHostRow[]>;

export interface CandidateIndexOptions {
  /** A full reload is started (in the background) when the last one is older than this. */
  reloadMs: number;
}

/** Buckets of hosts by their most free pool of one (dev_type, physical_network). */
interface Buckets {
  byFree: Array<Set<string>>;
  maxFree: number;
}

/** A bucket this small is sorted by host name, so small fleets get the database's order (most free, then host). */
const SORTED_BUCKET = 256;

/**
 * A controller-resident hint of which hosts can take a PCI request: per
 * (dev_type, physical_network), hosts bucketed by free devices, with the
 * HostState summary of each. Taking the best `limit` costs the same at any
 * host count, and no candidate row is read from the database.
 *
 * It is only a hint. The claim stays the conditional database transaction,
 * so an entry made stale by another controller process (or a release this
 * index did not see) loses the claim and is refreshed; the scheduler then
 * tries the next candidate. Entries are refreshed from the database after
 * each claim of this process (markChanged), on service changes, and all of
 * them every `reloadMs`.
 */
export class CandidateIndex {
  private readonly hosts = new Map<string, IndexedHostRow>();
  /** Per host, the read sequence its row came from: an older read never overwrites a newer one. */
  private readonly readSeq = new Map<string, number>();
  private readonly buckets = new Map<string, Buckets>();
  private seq = 0;
  private loadedAt = -Infinity;
  private reloadCostMs = 0;
  private reloading: Promise<void> | null = null;
  private readonly dirty = new Set<string>();
  private flushing: Promise<void> | null = null;

  constructor(private readonly source: IndexSource, private readonly opts: CandidateIndexOptions) {}

  get warm(): boolean {
    return this.loadedAt > -Infinity;
  }

  get size(): number {
    return this.hosts.size;
  }

  /** Starts a full reload unless one is running or the last is fresh; resolves when it is done. */
  reloadIfOld(now = Date.now()): Promise<void> {
    if (this.reloading) return this.reloading;
    // A full read of 10,000 hosts costs ~100 ms of the controller's one thread: never more than ~5% of it.
    if (now - this.loadedAt < Math.max(this.opts.reloadMs, 20 * this.reloadCostMs)) return Promise.resolve();
    return this.reload();
  }

  /** Reads every host again. */
  reload(): Promise<void> {
    if (this.reloading) return this.reloading;
    const seq = ++this.seq;
    const startedAt = Date.now();
    this.reloading = this.source()
      .then((rows) => {
        const present = new Set<string>();
        for (const row of rows) {
          present.add(row.host);
          this.put(row, seq);
        }
        for (const host of [...this.hosts.keys()]) {
          if (!present.has(host) && (this.readSeq.get(host) ?? 0) < seq) this.remove(host);
        }
        this.loadedAt = startedAt;
        this.reloadCostMs = Date.now() - startedAt;
      })
      .finally(() => {
        this.reloading = null;
      });
    return this.reloading;
  }

  /** Reads these hosts again now (a lost claim, a service change). */
  async refresh(hosts: string[]): Promise<void> {
    if (hosts.length === 0) return;
    const seq = ++this.seq;
    const rows = await this.source(hosts);
    const found = new Set(rows.map((r) => r.host));
    for (const row of rows) this.put(row, seq);
    for (const host of hosts) if (!found.has(host) && (this.readSeq.get(host) ?? 0) < seq) this.remove(host);
  }

  /**
   * A decision of this process chose `host`: the entry gives up the request's
   * resources and devices at once, before the claim runs, so decisions made
   * while this claim is in flight (other requests on PostgreSQL, interleaved
   * with it) see the host as it will be and spread instead of queueing on
   * the same host's row locks. `settle` or `cancel` ends the reservation.
   */
  reserve(host: string, request: ResourceRequest): IndexReservation {
    const entryPools = this.hosts.get(host)?.pools ?? [];
    const pools: PoolDelta[] = [];
    for (const r of request.pciRequests) {
      const pool = entryPools.find((p) => poolServes(p, r) && p.free >= r.count) ?? entryPools.find((p) => poolServes(p, r));
      if (pool) pools.push({ key: { devType: pool.devType, physicalNetwork: pool.physicalNetwork, vendorId: pool.vendorId, productId: pool.productId }, freeDelta: -r.count });
    }
    this.adjust(host, request, -1, pools);
    return { host, request, pools };
  }

  /**
   * The claim succeeded: the guessed pool changes give way to the claim's
   * exact ones (every pool its device changes touched, a VF's PF included).
   * Claims of other processes and releases arrive with the next full read.
   */
  settle(reservation: IndexReservation, poolChanges: PoolDelta[]): void {
    this.adjust(reservation.host, reservation.request, 0, [...reservation.pools.map(negated), ...poolChanges]);
  }

  /** The claim failed or did not commit: the reservation is undone and the host read again. */
  cancel(reservation: IndexReservation): void {
    this.adjust(reservation.host, reservation.request, +1, reservation.pools.map(negated));
    this.markChanged(reservation.host);
  }

  private adjust(host: string, request: ResourceRequest, resourceSign: number, poolChanges: PoolDelta[]): void {
    const entry = this.hosts.get(host);
    if (!entry) return;
    // Reads started before this change must not undo it.
    this.readSeq.set(host, ++this.seq);
    this.unindex(entry);
    entry.freeVcpus += resourceSign * request.vcpus;
    entry.freeRamMb += resourceSign * request.memoryMb;
    entry.freeDiskGb += resourceSign * request.diskGb;
    for (const { key, freeDelta } of poolChanges) {
      const pool = entry.pools.find((p) => p.devType === key.devType && p.physicalNetwork === key.physicalNetwork
        && p.vendorId === key.vendorId && p.productId === key.productId);
      if (pool) pool.free += freeDelta;
    }
    this.index(entry);
  }

  /** The host's claims changed in a way this process cannot compute (a release): read it again soon. */
  markChanged(host: string): void {
    this.dirty.add(host);
    this.flushing ??= new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => {
        const hosts = [...this.dirty];
        this.dirty.clear();
        return this.refresh(hosts);
      })
      .catch(() => { /* the next reload reads them again */ })
      .finally(() => {
        this.flushing = null;
        if (this.dirty.size > 0) this.markChanged([...this.dirty][0]!);
      });
  }

  /** Resolves once the refreshes asked for so far are done (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.flushing || this.reloading) await (this.flushing ?? this.reloading);
  }

  /**
   * Up to `limit` HostStates for the request, most free devices of the first
   * PCI request's kind first; null when the index cannot answer (cold, or a
   * request it does not key: no PCI request, no physical network, a host list).
   */
  candidates(request: ResourceRequest, limit: number, serviceDownTime: number, now = Date.now()): HostState[] | null {
    const first = request.pciRequests[0];
    if (!this.warm || !first || request.onlyHosts || !first.spec.physicalNetwork) return null;
    const buckets = this.buckets.get(keyOf(first.spec.devType, first.spec.physicalNetwork));
    const out: HostState[] = [];
    if (!buckets) return out;
    for (let free = buckets.maxFree; free >= first.count && out.length < limit; free--) {
      const bucket = buckets.byFree[free];
      if (!bucket || bucket.size === 0) continue;
      const names = bucket.size <= SORTED_BUCKET ? [...bucket].sort() : bucket;
      for (const name of names) {
        const entry = this.hosts.get(name)!;
        if (!poolFits(entry.pools, first)) continue;
        out.push(hostState(entry, serviceDownTime, now));
        if (out.length === limit) break;
      }
    }
    return out;
  }

  private put(row: IndexedHostRow, seq: number): void {
    if ((this.readSeq.get(row.host) ?? 0) > seq) return;
    const old = this.hosts.get(row.host);
    if (old) this.unindex(old);
    this.hosts.set(row.host, row);
    this.readSeq.set(row.host, seq);
    this.index(row);
  }

  private remove(host: string): void {
    const old = this.hosts.get(host);
    if (old) this.unindex(old);
    this.hosts.delete(host);
    this.readSeq.delete(host);
  }

  private index(entry: IndexedHostRow): void {
    for (const [key, free] of mostFreeByKey(entry.pools)) {
      if (free <= 0) continue;
      let b = this.buckets.get(key);
      if (!b) this.buckets.set(key, (b = { byFree: [], maxFree: 0 }));
      (b.byFree[free] ??= new Set()).add(entry.host);
      if (free > b.maxFree) b.maxFree = free;
    }
  }

  private unindex(entry: IndexedHostRow): void {
    for (const [key, free] of mostFreeByKey(entry.pools)) {
      const b = this.buckets.get(key);
      if (!b) continue;
      b.byFree[free]?.delete(entry.host);
      while (b.maxFree > 0 && !b.byFree[b.maxFree]?.size) b.maxFree -= 1;
    }
  }
}

function keyOf(devType: string, physicalNetwork: string): string {
  return `${devType}\u0000${physicalNetwork}`;
}

function mostFreeByKey(pools: Pool[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of pools) {
    if (!p.physicalNetwork) continue;
    const k = keyOf(p.devType, p.physicalNetwork);
    out.set(k, Math.max(out.get(k) ?? 0, p.free));
  }
  return out;
}

/** What a claim of the index takes from a host, until it commits or fails. */
export interface IndexReservation {
  host: string;
  request: ResourceRequest;
  pools: PoolDelta[];
}

const negated = (d: PoolDelta): PoolDelta => ({ key: d.key, freeDelta: -d.freeDelta });

function poolServes(p: Pool, request: PciRequest): boolean {
  const s = request.spec;
  return p.devType === s.devType && p.physicalNetwork === (s.physicalNetwork ?? '')
    && (!s.vendorId || p.vendorId === s.vendorId) && (!s.productId || p.productId === s.productId);
}

/** The database query's condition: one pool of the request's kind with enough free devices. */
function poolFits(pools: Pool[], request: PciRequest): boolean {
  const s = request.spec;
  return pools.some((p) => p.devType === s.devType && p.physicalNetwork === s.physicalNetwork && p.free >= request.count
    && (!s.vendorId || p.vendorId === s.vendorId) && (!s.productId || p.productId === s.productId));
}

function hostState(e: IndexedHostRow, serviceDownTime: number, now: number): HostState {
  return {
    host: e.host,
    enabled: e.hasService && !e.disabled,
    // Judged now from the last heartbeat the index read: a stale read can only make a host look down, never up.
    up: e.hasService && !e.forcedDown && e.lastSeenUp !== null && now - e.lastSeenUp <= serviceDownTime * 1000,
    freeVcpus: e.freeVcpus,
    freeRamMb: e.freeRamMb,
    freeDiskGb: e.freeDiskGb,
    totalRamMb: e.totalRamMb,
    pools: e.pools.map((p) => ({ ...p })),
  };
}
