import { anyNetworkIndexKey, poolIndexKey, requestIndexKey, servesRequest } from '../../domain/pci/match.js';
import { poolsSatisfy, type Pool, type PoolDelta } from '../../domain/pci/pools.js';
import type { HostState, ResourceRequest } from '../../domain/scheduling/types.js';
import type { IndexedHostRow } from '../../storage/repositories/candidates.js';
import type { NumaSettlement } from '../../storage/repositories/claims.js';
import type { HostNumaState } from '../../domain/scheduling/types.js';
import { numaVerdict, shapeOf } from '../../domain/scheduling/filters/numaTopologyFilter.js';
import { mayHold } from '../../domain/numa/cellCapacity.js';
import { SharedNumaStates, type SharedNumaState } from './numaStates.js';

/** Where the index reads its rows: every host, or a few (see indexedHostRows). */
export type IndexSource = (hosts?: string[]) => Promise<IndexedHostRow[]>;

export interface CandidateIndexOptions {
  /** A full reload is started (in the background) when the last one is older than this. */
  reloadMs: number;
  /**
   * A host's tags (its availability zones, its aggregates: aggregateDirectory.ts):
   * the host is bucketed under each tag too, so a request bound to a zone or
   * to aggregates walks only their hosts.
   */
  tagsOf?: (host: string) => readonly string[];
}

/** Buckets of hosts by their free devices of one index key (match.ts: a type on one network, or on any). */
interface Buckets {
  byFree: Array<Set<string>>;
  maxFree: number;
}

/** A bucket this small is sorted by host name, so small fleets get the database's order (most free, then host). */
const SORTED_BUCKET = 256;

/**
 * A controller-resident hint of which hosts can take a PCI request: per
 * index key (a device type on one physical network, untagged included, and a
 * device type on any network: match.ts), hosts bucketed by the free devices
 * their pools of that key add up to, with the HostState summary of each. The
 * buckets only narrow the walk (they never hold back a host the rule would
 * take); every host the walk meets is then judged by the rule itself
 * (`poolsSatisfy`, over all of the request's PCI requests). Taking the best `limit` costs the same at any
 * host count, and no candidate row is read from the database.
 *
 * It is only a hint. The claim stays the conditional database transaction,
 * so an entry made stale by another controller process loses the claim and
 * is refreshed; the scheduler then tries the next candidate. The scheduler's
 * own claims move entries by their exact pool changes (reserve, settle);
 * every other committed device write of this process reaches the index
 * through the store's device feed (markChanged: the host is read again; see
 * candidateIndexOf); entries are also read again on service changes, and
 * all of them every `reloadMs`.
 */
