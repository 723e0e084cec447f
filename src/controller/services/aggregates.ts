import { randomUUID } from 'node:crypto';
import { BadRequest, Conflict, NotFound } from '../../domain/errors.js';
import { DEFAULT_ZONE, ZONE_KEY, zonesOfHost } from '../../domain/scheduling/zones.js';
import {
  addAggregateHost, aggregateNameTaken, deleteAggregate, getAggregate, hostsHaveServers, insertAggregate,
  removeAggregateHost, renameAggregate, setAggregateMetadata, touchAggregate, type AggregateRecord,
} from '../../storage/repositories/aggregates.js';
import { COMPUTE_BINARY, listServices } from '../../storage/repositories/hosts.js';
import type { ControllerContext } from '../context.js';
import { aggregateDirectoryOf } from './aggregateDirectory.js';

/**
 * Host aggregates and the availability zones they make, with Nova's rules
 * (nova/compute/api.py AggregateAPI): a host is in at most one zone, a
 * zone is never empty-named, and the zone of hosts that run servers does not
 * change under them. Every change reloads this process's aggregate
 * directory, so the scheduler sees it at once (other processes within
 * AGGREGATE_RELOAD_MS).
 */

export async function aggregateOrFail(ctx: ControllerContext, id: string): Promise<AggregateRecord> {
  const n = /^\d+$/.test(id) ? Number(id) : NaN;
  const found = Number.isSafeInteger(n) ? await getAggregate(ctx.store.reader, n) : null;
  if (!found) throw new NotFound(`Aggregate ${id} could not be found.`);
  return found;
}

async function changed(ctx: ControllerContext, id: number): Promise<AggregateRecord> {
  await aggregateDirectoryOf(ctx).reload();
  return (await getAggregate(ctx.store.reader, id))!;
}

/** The zone an aggregate's hosts would be in with `zone`, checked as Nova does; `reason` prefixes the message. */
async function checkZoneChange(ctx: ControllerContext, agg: AggregateRecord, zone: string | null | undefined, prefix: string): Promise<void> {
  if (zone === undefined) return;
  if (zone === null || zone === '') {
    throw new BadRequest(`${prefix} Reason: Aggregate ${agg.name} does not support empty named availability zone.`);
  }
  await zoneChangeAllowed(ctx, agg.hosts, agg, zone, prefix, BadRequest);
}

async function zoneChangeAllowed(
  ctx: ControllerContext, hosts: string[], agg: AggregateRecord, zone: string, prefix: string,
  Err: typeof BadRequest | typeof Conflict,
): Promise<void> {
  const directory = aggregateDirectoryOf(ctx);
  await directory.reload();
  // Zones these hosts have through their other aggregates.
  const conflicting = new Set<string>();
  for (const host of hosts) {
    const others = directory.aggregatesOf(host).filter((a) => a.id !== agg.id).map((a) => a.metadata);
    for (const z of zonesOfHost(others)) {
      if (others.some((m) => m[ZONE_KEY] !== undefined) && z !== zone) conflicting.add(z);
    }
  }
  if (conflicting.size) {
    throw new Err(`${prefix} Reason: One or more hosts already in availability zone(s) [${[...conflicting].map((z) => `'${z}'`).join(', ')}].`);
  }
  const current = agg.metadata[ZONE_KEY] ?? DEFAULT_ZONE;
  if (current !== zone && await hostsHaveServers(ctx.store.reader, hosts)) {
    throw new Err(`${prefix} Reason: One or more hosts contain instances in this zone.`);
  }
}

export async function createAggregate(ctx: ControllerContext, name: string, zone: string | null): Promise<AggregateRecord> {
  if (await aggregateNameTaken(ctx.store.reader, name)) throw new Conflict(`Aggregate ${name} already exists.`);
  const id = await ctx.store.transact(async (trx) => {
    const created = await insertAggregate(trx, { uuid: randomUUID(), name });
    if (zone) await setAggregateMetadata(trx, created, { [ZONE_KEY]: zone });
    return created;
  }).catch((e: unknown) => {
    if ((e as { code?: string }).code === '23505' || /UNIQUE/.test(String((e as Error).message))) throw new Conflict(`Aggregate ${name} already exists.`);
    throw e;
  });
  return changed(ctx, id);
}

