import { randomBytes, randomUUID } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { Kysely } from 'kysely';
import { BadRequest, Conflict, Forbidden, NotFound } from '../../domain/errors.js';
import { macFromRandomBytes, isValidUnicastMac } from '../../domain/network/mac.js';
import {
  cidrContains, defaultGateway, defaultPool, formatIpv4, hostRange, nextInPool, parseIpv4, parseIpv4Cidr,
  poolProblem, poolSize, type Ipv4Range,
} from '../../domain/network/ipv4.js';
import { VNIC_TYPES, isVnicType } from '../../domain/pci/vnicTypes.js';
import type { Database } from '../../storage/schema.js';
import {
  countAllocationsOnSubnet, countPortsOnNetwork, deleteNetwork as deleteNetworkRows, deleteSubnet as deleteSubnetRow,
  getNetwork, getSubnet, insertNetwork, insertSubnet, nowTimestamp, subnetsOfNetwork, updateNetwork as updateNetworkRow,
  type NetworkRecord, type SubnetRecord,
} from '../../storage/repositories/networks.js';
import {
  deletePortRow, getPort, insertIpAllocation, insertPort, ipAllocated, isUniqueViolation, lockSubnetForAllocation,
  macInUse, setNextIpHint, updatePortColumns, type PortRecord,
} from '../../storage/repositories/ports.js';
import type { AuthContext } from '../context.js';

export type { NetworkRecord, SubnetRecord, PortRecord };

export const NETWORK_TYPES = ['flat', 'vlan', 'vxlan', 'geneve', 'local'] as const;

export interface NetworkInput {
  name: string; projectId: string; shared: boolean; physicalNetwork: string | null; networkType: string;
  segmentationId?: number | null; mtu?: number; adminStateUp?: boolean; description?: string; routerExternal?: boolean;
}
export interface SubnetInput {
  name: string; networkId: string; projectId: string; cidr: string; ipVersion: 4 | 6; gatewayIp?: string | null;
  allocationPools?: { start: string; end: string }[]; enableDhcp?: boolean; description?: string;
}
export interface PortInput {
  networkId: string; name?: string; projectId?: string; adminStateUp?: boolean; vnicType?: string;
  macAddress?: string;
  /** Absent: one address from the network's first IPv4 subnet. Empty: no address. */
  fixedIps?: { subnetId?: string; ipAddress?: string }[];
  deviceId?: string; deviceOwner?: string; hostId?: string; profile?: Record<string, unknown>; description?: string;
}
export interface PortChanges {
  name?: string; adminStateUp?: boolean; description?: string; vnicType?: string; deviceId?: string;
  deviceOwner?: string; hostId?: string; profile?: Record<string, unknown>;
}

/** Runs `fn` in a transaction of its own, or inside the caller's when `db` already is one. */
async function inTransaction<T>(db: Kysely<Database>, fn: (tx: Kysely<Database>) => Promise<T>): Promise<T> {
  if (db.isTransaction) return fn(db);
  return db.transaction().execute(fn);
}

/** Retries a whole transaction that lost a uniqueness race (a MAC or an address taken concurrently). */
async function retryingUniqueRaces<T>(db: Kysely<Database>, fn: (tx: Kysely<Database>) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await inTransaction(db, fn);
    } catch (e) {
      if (db.isTransaction || attempt >= 8 || !isUniqueViolation(e)) throw e;
    }
  }
}

export function invalidInput(attribute: string, reason: string): BadRequest {
  return new BadRequest(`Invalid input for ${attribute}. Reason: ${reason}.`);
}

function vnicTypeProblem(v: string): BadRequest {
  return invalidInput('binding:vnic_type', `'${v}' is not in [${VNIC_TYPES.map((t) => `'${t}'`).join(', ')}]`);
}

// ---------- visibility: another project's resource is 404, as in networking ----------

export async function visibleNetwork(db: Kysely<Database>, id: string, auth: AuthContext): Promise<NetworkRecord> {
  const net = await getNetwork(db, id);
  if (!net || !(auth.isAdmin || net.shared || net.projectId === auth.projectId)) {
    throw new NotFound(`Network ${id} could not be found.`, 'NetworkNotFound');
  }
  return net;
}