export class CandidateIndex {
  private readonly hosts = new Map<string, IndexedHostRow>();
  /** Per host, the read sequence its row came from: an older read never overwrites a newer one. */
  private readonly readSeq = new Map<string, number>();
  private readonly buckets = new Map<string, Buckets>();
  /** The tags each host was bucketed under (its tags may change before it is unbucketed). */
  private readonly indexedTags = new Map<string, readonly string[]>();
  private readonly parsedNuma = new Map<string, ParsedNuma>();
  private readonly numaStates = new SharedNumaStates();
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
    // A guess of the pools the claim will take from: each request's devices from the pools the rule lets
    // serve it, as many from each as it has left. The claim's exact changes replace it (settle).
    for (const r of request.pciRequests) {
      let left = r.count;
      for (const p of entryPools) {
        if (left <= 0) break;
        if (!servesRequest(p, r.spec)) continue;
        const key = { devType: p.devType, physicalNetwork: p.physicalNetwork, vendorId: p.vendorId, productId: p.productId };
        const taken = pools.reduce((n, d) => n + (sameKey(d.key, key) ? -d.freeDelta : 0), 0);
        const take = Math.min(left, p.free - taken);
        if (take <= 0) continue;
        pools.push({ key, freeDelta: -take });
        left -= take;
      }
    }
    this.adjust(host, request, -1, pools);
    return { host, request, pools };
  }

  /**
   * The claim succeeded: the guessed pool changes give way to the claim's
   * exact ones (every pool its device changes touched, a VF's PF included).
   * This process's other writes arrive through the device feed, other
   * processes' with the next full read.
   */
  settle(reservation: IndexReservation, poolChanges: PoolDelta[], numaUsage?: NumaSettlement['usage']): void {
    this.adjust(reservation.host, reservation.request, 0, [...reservation.pools.map(negated), ...poolChanges]);
    if (!reservation.request.numa) return;
    // The claim's cells' usage as it wrote it (numa_usage) replaces the entry's; without it the host is read again.
    const entry = this.hosts.get(reservation.host);
    if (entry && numaUsage !== undefined) {
      const parsed = this.parsedNumaOf(entry);
      parsed.shared = this.numaStates.afterClaim(entry.numaColumns, parsed.shared.state, numaUsage.json, numaUsage.parsed);
      // The index's own copy of the row, changed in place as adjust changes its counts, holding the
      // shared state's copy of the text: a claim leaves nothing of its own behind.
      entry.numaColumns.numa_usage = parsed.shared.usageJson;
    } else {
      this.markChanged(reservation.host);
    }
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
      const pool = entry.pools.find((p) => sameKey(p, key));
      if (pool) pool.free += freeDelta;
    }
    this.index(entry);
  }

  /** The host's claims changed in a way the index cannot compute (the device feed, a lost claim): read it again soon. */
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
   * PCI request's kind first, each one that the rule accepts for all of the
   * request's PCI requests; null when the index cannot answer (cold, or a
   * request it does not key: no PCI request, a host list).
   */
  candidates(
    request: ResourceRequest, limit: number, serviceDownTime: number, now = Date.now(),
    /** Only hosts bucketed under one of these tags (a zone, aggregates: aggregateDirectory.ts scopeFor). */
    scopeTags?: readonly string[],
  ): HostState[] | null {
    const first = request.pciRequests[0];
    if (!this.warm || !first || request.onlyHosts) return null;
    const key = requestIndexKey(first.spec);
    const all = (scopeTags ? scopeTags.map((t) => this.buckets.get(tagKey(t, key))) : [this.buckets.get(key)])
      .filter((b): b is Buckets => b !== undefined);
    const out: HostState[] = [];
    if (all.length === 0) return out;
    const maxFree = Math.max(...all.map((b) => b.maxFree));
    const seen = all.length > 1 ? new Set<string>() : null;
    // Hosts whose cells look the same share a state (numaStates.ts), and with it whether guests of this shape fit.
    const shape = request.numa ? shapeOf(request) : null;
    for (let free = maxFree; free >= first.count && out.length < limit; free--) {
      let bucket: Iterable<string> & { size: number };
      if (all.length === 1) {
        const b = all[0]!.byFree[free];
        if (!b || b.size === 0) continue;
        bucket = b;
      } else {
        // Tags of one host may overlap (two of its aggregates): each host once.
        const merged = new Set<string>();
        for (const b of all) for (const h of b.byFree[free] ?? []) if (!seen!.has(h)) { seen!.add(h); merged.add(h); }
        if (merged.size === 0) continue;
        bucket = merged;
      }
      const names = bucket.size <= SORTED_BUCKET ? [...bucket].sort() : bucket;
      for (const name of names) {
        const entry = this.hosts.get(name)!;
        if (!poolsSatisfy(entry.pools, request.pciRequests)) continue;
        // A NUMA request walks on past hosts whose cells cannot hold it, so they never take a candidate's place.
        // The cells' free capacity turns most full hosts away before the fit runs.
        let numa: HostNumaState | undefined;
        if (shape !== null) {
          const { shared } = this.parsedNumaOf(entry);
          let fits = shared.fits.get(shape);
          if (fits === undefined) {
            fits = mayHold(shared.capacity, request.numa!.guest) && numaVerdict(shared.state, request) === null;
            shared.fits.set(shape, fits);
          }
          if (!fits) continue;
          numa = shared.state;
        }
        const state = hostState(entry, serviceDownTime, now);
        if (numa) state.numa = numa;
        out.push(state);
        if (out.length === limit) break;
      }
    }
    return out;
  }

  /** The entry's NUMA state and free cell capacity, parsed once per stored version of its columns. */
  private parsedNumaOf(entry: IndexedHostRow): ParsedNuma {
    const cached = this.parsedNuma.get(entry.host);
    if (cached && cached.columns === entry.numaColumns) return cached;
    // A full reload reads every row again: columns unchanged keep their parse.
    if (cached && sameNumaColumns(cached.columns, entry.numaColumns)) {
      cached.columns = entry.numaColumns;
      return cached;
    }
    const p = { columns: entry.numaColumns, shared: this.numaStates.ofColumns(entry.host, entry.numaColumns) };
    this.parsedNuma.set(entry.host, p);
    return p;
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
    this.indexedTags.delete(host);
    this.parsedNuma.delete(host);
  }

  private index(entry: IndexedHostRow): void {
    const tags = this.opts.tagsOf?.(entry.host) ?? NO_TAGS;
    this.indexedTags.set(entry.host, tags);
    for (const [key, free] of freeByKey(entry.pools)) {
      if (free <= 0) continue;
      this.bucketAdd(key, free, entry.host);
      for (const tag of tags) this.bucketAdd(tagKey(tag, key), free, entry.host);
    }
  }

  private unindex(entry: IndexedHostRow): void {
    const tags = this.indexedTags.get(entry.host) ?? NO_TAGS;
    for (const [key, free] of freeByKey(entry.pools)) {
      if (free <= 0) continue;
      this.bucketDelete(key, free, entry.host);
      for (const tag of tags) this.bucketDelete(tagKey(tag, key), free, entry.host);
    }
  }

  private bucketAdd(key: string, free: number, host: string): void {
    let b = this.buckets.get(key);
    if (!b) this.buckets.set(key, (b = { byFree: [], maxFree: 0 }));
    (b.byFree[free] ??= new Set()).add(host);
    if (free > b.maxFree) b.maxFree = free;
  }

  private bucketDelete(key: string, free: number, host: string): void {
    const b = this.buckets.get(key);
    if (!b) return;
    b.byFree[free]?.delete(host);
    while (b.maxFree > 0 && !b.byFree[b.maxFree]?.size) b.maxFree -= 1;
  }
}

