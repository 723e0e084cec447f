import { randomUUID } from 'node:crypto';
import { BadRequest, Conflict, Forbidden } from '../../../domain/errors.js';
import { DEFAULT_ZONE, parseRequestedZone } from '../../../domain/scheduling/zones.js';
import { COMPUTE_BINARY, listServices } from '../../../storage/repositories/hosts.js';
import { aggregateDirectoryOf } from '../aggregateDirectory.js';
import { OverQuota, quotaExceeded, takeServerQuota } from '../quotas.js';
import { TaskState, VmState } from '../../../domain/lifecycle/serverStatus.js';
import { requestForPort, requestsForFlavor, type PciRequest } from '../../../domain/pci/request.js';
import { startAction } from '../../../storage/repositories/actions.js';
import { insertInstance, type InstanceRecord } from '../../../storage/repositories/instances.js';
import { flavorWithAccess, imageById } from '../../../storage/repositories/lookups.js';
import { portsForServer, reservePort } from '../../../storage/repositories/portReservations.js';
import { getKeyPair } from '../../../storage/repositories/keyPairs.js';
import { createPort } from '../ports.js';
import { canSee } from '../images.js';
import { groupsForServer } from '../securityGroups.js';
import { joinServerGroup } from '../serverGroups.js';
import type { AuthContext, ControllerContext } from '../../context.js';
import { serverQueueOf } from '../../operations/serverQueue.js';
import { numaRequestFor } from '../../lifecycle/resources.js';
import { fromJson } from '../../../storage/repositories/json.js';

export interface CreateServerInput {
  name: string;
  imageRef: string;
  flavorRef: string;
  portIds: string[];
  metadata: Record<string, string>;
  description: string | null;
  keyName: string | null;
  availabilityZone: string | null;
  /** Networks to give a port of their own (`networks: [{uuid}]`), by their place in the order of all NICs. */
  networkIds?: Array<{ index: number; networkId: string }>;
  /** `security_groups` names (or ids); null: the project's default. Applied to the ports created here only, as Nova does. */
  securityGroups?: string[] | null;
  /** The `group` scheduler hint: the server group the server joins (its policy places it). */
  serverGroup?: string | null;
}


/**
 * The image's hw_* properties (what the guest's topology may take from it), as strings: from
 * the extra properties, which the row's `properties` column keeps under `properties` (services/images.ts ImageExtras).
 */
export function hwPropertiesOf(propertiesJson: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fromJson<{ properties?: Record<string, unknown> }>(propertiesJson, {}).properties ?? {})) {
    if (k.startsWith('hw_') && v !== null && v !== undefined) out[k] = String(v);
  }
  return out;
}

/**
 * Validates a create request and records the server in BUILD/scheduling with
 * its ports reserved, all in one transaction; placement happens after the 202.
 */
