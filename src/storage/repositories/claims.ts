import { sql, type Kysely, type Selectable } from 'kysely';
import { ClaimConflict } from '../../domain/errors.js';
import type { HostDevice } from '../../domain/pci/device.js';
import type { PoolDelta } from '../../domain/pci/pools.js';
import { allocateDevice, freeDevice } from '../../domain/pci/tracker.js';
import { requestColumns } from '../../domain/pci/match.js';
import type { PciRequest } from '../../domain/pci/request.js';
import type { AllocationTable, Database } from '../schema.js';
import { LIMIT_ONE } from '../limitOne.js';
import { deferWrite, runTogether } from '../pipelining.js';
import { precompiled } from '../precompiled.js';
import { noteHostChanged } from '../devices/changeFeed.js';
import { applyDeviceChanges, transferDevices } from '../devices/deviceWrites.js';
import { deviceFromRow, familyOf, type PciDeviceRow } from './pciDevices.js';
import { nowIso, toJson } from './json.js';
import { applyCellClaims, type HostNumaUsage } from '../../domain/numa/hostTopology.js';
import { cellClaimsOf, deviceTiersFor, fitGuestToHost, type DeviceTier, type NumaPlacement } from '../../domain/numa/fit.js';
import { pciNumaRequests } from '../../domain/numa/pciRequests.js';
import type { NumaRequest } from '../../domain/scheduling/types.js';
import { lockedNumaState, lockedNumaUsage, numaPlacementOf, writeNumaUsage, type DeviceKind } from './numa.js';
import type { Unit } from '../unit.js';
import { dbOf, onPostgres } from '../internal/handles.js';

export interface ClaimInput {
  host: string;
  /** Who holds the claim: the instance, or a migration record during a resize. */
  consumer: string;
  instanceUuid: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  pciRequests: PciRequest[];
  /** The guest's NUMA topology: pinned CPUs, memory per cell and huge pages are claimed with the rest. */
  numa?: NumaRequest;
}

/** A NUMA claim's cells' usage as it wrote it: the column's text and the object it was made from (never changed afterwards). */
export interface NumaSettlement {
  usage?: { json: string; parsed: HostNumaUsage };
}

export interface ClaimedDevice {
  requestId: string;
  device: HostDevice;
}

// The statements every claim and release runs, built once (precompiled.ts).
const claimNodeResources = precompiled<{ host: string; vcpus: number; memoryMb: number; diskGb: number; now: string }>((db, p) =>
  db.updateTable('compute_nodes')
    .set({
      vcpus_used: sql`vcpus_used + ${p.vcpus}`,
      memory_mb_used: sql`memory_mb_used + ${p.memoryMb}`,
      local_gb_used: sql`local_gb_used + ${p.diskGb}`,
      running_vms: sql`running_vms + 1`,
      updated_at: p.now,
    })
    .where('host', '=', p.host)
    .where(sql<boolean>`vcpus_used + ${p.vcpus} <= vcpus * cpu_allocation_ratio`)
    .where(sql<boolean>`memory_mb_used + ${p.memoryMb} <= memory_mb * ram_allocation_ratio`)
    .where(sql<boolean>`local_gb_used + ${p.diskGb} <= local_gb * disk_allocation_ratio`));

const insertAllocation = precompiled<{ consumer: string; host: string; vcpus: number; memoryMb: number; diskGb: number; numa: string | null }>((db, p) =>
  db.insertInto('allocations').values({ consumer: p.consumer, host: p.host, vcpus: p.vcpus, memory_mb: p.memoryMb, disk_gb: p.diskGb, numa: p.numa }));

type PickOnNetwork = { host: string; devType: string; physicalNetwork: string };
const pickOnNetworkQuery = (db: Kysely<Database>, p: PickOnNetwork) => db.selectFrom('pci_devices').selectAll()
  .where('host', '=', p.host).where('dev_type', '=', p.devType).where('physical_network', '=', p.physicalNetwork)
  .where('status', '=', 'available').where('missing', '=', 0)
  .orderBy('address').limit(LIMIT_ONE);