const NO_TAGS: readonly string[] = [];

/** A host's NUMA columns and the state (shared with hosts whose cells look the same) they were read into. */
interface ParsedNuma {
  columns: IndexedHostRow['numaColumns'];
  shared: SharedNumaState;
}

function sameNumaColumns(a: IndexedHostRow['numaColumns'], b: IndexedHostRow['numaColumns']): boolean {
  return a.numa_topology === b.numa_topology && a.numa_usage === b.numa_usage && a.vcpus === b.vcpus && a.memory_mb === b.memory_mb
    && a.cpu_allocation_ratio === b.cpu_allocation_ratio && a.ram_allocation_ratio === b.ram_allocation_ratio;
}

/** A tag's own buckets of an index key. */
const tagKey = (tag: string, key: string) => `${tag}\u0000${key}`;

/** Free devices per index key: each pool counts under its own network ('' when untagged) and under "any network". */
function freeByKey(pools: Pool[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of pools) {
    if (p.free <= 0) continue;
    const own = poolIndexKey(p.devType, p.physicalNetwork);
    out.set(own, (out.get(own) ?? 0) + p.free);
    const any = anyNetworkIndexKey(p.devType);
    out.set(any, (out.get(any) ?? 0) + p.free);
  }
  return out;
}

function sameKey(a: PoolDelta['key'], b: PoolDelta['key']): boolean {
  return a.devType === b.devType && a.physicalNetwork === b.physicalNetwork && a.vendorId === b.vendorId && a.productId === b.productId;
}

/** What a claim of the index takes from a host, until it commits or fails. */
export interface IndexReservation {
  host: string;
  request: ResourceRequest;
  pools: PoolDelta[];
}

const negated = (d: PoolDelta): PoolDelta => ({ key: d.key, freeDelta: -d.freeDelta });

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