export async function visibleSubnet(db: Kysely<Database>, id: string, auth: AuthContext): Promise<SubnetRecord> {
  const subnet = await getSubnet(db, id);
  if (subnet && (auth.isAdmin || subnet.projectId === auth.projectId)) return subnet;
  if (subnet && (await getNetwork(db, subnet.networkId))?.shared) return subnet;
  throw new NotFound(`Subnet ${id} could not be found.`, 'SubnetNotFound');
}

export async function visiblePort(db: Kysely<Database>, id: string, auth: AuthContext): Promise<PortRecord> {
  const port = await getPort(db, id);
  if (!port || !(auth.isAdmin || port.projectId === auth.projectId)) {
    throw new NotFound(`Port ${id} could not be found.`, 'PortNotFound');
  }
  return port;
}

// ---------- networks ----------

export async function createNetwork(db: Kysely<Database>, input: NetworkInput): Promise<NetworkRecord> {
  if (!(NETWORK_TYPES as readonly string[]).includes(input.networkType)) {
    throw invalidInput('provider:network_type', `'${input.networkType}' is not in [${NETWORK_TYPES.map((t) => `'${t}'`).join(', ')}]`);
  }
  const physical = input.networkType === 'flat' || input.networkType === 'vlan';
  if (physical && !input.physicalNetwork) {
    throw new BadRequest(`Invalid input for operation: physical_network required for ${input.networkType} provider network.`);
  }
  if (!physical && input.physicalNetwork) {
    throw new BadRequest(`Invalid input for operation: physical_network not allowed for ${input.networkType} provider network.`);
  }
  const seg = input.segmentationId ?? null;
  if (input.networkType === 'vlan' && seg !== null && !(Number.isInteger(seg) && seg >= 1 && seg <= 4094)) {
    throw new BadRequest(`Invalid input for operation: segmentation_id out of range (1 through 4094).`);
  }
  if (input.networkType === 'flat' && seg !== null) {
    throw new BadRequest('Invalid input for operation: segmentation_id not allowed for flat provider network.');
  }
  const mtu = input.mtu ?? (input.networkType === 'vxlan' || input.networkType === 'geneve' ? 1450 : 1500);
  const now = nowTimestamp();
  const id = randomUUID();
  await insertNetwork(db, {
    id, name: input.name, project_id: input.projectId, shared: input.shared ? 1 : 0,
    admin_state_up: input.adminStateUp === false ? 0 : 1, status: 'ACTIVE', physical_network: input.physicalNetwork,
    network_type: input.networkType, segmentation_id: seg, mtu, router_external: input.routerExternal ? 1 : 0,
    description: input.description ?? '', created_at: now, updated_at: now, revision_number: 1,
  });
  return (await getNetwork(db, id))!;
}

export async function updateNetwork(
  db: Kysely<Database>, id: string, changes: { name?: string; adminStateUp?: boolean; description?: string; shared?: boolean },
  auth: AuthContext,
): Promise<NetworkRecord> {
  const net = await visibleNetwork(db, id, auth);
  if (!auth.isAdmin && net.projectId !== auth.projectId) {
    throw new Forbidden(`(rule:update_network) is disallowed by policy`);
  }
  if (changes.shared !== undefined && !auth.isAdmin) throw new Forbidden('(rule:update_network:shared) is disallowed by policy');
  await updateNetworkRow(db, id, {
    ...(changes.name !== undefined ? { name: changes.name } : {}),
    ...(changes.adminStateUp !== undefined ? { admin_state_up: changes.adminStateUp ? 1 : 0 } : {}),
    ...(changes.description !== undefined ? { description: changes.description } : {}),
    ...(changes.shared !== undefined ? { shared: changes.shared ? 1 : 0 } : {}),
  });
  return (await getNetwork(db, id))!;
}

export async function deleteNetwork(db: Kysely<Database>, id: string, auth: AuthContext): Promise<void> {
  await inTransaction(db, async (tx) => {
    const net = await visibleNetwork(tx, id, auth);
    if (!auth.isAdmin && net.projectId !== auth.projectId) throw new Forbidden('(rule:delete_network) is disallowed by policy');
    if (await countPortsOnNetwork(tx, id) > 0) {
      throw new Conflict(`Unable to complete operation on network ${id}. There are one or more ports still in use on the network.`, 'NetworkInUse');
    }
    await deleteNetworkRows(tx, id);
  });
}

// ---------- subnets ----------

function ipv4Or400(attribute: string, text: string): number {
  const ip = parseIpv4(text);
  if (ip === null) throw invalidInput(attribute, `'${text}' is not a valid IP address`);
  return ip;
}