const pickOnNetwork = precompiled<PickOnNetwork, PciDeviceRow>(pickOnNetworkQuery);
const pickOnNetworkLocking = precompiled<PickOnNetwork, PciDeviceRow>((db, p) => pickOnNetworkQuery(db, p).forUpdate().skipLocked());
/** The PF of the device pickOnNetwork would pick, locked: asked for in the same round trip, on a guess. */
const parentOfPickLocking = precompiled<PickOnNetwork, PciDeviceRow>((db, p) => db.selectFrom('pci_devices').selectAll()
  .where('host', '=', p.host)
  .where('address', '=', (eb) => eb.selectFrom('pci_devices as vf').select('vf.parent_addr')
    .where('vf.host', '=', p.host).where('vf.dev_type', '=', p.devType).where('vf.physical_network', '=', p.physicalNetwork)
    .where('vf.status', '=', 'available').where('vf.missing', '=', 0)
    .orderBy('vf.address').limit(LIMIT_ONE))
  .forUpdate());

type PickOnNode = PickOnNetwork & { numaNode: number };
const pickOnNodeQuery = (db: Kysely<Database>, p: PickOnNode) => pickOnNetworkQuery(db, p).where('numa_node', '=', p.numaNode);
const pickOnNode = precompiled<PickOnNode, PciDeviceRow>(pickOnNodeQuery);
const pickOnNodeLocking = precompiled<PickOnNode, PciDeviceRow>((db, p) => pickOnNodeQuery(db, p).forUpdate().skipLocked());

interface PickedDevice {
  device: HostDevice;
  /** The device's PF, when it came with the pick (PostgreSQL); otherwise familyOf reads it. */
  parent: HostDevice | null;
}

/**
 * Claims resources and devices on one host inside the caller's transaction.
 * Every write is conditional on the state it read, so a concurrent claim (in
 * this or another controller process) makes this one fail with ClaimConflict
 * instead of handing out the same device twice. The host is news on the
 * store's device feed once the transaction commits, unless the caller takes
 * the exact pool changes in `settledBy` and counts them itself (the
 * scheduler's own candidate index: deviceWrites.ts applyDeviceChanges).
 */
export async function claimOnHost(
  unit: Unit, input: ClaimInput, settledBy?: PoolDelta[],
  /** Takes the host's cells' usage as this claim leaves it (the candidate index's entry, without a read). */
  numaSettledBy?: NumaSettlement,
): Promise<ClaimedDevice[]> {
  const trx = dbOf(unit);
  const now = nowIso();
  // The compute node row is written first: on PostgreSQL its row lock orders
  // all claims on one host, which also rules out deadlocks between them.
  // Deferred (pipelining.ts): on PostgreSQL they go out with the device pick, in this order.
  await deferWrite(trx, claimNodeResources.compile(trx, {
    host: input.host, vcpus: input.vcpus, memoryMb: input.memoryMb, diskGb: input.diskGb, now,
  }), () => new ClaimConflict(`host ${input.host} no longer has the resources`));
  const placement = input.numa ? await claimNumaCells(unit, input, input.numa, numaSettledBy) : null;
  await deferWrite(trx, insertAllocation.compile(trx, {
    consumer: input.consumer, host: input.host, vcpus: input.vcpus, memoryMb: input.memoryMb, diskGb: input.diskGb,
    numa: placement ? toJson(placement) : null,
  }));

  const claimed: ClaimedDevice[] = [];
  for (const request of input.pciRequests) {
    for (let n = 0; n < request.count; n++) {
      const tiers = placement?.deviceTiers[request.id];
      const pick = tiers ? await pickInTiers(trx, onPostgres(unit), input.host, request, tiers) : await pickFreeDevice(trx, onPostgres(unit), input.host, request);
      if (!pick) throw new ClaimConflict(`host ${input.host} has no free device for ${request.id}`);
      const { device } = pick;
      const family = pick.parent ? [pick.parent] : await familyOf(unit, device, onPostgres(unit), familyToAllocate(device));
      const changes = allocateDevice(device, family, input.instanceUuid, 'allocated');
      await applyDeviceChanges(unit, input.host, [device, ...family], changes, input.consumer, now, settledBy);
      claimed.push({ requestId: request.id, device: { ...device, status: 'allocated', instanceUuid: input.instanceUuid } });
    }
  }
  return claimed;
}

/**
 * The NUMA part of a claim: the fit is run again on the host's cells and
 * free devices as this transaction sees them (after the compute node's
 * conditional write, so no other claim on the host runs in between), and
 * its cells' usage is written. No fit is a lost race: ClaimConflict.
 */
