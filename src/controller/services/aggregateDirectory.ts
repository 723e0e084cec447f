import { mergeAggregateMetadata, type HostAggregateMetadata } from '../../domain/scheduling/aggregateSpecs.js';
import type { ResourceRequest } from '../../domain/scheduling/types.js';
import { DEFAULT_ZONE, ZONE_KEY, zonesOfHost } from '../../domain/scheduling/zones.js';
import { listAggregates, type AggregateRecord } from '../../storage/repositories/aggregates.js';
import type { Storage } from '../../storage/db.js';
import type { ControllerContext } from '../context.js';

/**
 * Where a request may go, as the candidate index and the database query can
 * narrow it before any filter runs: index tags to walk (a host is bucketed
 * under each of its tags, candidateIndex.ts) and host lists for SQL.
 */
export interface HostScope {
  /** Hosts carrying any of these tags (`az:<zone>`, `agg:<id>`). */
  tags: string[];
  /** Only these hosts (undefined: no such bound). */
  hostsIn?: string[];
  /** Never these hosts (the default zone: hosts of any zone aggregate). */
  hostsNotIn?: string[];
}

interface Snapshot {
  aggregates: AggregateRecord[];
  byHost: Map<string, AggregateRecord[]>;
  tags: Map<string, string[]>;
}

const DEFAULT_TAGS: readonly string[] = [`az:${DEFAULT_ZONE}`];
const EMPTY: Snapshot = { aggregates: [], byHost: new Map(), tags: new Map() };

/** How old this process's copy of the aggregates may get: other controllers' changes arrive within this. */
export const AGGREGATE_RELOAD_MS = 2000;

/**
 * This controller process's copy of the host aggregates (few rows, read
 * whole), from which a host's zones, its aggregates' metadata and a
 * request's host scope are answered in memory: the scheduler asks per
 * decision, and a decision must not read every aggregate. This process's own
 * aggregate changes reload it at once; other processes' within
 * AGGREGATE_RELOAD_MS (Nova caches a host's zone too). Hosts whose zones or
 * aggregates changed are handed to the listeners (the candidate index reads
 * them again under their new tags).
 */
export class AggregateDirectory {
  private snapshot: Snapshot = EMPTY;
  private loadedAt = -Infinity;
  private loading: Promise<void> | null = null;
  private readonly listeners: Array<(hosts: string[]) => void> = [];

  constructor(private readonly load: () => Promise<AggregateRecord[]>, private readonly reloadMs = AGGREGATE_RELOAD_MS) {}

  onHostsChanged(listener: (hosts: string[]) => void): void {
    this.listeners.push(listener);
  }

  get aggregates(): readonly AggregateRecord[] {
    return this.snapshot.aggregates;
  }

  /** Loads once if never loaded; else starts a reload in the background when old. */
  async ready(now = Date.now()): Promise<void> {
    if (this.loadedAt === -Infinity) return this.reload();
    if (now - this.loadedAt >= this.reloadMs) this.reload().catch(() => undefined);
  }

  reload(): Promise<void> {
    if (this.loading) return this.loading;
    const startedAt = Date.now();
    this.loading = this.load().then((aggregates) => {
      const next = snapshotOf(aggregates);
      const changed = changedHosts(this.snapshot, next);
      this.snapshot = next;
      this.loadedAt = startedAt;
      if (changed.length) for (const l of this.listeners) l(changed);
    }).finally(() => { this.loading = null; });
    return this.loading;
  }

  aggregatesOf(host: string): readonly AggregateRecord[] {
    return this.snapshot.byHost.get(host) ?? [];
  }

  zonesOf(host: string): string[] {
    return zonesOfHost(this.aggregatesOf(host).map((a) => a.metadata));
  }

  /** The zone shown for a host (Nova joins several with ','). */
  zoneNameOf(host: string): string {
    return this.zonesOf(host).join(',');
  }

  metadataOf(host: string): HostAggregateMetadata {
    return mergeAggregateMetadata(this.aggregatesOf(host).map((a) => a.metadata));
  }