export async function createSubnet(db: Kysely<Database>, input: SubnetInput): Promise<SubnetRecord> {
  return inTransaction(db, async (tx) => {
    const net = await getNetwork(tx, input.networkId);
    if (!net) throw new NotFound(`Network ${input.networkId} could not be found.`, 'NetworkNotFound');
    let gateway: string | null;
    let pool: Ipv4Range | null = null;
    if (input.ipVersion === 4) {
      const cidr = parseIpv4Cidr(input.cidr);
      if (!cidr) throw invalidInput('cidr', `'${input.cidr}' is not a valid IP subnet`);
      for (const other of await subnetsOfNetwork(tx, net.id)) {
        const o = other.ipVersion === 4 ? parseIpv4Cidr(other.cidr) : null;
        if (o && o.network <= cidr.last && cidr.network <= o.last) {
          throw new BadRequest(`Invalid input for operation: Requested subnet with cidr: ${input.cidr} for network: ${net.id} overlaps with another subnet.`);
        }
      }
      let gw: number | null;
      if (input.gatewayIp === undefined) gw = defaultGateway(cidr);
      else if (input.gatewayIp === null) gw = null;
      else {
        gw = ipv4Or400('gateway_ip', input.gatewayIp);
        const hosts = hostRange(cidr);
        if (!hosts || gw < hosts.start || gw > hosts.end) {
          throw new BadRequest(`Invalid input for operation: Gateway IP ${input.gatewayIp} is not a host address of ${input.cidr}.`);
        }
      }
      gateway = gw === null ? null : formatIpv4(gw);
      const pools = input.allocationPools ?? [];
      if (pools.length > 1) throw invalidInput('allocation_pools', 'only one allocation pool per subnet is supported');
      if (pools.length === 1) {
        pool = { start: ipv4Or400('allocation_pools', pools[0]!.start), end: ipv4Or400('allocation_pools', pools[0]!.end) };
        const problem = poolProblem(cidr, pool, gw);
        if (problem) throw new BadRequest(`Invalid input for operation: ${problem}.`);
      } else {
        pool = defaultPool(cidr, gw);
      }
    } else {
      const [addr, prefix] = input.cidr.split('/');
      if (!addr || !isIPv6(addr) || !/^\d{1,3}$/.test(prefix ?? '') || Number(prefix) > 128) {
        throw invalidInput('cidr', `'${input.cidr}' is not a valid IP subnet`);
      }
      if (input.gatewayIp && !isIPv6(input.gatewayIp)) throw invalidInput('gateway_ip', `'${input.gatewayIp}' is not a valid IP address`);
      // The IPv6 allocator is not implemented: such subnets carry addresses only when a port asks for one.
      gateway = input.gatewayIp ?? null;
    }
    const now = nowTimestamp();
    const id = randomUUID();
    await insertSubnet(tx, {
      id, name: input.name, network_id: net.id, project_id: input.projectId, cidr: input.cidr,
      ip_version: input.ipVersion, gateway_ip: gateway, enable_dhcp: input.enableDhcp === false ? 0 : 1,
      allocation_start: pool ? formatIpv4(pool.start) : '', allocation_end: pool ? formatIpv4(pool.end) : '',
      next_ip_hint: pool ? formatIpv4(pool.start) : '', description: input.description ?? '',
      created_at: now, updated_at: now, revision_number: 1,
    });
    return (await getSubnet(tx, id))!;
  });
}

export async function deleteSubnet(db: Kysely<Database>, id: string, auth: AuthContext): Promise<void> {
  await inTransaction(db, async (tx) => {
    const subnet = await visibleSubnet(tx, id, auth);
    if (!auth.isAdmin && subnet.projectId !== auth.projectId) throw new Forbidden('(rule:delete_subnet) is disallowed by policy');
    if (await countAllocationsOnSubnet(tx, id) > 0) {
      throw new Conflict(`Unable to complete operation on subnet ${id}: One or more ports have an IP allocation from this subnet.`, 'SubnetInUse');
    }
    await deleteSubnetRow(tx, id);
  });
}

// ---------- ports ----------

/**
 * Next free address from the subnet's pool. The hint makes this O(1)
 * amortised: it only walks past addresses taken out of order (requested
 * fixed IPs) or, after wrapping, ones not yet released.
 */