async function claimNumaCells(unit: Unit, input: ClaimInput, numa: NumaRequest, settledBy?: NumaSettlement): Promise<NumaPlacement> {
  const state = await lockedNumaState(unit, input.host, oneKindOf(input.pciRequests));
  if (!state) throw new ClaimConflict(`host ${input.host} is gone`);
  const fit = fitGuestToHost(state.topology, state.usage, numa.guest, {
    cpuAllocationRatio: state.cpuAllocationRatio, ramAllocationRatio: state.ramAllocationRatio,
    pci: pciNumaRequests(input.pciRequests, numa, state.devices ?? []),
  });
  if (!fit.placement) throw new ClaimConflict(`host ${input.host}: ${fit.reason}`);
  const usage = applyCellClaims(state.usage, cellClaimsOf(fit.placement), 1);
  const usageJson = await writeNumaUsage(unit, input.host, usage);
  if (settledBy) settledBy.usage = { json: usageJson, parsed: usage };
  return fit.placement;
}

/** The one device kind every request asks for, as a port's request does (a type on a physical network), or undefined. */
function oneKindOf(requests: PciRequest[]): DeviceKind | undefined {
  let kind: DeviceKind | undefined;
  for (const r of requests) {
    const { devType, physicalNetwork, vendorId, productId } = requestColumns(r.spec);
    if (!physicalNetwork || vendorId || productId) return undefined;
    if (kind && (kind.devType !== devType || kind.physicalNetwork !== physicalNetwork)) return undefined;
    kind = { devType, physicalNetwork };
  }
  return kind;
}

/** A device for a request from the NUMA nodes its affinity policy allows, nearest tier first. */
async function pickInTiers(trx: Kysely<Database>, postgres: boolean, host: string, request: PciRequest, tiers: DeviceTier[]): Promise<PickedDevice | null> {
  const { devType, physicalNetwork, vendorId, productId } = requestColumns(request.spec);
  const common = physicalNetwork && !vendorId && !productId;
  for (const tier of tiers) {
    // The common request (a port's: a kind on a physical network) runs prebuilt for any node or one node.
    if (common && tier === 'any') {
      const pick = await pickFreeDevice(trx, postgres, host, request);
      if (pick) return pick;
      continue;
    }
    if (common && tier !== 'any' && tier.length === 1 && tier[0] !== null) {
      const [row] = (await (postgres ? pickOnNodeLocking : pickOnNode).run(trx, { host, devType, physicalNetwork, numaNode: tier[0]! })).rows;
      if (row) return { device: deviceFromRow(row), parent: null };
      continue;
    }
    let q = trx.selectFrom('pci_devices').selectAll()
      .where('host', '=', host).where('dev_type', '=', devType).where('status', '=', 'available').where('missing', '=', 0);
    if (physicalNetwork === null) q = q.where('physical_network', 'is', null);
    else if (physicalNetwork !== undefined) q = q.where('physical_network', '=', physicalNetwork);
    if (vendorId !== undefined) q = q.where('vendor_id', '=', vendorId);
    if (productId !== undefined) q = q.where('product_id', '=', productId);
    if (tier !== 'any') {
      const nodes = tier.filter((n): n is number => n !== null);
      const withoutNode = tier.includes(null);
      q = q.where((eb) => eb.or([
        ...(nodes.length ? [eb('numa_node', 'in', nodes)] : []),
        ...(withoutNode ? [eb('numa_node', 'is', null)] : []),
        ...(nodes.length === 0 && !withoutNode ? [eb.lit(false)] : []),
      ]));
    }
    q = q.orderBy('address').limit(LIMIT_ONE);
    if (postgres) q = q.forUpdate().skipLocked();
    const row = await q.executeTakeFirst();
    if (row) return { device: deviceFromRow(row), parent: null };
  }
  return null;
}

/** Gives back the cells a consumer's NUMA claim took on a host. */
async function releaseNumaCells(unit: Unit, host: string, placementJson: string): Promise<void> {
  const placement = JSON.parse(placementJson) as NumaPlacement;
  const usage = await lockedNumaUsage(unit, host);
  await writeNumaUsage(unit, host, applyCellClaims(usage, cellClaimsOf(placement), -1));
}

/** What allocateDevice looks at: a VF only at its PF (which becomes unavailable); a PF at all its VFs. */
function familyToAllocate(device: HostDevice): 'all' | 'none' {
  return device.parentAddr === null ? 'all' : 'none';
}