  /** The candidate index's tags of a host. */
  tagsOf(host: string): readonly string[] {
    return this.snapshot.tags.get(host) ?? DEFAULT_TAGS;
  }

  /** Every zone that some aggregate names. */
  namedZones(): string[] {
    return [...new Set(this.snapshot.aggregates.map((a) => a.metadata[ZONE_KEY]).filter((z): z is string => z !== undefined))].sort();
  }

  /** The hosts a request may go to, or null when it is not bound to a zone or aggregates. */
  scopeFor(request: ResourceRequest): HostScope | null {
    const zone = request.availabilityZone;
    const specs = request.aggregateSpecs;
    if (!zone && !specs) return null;
    let tags: string[] = [];
    let hostsIn: Set<string> | undefined;
    let hostsNotIn: string[] | undefined;
    if (zone) {
      if (zone === DEFAULT_ZONE) {
        tags = [...DEFAULT_TAGS];
        hostsNotIn = this.hostsOf((a) => a.metadata[ZONE_KEY] !== undefined && a.metadata[ZONE_KEY] !== DEFAULT_ZONE);
        const named = this.hostsOf((a) => a.metadata[ZONE_KEY] === DEFAULT_ZONE);
        // An aggregate may name the default zone; its hosts are in it (and maybe in others too).
        if (named.length) tags.push(...this.snapshot.aggregates.filter((a) => a.metadata[ZONE_KEY] === DEFAULT_ZONE).map((a) => `agg:${a.id}`));
      } else {
        tags = [`az:${zone}`];
        hostsIn = new Set(this.hostsOf((a) => a.metadata[ZONE_KEY] === zone));
      }
    }
    if (specs) {
      // A host meets the first requirement only through an aggregate that has its key.
      const [key] = Object.keys(specs);
      const withKey = this.snapshot.aggregates.filter((a) => key !== undefined && a.metadata[key] !== undefined);
      const hosts = new Set(withKey.flatMap((a) => a.hosts));
      hostsIn = hostsIn ? new Set([...hostsIn].filter((h) => hosts.has(h))) : hosts;
      if (!zone) tags = withKey.map((a) => `agg:${a.id}`);
    }
    return {
      tags,
      ...(hostsIn ? { hostsIn: [...hostsIn].sort() } : {}),
      ...(hostsNotIn && !hostsIn ? { hostsNotIn } : {}),
    };
  }

  private hostsOf(pick: (a: AggregateRecord) => boolean): string[] {
    return [...new Set(this.snapshot.aggregates.filter(pick).flatMap((a) => a.hosts))].sort();
  }
}

function snapshotOf(aggregates: AggregateRecord[]): Snapshot {
  const byHost = new Map<string, AggregateRecord[]>();
  for (const a of aggregates) {
    for (const h of a.hosts) {
      const list = byHost.get(h) ?? [];
      list.push(a);
      byHost.set(h, list);
    }
  }
  const tags = new Map<string, string[]>();
  for (const [host, list] of byHost) {
    const zones = zonesOfHost(list.map((a) => a.metadata));
    tags.set(host, [...zones.map((z) => `az:${z}`), ...list.map((a) => `agg:${a.id}`)]);
  }
  return { aggregates, byHost, tags };
}

function changedHosts(a: Snapshot, b: Snapshot): string[] {
  const out: string[] = [];
  for (const host of new Set([...a.tags.keys(), ...b.tags.keys()])) {
    if ((a.tags.get(host) ?? DEFAULT_TAGS).join('\n') !== (b.tags.get(host) ?? DEFAULT_TAGS).join('\n')) out.push(host);
  }
  return out;
}

const directories = new WeakMap<Storage, AggregateDirectory>();

/** The aggregate directory of this process for a store. */
export function aggregateDirectoryOf(ctx: ControllerContext): AggregateDirectory {
  let d = directories.get(ctx.store);
  if (!d) {
    const db = ctx.store.reader;
    d = new AggregateDirectory(() => listAggregates(db));
    directories.set(ctx.store, d);
  }
  return d;
}