export async function createServer(ctx: ControllerContext, auth: AuthContext, requestId: string, input: CreateServerInput): Promise<InstanceRecord> {
  const db = ctx.store.reader;
  // A private flavor is not there for a project without access to it (Nova: FlavorNotFound, a 400 on create).
  const found = await flavorWithAccess(db, input.flavorRef);
  const flavor = found && (found.isPublic || auth.isAdmin) ? found.snapshot : undefined;
  if (!flavor) throw new BadRequest(`Flavor ${input.flavorRef} could not be found.`);
  const image = await imageById(db, input.imageRef);
  if (!image || !canSee(auth, image)) {
    throw new BadRequest(`Image ${input.imageRef} could not be found.`);
  }
  if (image.status !== 'active') throw new BadRequest(`Image ${input.imageRef} is not active.`);
  const placement = await requestedPlacement(ctx, auth, input.availabilityZone);
  if (new Set(input.portIds).size !== input.portIds.length) throw new BadRequest('Duplicate port in the networks list.');
  // Key pairs are the user's own (Nova looks the name up for the caller).
  if (input.keyName !== null && !(await getKeyPair(db, auth.userId, input.keyName))) throw new BadRequest('Invalid key_name provided.');

  const pciRequests: PciRequest[] = [];
  const portsById = await portsForServer(db, input.portIds);
  for (const portId of input.portIds) {
    const port = portsById.get(portId);
    // Nova turns PortNotFound into a 400 on create (a 404 only on interface attach).
    if (!port || (!auth.isAdmin && port.projectId !== auth.projectId)) throw new BadRequest(`Port id ${portId} could not be found.`);
    if (port.deviceId !== '') throw new Conflict(`Port ${portId} is still in use.`);
    const request = requestForPort({ id: port.id, vnicType: port.vnicType, physicalNetwork: port.physicalNetwork, numaAffinityPolicy: port.numaAffinityPolicy });
    if (request && (port.vnicType === 'vdpa' || port.vnicType.startsWith('direct')) && !port.physicalNetwork) {
      throw new BadRequest(`Port ${portId} has vnic_type ${port.vnicType} but its network has no physical network.`);
    }
    if (request) pciRequests.push(request);
  }
  try {
    pciRequests.push(...requestsForFlavor(flavor.extra_specs, ctx.config.pci.alias));
  } catch (e) {
    throw e instanceof BadRequest ? e : new BadRequest((e as Error).message);
  }

  // Nova's numa_get_constraints at create: a conflicting or invalid topology is a 400 (PCI policy conflict 403).
  const imageProperties = hwPropertiesOf(image.properties);
  numaRequestFor(flavor, pciRequests, imageProperties);

  const uuid = randomUUID();
  const networks = input.networkIds ?? [];
  const zone = placement.zone ?? DEFAULT_ZONE;
  return ctx.store.transact(async (trx) => {
    // Part of the insert's transaction: concurrent creates can never pass the project's limits together.
    await takeServerQuota(trx, auth.projectId, flavor);
    const groups = input.securityGroups ? await groupsForServer(trx, auth.projectId, input.securityGroups) : undefined;
    // Ports for `networks: [{uuid}]`, made in the server's own transaction so a refused create leaves none behind.
    const createdPortIds: string[] = [];
    const portIds = [...input.portIds];
    for (const n of networks) {
      const port = await createPort(trx, { networkId: n.networkId, ...(groups ? { securityGroups: groups } : {}) }, auth)
        .catch((e: unknown) => { throw e instanceof BadRequest ? new BadRequest(`Network ${n.networkId} could not be found.`) : e; });
      createdPortIds.push(port.id);
      portIds.splice(n.index, 0, port.id);
    }
    const created = await insertInstance(trx, {
      uuid, name: input.name, projectId: auth.projectId, userId: auth.userId, imageRef: image.id, flavor,
      metadata: input.metadata, description: input.description, keyName: input.keyName, pciRequests,
      portIds, availabilityZone: zone, requestedAvailabilityZone: placement.zone, requestedHost: placement.host,
      securityGroups: input.securityGroups ?? null, createdPortIds, imageProperties, serverGroup: input.serverGroup ?? null,
    }, { vmState: VmState.BUILDING, taskState: TaskState.SCHEDULING },
    // The process that accepted the server places it: it holds the lease from the first write.
    { owner: serverQueueOf(ctx).owner, seconds: ctx.config.lease_seconds });
    if (input.serverGroup) await joinServerGroup(trx, auth.projectId, auth.userId, input.serverGroup, uuid);
    for (const portId of portIds) {
      await reservePort(trx, portId, uuid, `compute:${zone}`, () => new Conflict(`Port ${portId} is still in use.`));
    }
    await startAction(trx, { instanceUuid: uuid, action: 'create', requestId, projectId: auth.projectId, userId: auth.userId });
    return created;
  }).catch(async (e: unknown) => {
    throw e instanceof OverQuota ? await quotaExceeded(db, e) : e;
  });
}

/**
 * Where a create asked to go: `zone`, or an admin's `zone:host` /
 * `zone:host:node` / `zone::node` (Nova's forced host; the node is the host
 * here). A bare zone must have an enabled compute service; a forced host
 * keeps the zone only if it is in it, as Nova does.
 */
async function requestedPlacement(
  ctx: ControllerContext, auth: AuthContext, text: string | null,
): Promise<{ zone: string | null; host: string | null }> {
  if (!text) return { zone: null, host: null };
  const asked = parseRequestedZone(text);
  const host = asked.host ?? asked.node;
  const directory = aggregateDirectoryOf(ctx);
  await directory.ready();
  if (host) {
    if (!auth.isAdmin) throw new Forbidden("Policy doesn't allow os_compute_api:servers:create:forced_host to be performed.");
    return { zone: asked.zone && directory.zonesOf(host).includes(asked.zone) ? asked.zone : null, host };
  }
  const zone = asked.zone!;
  const services = await listServices(ctx.store.reader, { binary: COMPUTE_BINARY });
  if (!services.some((s) => !s.disabled && directory.zonesOf(s.host).includes(zone))) {
    throw new BadRequest('The requested availability zone is not available');
  }
  return { zone, host: null };
}