async function pickFreeDevice(trx: Kysely<Database>, postgres: boolean, host: string, request: PciRequest): Promise<PickedDevice | null> {
  // The rule's columns (match.ts): ids lower-case as the rows hold them; physicalNetwork null = untagged only.
  const { devType, physicalNetwork, vendorId, productId } = requestColumns(request.spec);
  // The common request (a port's: a kind on a physical network) runs prebuilt.
  if (physicalNetwork && !vendorId && !productId) {
    const values = { host, devType, physicalNetwork };
    if (!postgres) {
      const [row] = (await pickOnNetwork.run(trx, values)).rows;
      return row ? { device: deviceFromRow(row), parent: null } : null;
    }
    // On PostgreSQL the PF comes in the same round trip. The compute node's row lock (claimOnHost's
    // first write) keeps other claims on this host out, so the guess is right unless a release or
    // another session holds or freed a lower VF meanwhile; then it is not used and familyOf reads the PF.
    const [picked, parentRows] = await runTogether(trx, [pickOnNetworkLocking.compile(trx, values), parentOfPickLocking.compile(trx, values)]);
    const row = picked!.rows[0] as PciDeviceRow | undefined;
    if (!row) return null;
    const device = deviceFromRow(row);
    const parentRow = parentRows!.rows[0] as PciDeviceRow | undefined;
    const parent = parentRow && device.parentAddr !== null && parentRow.address === device.parentAddr ? deviceFromRow(parentRow) : null;
    return { device, parent };
  }
  let q = trx.selectFrom('pci_devices').selectAll()
    .where('host', '=', host)
    .where('dev_type', '=', devType)
    .where('status', '=', 'available')
    .where('missing', '=', 0);
  if (physicalNetwork === null) q = q.where('physical_network', 'is', null);
  else if (physicalNetwork !== undefined) q = q.where('physical_network', '=', physicalNetwork);
  if (vendorId !== undefined) q = q.where('vendor_id', '=', vendorId);
  if (productId !== undefined) q = q.where('product_id', '=', productId);
  q = q.orderBy('address').limit(LIMIT_ONE);
  if (postgres) q = q.forUpdate().skipLocked();
  const row = await q.executeTakeFirst();
  return row ? { device: deviceFromRow(row), parent: null } : null;
}

/** Frees every device and resource a consumer holds on a host (all hosts when host is omitted). */
export async function releaseConsumer(unit: Unit, consumer: string, host?: string): Promise<number> {
  const trx = dbOf(unit);
  const now = nowIso();
  let q = trx.selectFrom('pci_devices').selectAll().where('consumer', '=', consumer);
  if (host) q = q.where('host', '=', host);
  let aq = trx.selectFrom('allocations').selectAll().where('consumer', '=', consumer);
  if (host) aq = aq.where('host', '=', host);
  // Released once: on PostgreSQL the allocation rows are locked first, so a second release of the same
  // consumer running meanwhile waits here, then finds neither rows nor devices (the first deleted and
  // freed them) instead of giving the same vCPUs, cells and devices back twice. (SQLite has one writer.)
  if (onPostgres(unit)) aq = aq.forUpdate();
  // Both depend only on the consumer: one round trip (pipelining.ts), the allocations first (their lock
  // orders the device read). Nothing below changes allocations before they are used.
  const [allocationRows, heldRows] = await runTogether(trx, [aq.compile(), q.orderBy('address').compile()]);
  const held = (heldRows!.rows as PciDeviceRow[]).map(deviceFromRow);
  const allocations = allocationRows!.rows as Array<Selectable<AllocationTable>>;
  for (const device of held) {
    const family = await familyOf(unit, device, onPostgres(unit), 'in-use');
    const current = family.find((d) => d.id === device.id) ?? device;
    const changes = freeDevice(current, family);
    await applyDeviceChanges(unit, device.host, [current, ...family], changes, null, now);
  }
  for (const a of allocations) {
    if (a.numa) await releaseNumaCells(unit, a.host, a.numa);
    await deferWrite(trx, trx.updateTable('compute_nodes').set({
      vcpus_used: sql`vcpus_used - ${a.vcpus}`,
      memory_mb_used: sql`memory_mb_used - ${a.memory_mb}`,
      local_gb_used: sql`local_gb_used - ${a.disk_gb}`,
      running_vms: sql`running_vms - 1`,
      updated_at: now,
    }).where('host', '=', a.host).compile());
    await deferWrite(trx, trx.deleteFrom('allocations').where('consumer', '=', consumer).where('host', '=', a.host).compile());
    // The host's free vCPU/RAM/disk changed even when no device did (applyDeviceChanges tells about those).
    noteHostChanged(trx, a.host);
  }
  return held.length;
}