export async function updateAggregate(ctx: ControllerContext, id: string, changes: { name?: string; zone?: string | null }): Promise<AggregateRecord> {
  const agg = await aggregateOrFail(ctx, id);
  const prefix = `Cannot update aggregate ${agg.id}.`;
  if (changes.name !== undefined && changes.name !== agg.name && await aggregateNameTaken(ctx.store.reader, changes.name, agg.id)) {
    throw new Conflict(`Aggregate ${changes.name} already exists.`);
  }
  await checkZoneChange(ctx, agg, changes.zone, prefix);
  await ctx.store.transact(async (trx) => {
    if (changes.name !== undefined) await renameAggregate(trx, agg.id, changes.name);
    if (changes.zone) await setAggregateMetadata(trx, agg.id, { [ZONE_KEY]: changes.zone });
    await touchAggregate(trx, agg.id);
  });
  return changed(ctx, agg.id);
}

export async function setMetadata(ctx: ControllerContext, id: string, metadata: Record<string, string | null>): Promise<AggregateRecord> {
  const agg = await aggregateOrFail(ctx, id);
  const prefix = `Cannot update metadata of aggregate ${agg.id}.`;
  if (ZONE_KEY in metadata) {
    const zone = metadata[ZONE_KEY];
    // Removing the zone puts the hosts back in the default zone: the same rules as naming another.
    if (zone === null) await zoneChangeAllowed(ctx, agg.hosts, agg, DEFAULT_ZONE, prefix, BadRequest);
    else await checkZoneChange(ctx, agg, zone, prefix);
  }
  await ctx.store.transact(async (trx) => {
    await setAggregateMetadata(trx, agg.id, metadata);
    await touchAggregate(trx, agg.id);
  });
  return changed(ctx, agg.id);
}

export async function addHost(ctx: ControllerContext, id: string, host: string): Promise<AggregateRecord> {
  const agg = await aggregateOrFail(ctx, id);
  const services = await listServices(ctx.store.reader, { host, binary: COMPUTE_BINARY });
  if (services.length === 0) throw new NotFound(`Compute host ${host} could not be found.`);
  if (agg.hosts.includes(host)) throw new Conflict(`Aggregate ${agg.id} already has host ${host}.`);
  const zone = agg.metadata[ZONE_KEY];
  if (zone !== undefined) await zoneChangeAllowed(ctx, [host], agg, zone, `Cannot add host to aggregate ${agg.id}.`, Conflict);
  await ctx.store.transact(async (trx) => {
    await addAggregateHost(trx, agg.id, host);
    await touchAggregate(trx, agg.id);
  }).catch((e: unknown) => {
    if ((e as { code?: string }).code === '23505' || /UNIQUE|PRIMARY/.test(String((e as Error).message))) {
      throw new Conflict(`Aggregate ${agg.id} already has host ${host}.`);
    }
    throw e;
  });
  return changed(ctx, agg.id);
}

export async function removeHost(ctx: ControllerContext, id: string, host: string): Promise<AggregateRecord> {
  const agg = await aggregateOrFail(ctx, id);
  const notThere = new NotFound(`Cannot remove host ${host} in aggregate ${agg.id}`);
  if (!agg.hosts.includes(host)) throw notThere;
  const zone = agg.metadata[ZONE_KEY];
  if (zone !== undefined && zone !== DEFAULT_ZONE && await hostsHaveServers(ctx.store.reader, [host])) {
    // The host's servers would change zone under them (Nova refuses it too).
    throw new Conflict(`Cannot remove host ${host} in aggregate ${agg.id}`);
  }
  const removed = await ctx.store.transact(async (trx) => {
    const gone = await removeAggregateHost(trx, agg.id, host);
    if (gone) await touchAggregate(trx, agg.id);
    return gone;
  });
  if (!removed) throw notThere;
  return changed(ctx, agg.id);
}

export async function removeAggregate(ctx: ControllerContext, id: string): Promise<void> {
  const agg = await aggregateOrFail(ctx, id);
  if (agg.hosts.length) throw new BadRequest(`Cannot remove host from aggregate ${agg.id}. Reason: Host aggregate is not empty.`);
  await ctx.store.transact((trx) => deleteAggregate(trx, agg.id));
  await aggregateDirectoryOf(ctx).reload();
}