async function allocateAddress(tx: Kysely<Database>, subnet: SubnetRecord, portId: string): Promise<string> {
  const state = await lockSubnetForAllocation(tx, subnet.id);
  const start = state ? parseIpv4(state.allocationStart) : null;
  const end = state ? parseIpv4(state.allocationEnd) : null;
  const exhausted = new Conflict(`No more IP addresses available on network ${subnet.networkId}.`, 'IpAddressGenerationFailure');
  if (!state || start === null || end === null) throw exhausted;
  const pool = { start, end };
  const gateway = state.gatewayIp ? parseIpv4(state.gatewayIp) : null;
  let candidate = parseIpv4(state.nextIpHint) ?? pool.start;
  if (candidate < pool.start || candidate > pool.end) candidate = pool.start;
  for (let tried = 0; tried < poolSize(pool); tried++, candidate = nextInPool(pool, candidate)) {
    const ip = formatIpv4(candidate);
    if (candidate === gateway || await ipAllocated(tx, subnet.id, ip)) continue;
    await insertIpAllocation(tx, subnet.id, ip, portId);
    await setNextIpHint(tx, subnet.id, formatIpv4(nextInPool(pool, candidate)));
    return ip;
  }
  throw exhausted;
}

async function assignRequestedAddress(
  tx: Kysely<Database>, subnets: SubnetRecord[], networkId: string, req: { subnetId?: string; ipAddress?: string }, portId: string,
): Promise<void> {
  let subnet = req.subnetId ? subnets.find((s) => s.id === req.subnetId) : undefined;
  if (req.subnetId && !subnet) {
    throw new BadRequest(`Invalid input for operation: Failed to create port on network ${networkId}, because fixed_ips included invalid subnet ${req.subnetId}.`);
  }
  if (!req.ipAddress) {
    if (!subnet) throw invalidInput('fixed_ips', 'each entry needs a subnet_id or an ip_address');
    if (subnet.ipVersion !== 4) throw invalidInput('fixed_ips', `automatic addresses from IPv6 subnet ${subnet.id} are not supported; give an ip_address`);
    await allocateAddress(tx, subnet, portId);
    return;
  }
  const ip = req.ipAddress;
  const v4 = parseIpv4(ip);
  if (v4 === null && !isIPv6(ip)) throw invalidInput('fixed_ips', `'${ip}' is not a valid IP address`);
  const fits = (s: SubnetRecord) => {
    if (v4 === null) return s.ipVersion === 6;
    const c = s.ipVersion === 4 ? parseIpv4Cidr(s.cidr) : null;
    const hosts = c ? hostRange(c) : null;
    return !!hosts && cidrContains(c!, v4) && v4 >= hosts.start && v4 <= hosts.end;
  };
  subnet ??= subnets.find(fits);
  if (!subnet || !fits(subnet)) {
    throw new BadRequest(`Invalid input for operation: IP address ${ip} is not a valid IP for the specified subnet.`);
  }
  if (subnet.gatewayIp === ip || await ipAllocated(tx, subnet.id, ip)) {
    throw new Conflict(`IP address ${ip} already allocated in subnet ${subnet.id}`, 'IpAddressAlreadyAllocated');
  }
  await insertIpAllocation(tx, subnet.id, ip, portId);
}

async function freshMac(tx: Kysely<Database>): Promise<string> {
  for (let i = 0; i < 16; i++) {
    const mac = macFromRandomBytes(randomBytes(3));
    if (!(await macInUse(tx, mac))) return mac;
  }
  throw new Conflict('Unable to generate a unique MAC address.', 'MacAddressGenerationFailure');
}