/** Hands a consumer's claims to another consumer (a resize's source claims move to the migration). */
export async function transferConsumer(unit: Unit, from: string, to: string, host: string): Promise<void> {
  const trx = dbOf(unit);
  await transferDevices(unit, from, to, host);
  await trx.updateTable('allocations').set({ consumer: to }).where('consumer', '=', from).where('host', '=', host).execute();
}

/**
 * Claims only devices (no vCPU/RAM/disk, no allocation row, no running_vms)
 * on a host for a server already placed there: an interface attach. Same
 * conditional writes as claimOnHost, so a lost race is a ClaimConflict.
 */
export async function claimDevicesOnHost(
  unit: Unit, input: Omit<ClaimInput, 'vcpus' | 'memoryMb' | 'diskGb'>,
): Promise<ClaimedDevice[]> {
  const trx = dbOf(unit);
  const now = nowIso();
  // Same first write as claimOnHost: on PostgreSQL the node row lock orders claims on one host.
  await trx.updateTable('compute_nodes').set({ updated_at: now }).where('host', '=', input.host).execute();
  const tiers = input.numa ? await attachedDeviceTiers(unit, input, input.numa) : null;
  const claimed: ClaimedDevice[] = [];
  for (const request of input.pciRequests) {
    for (let n = 0; n < request.count; n++) {
      const allowed = tiers?.[request.id];
      const device = (allowed
        ? await pickInTiers(trx, onPostgres(unit), input.host, request, allowed)
        : await pickFreeDevice(trx, onPostgres(unit), input.host, request))?.device;
      if (!device) throw new ClaimConflict(`host ${input.host} has no free device for ${request.id}`);
      const family = await familyOf(unit, device, onPostgres(unit));
      const changes = allocateDevice(device, family, input.instanceUuid, 'allocated');
      await applyDeviceChanges(unit, input.host, [device, ...family], changes, input.consumer, now);
      claimed.push({ requestId: request.id, device: { ...device, status: 'allocated', instanceUuid: input.instanceUuid } });
    }
  }
  return claimed;
}

/**
 * Where a device attached to a guest with a NUMA topology may come from: by
 * each request's PCI NUMA affinity policy, relative to the host cells the
 * guest's own claim on the host holds (Nova claims an attached interface's
 * device with the instance's NUMA topology). A guest without a placement
 * there takes any device. No allowed device is a ClaimConflict.
 */
async function attachedDeviceTiers(
  unit: Unit, input: Omit<ClaimInput, 'vcpus' | 'memoryMb' | 'diskGb'>, numa: NumaRequest,
): Promise<Record<string, DeviceTier[]> | null> {
  const placement = await numaPlacementOf(unit, input.consumer, input.host);
  if (!placement) return null;
  const state = await lockedNumaState(unit, input.host);
  if (!state) throw new ClaimConflict(`host ${input.host} is gone`);
  const tiers = deviceTiersFor(state.topology, placement.cells.map((c) => c.hostCell), pciNumaRequests(input.pciRequests, numa, state.devices ?? []));
  if (typeof tiers === 'string') throw new ClaimConflict(`host ${input.host}: ${tiers}`);
  return tiers;
}

/** Frees the given devices (by address) a consumer holds on a host; its other claims stay (an interface detach). */
export async function releaseDevices(
  unit: Unit, consumer: string, host: string, addresses: string[],
): Promise<number> {
  const trx = dbOf(unit);
  if (addresses.length === 0) return 0;
  const now = nowIso();
  const held = (await trx.selectFrom('pci_devices').selectAll().where('consumer', '=', consumer)
    .where('host', '=', host).where('address', 'in', addresses).orderBy('address').execute()).map(deviceFromRow);
  for (const device of held) {
    const family = await familyOf(unit, device, onPostgres(unit));
    const current = family.find((d) => d.id === device.id) ?? device;
    await applyDeviceChanges(unit, host, [current, ...family], freeDevice(current, family), null, now);
  }
  return held.length;
}