export async function createPort(db: Kysely<Database>, input: PortInput, auth: AuthContext): Promise<PortRecord> {
  const vnicType = input.vnicType ?? 'normal';
  if (!isVnicType(vnicType)) throw vnicTypeProblem(vnicType);
  const projectId = input.projectId ?? auth.projectId;
  if (projectId !== auth.projectId && !auth.isAdmin) {
    throw new Forbidden('(rule:create_port and rule:create_port:project_id) is disallowed by policy');
  }
  if ((input.hostId !== undefined || input.profile !== undefined) && !auth.isAdmin) {
    throw new Forbidden(`(rule:create_port and rule:create_port:binding:${input.hostId !== undefined ? 'host_id' : 'profile'}) is disallowed by policy`);
  }
  const requestedMac = input.macAddress?.toLowerCase();
  if (requestedMac !== undefined && !isValidUnicastMac(requestedMac)) {
    throw invalidInput('mac_address', `'${input.macAddress}' is not a valid MAC address`);
  }
  return retryingUniqueRaces(db, async (tx) => {
    const net = await getNetwork(tx, input.networkId);
    if (!net || !(auth.isAdmin || net.shared || net.projectId === auth.projectId)) {
      throw invalidInput('network_id', `network ${input.networkId} does not exist`);
    }
    if (requestedMac !== undefined) {
      if (!auth.isAdmin && net.projectId !== auth.projectId) {
        throw new Forbidden('(rule:create_port and rule:create_port:mac_address) is disallowed by policy');
      }
      if (await macInUse(tx, requestedMac)) {
        throw new Conflict(`Unable to complete operation for network ${net.id}. The mac address ${requestedMac} is in use.`, 'MacAddressInUse');
      }
    }
    const id = randomUUID();
    const now = nowTimestamp();
    await insertPort(tx, {
      id, name: input.name ?? '', network_id: net.id, project_id: projectId,
      mac_address: requestedMac ?? await freshMac(tx), admin_state_up: input.adminStateUp === false ? 0 : 1,
      status: 'DOWN', device_id: input.deviceId ?? '', device_owner: input.deviceOwner ?? '', vnic_type: vnicType,
      host_id: input.hostId ?? '', profile: JSON.stringify(input.profile ?? {}), vif_type: 'unbound', vif_details: '{}',
      description: input.description ?? '', created_at: now, updated_at: now, revision_number: 1,
    });
    const subnets = await subnetsOfNetwork(tx, net.id);
    if (input.fixedIps === undefined) {
      const first = subnets.find((s) => s.ipVersion === 4);
      if (first) await allocateAddress(tx, first, id);
    } else {
      for (const req of input.fixedIps) await assignRequestedAddress(tx, subnets, net.id, req, id);
    }
    return (await getPort(tx, id))!;
  });
}

export async function updatePort(db: Kysely<Database>, id: string, changes: PortChanges, auth: AuthContext): Promise<PortRecord> {
  if (changes.vnicType !== undefined && !isVnicType(changes.vnicType)) throw vnicTypeProblem(changes.vnicType);
  for (const [key, attr] of [['hostId', 'host_id'], ['profile', 'profile']] as const) {
    if (changes[key] !== undefined && !auth.isAdmin) {
      throw new Forbidden(`(rule:update_port and rule:update_port:binding:${attr}) is disallowed by policy`);
    }
  }
  return inTransaction(db, async (tx) => {
    const port = await visiblePort(tx, id, auth);
    if (changes.vnicType !== undefined && changes.vnicType !== port.vnicType && port.hostId !== '') {
      throw new Conflict(`Unable to complete operation on port ${id}, port is already bound, port type: ${port.vifType}, old_vnic_type: ${port.vnicType}, new_vnic_type: ${changes.vnicType}.`, 'PortBound');
    }
    await updatePortColumns(tx, id, {
      ...(changes.name !== undefined ? { name: changes.name } : {}),
      ...(changes.adminStateUp !== undefined ? { admin_state_up: changes.adminStateUp ? 1 : 0 } : {}),
      ...(changes.description !== undefined ? { description: changes.description } : {}),
      ...(changes.vnicType !== undefined ? { vnic_type: changes.vnicType } : {}),
      ...(changes.deviceId !== undefined ? { device_id: changes.deviceId } : {}),
      ...(changes.deviceOwner !== undefined ? { device_owner: changes.deviceOwner } : {}),
      ...(changes.hostId !== undefined ? { host_id: changes.hostId } : {}),
      ...(changes.profile !== undefined ? { profile: JSON.stringify(changes.profile) } : {}),
    });
    return (await getPort(tx, id))!;
  });
}

/** A port that a server uses must be detached first: deleting it under the guest would strand its device. */
export async function deletePort(db: Kysely<Database>, id: string, auth: AuthContext): Promise<void> {
  await inTransaction(db, async (tx) => {
    const port = await visiblePort(tx, id, auth);
    if (port.deviceOwner.startsWith('compute:') && port.deviceId !== '') {
      throw new Conflict(`Port ${id} is in use by server ${port.deviceId}; detach it from the server first.`, 'PortInUse');
    }
    await deletePortRow(tx, id);
  });
}
