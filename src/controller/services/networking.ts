import { randomUUID } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { BadRequest, Conflict, Forbidden, NotFound } from '../../domain/errors.js';
import {
  defaultGateway, defaultPool, formatIpv4, hostRange, parseIpv4, parseIpv4Cidr, poolProblem, type Ipv4Range,
} from '../../domain/network/ipv4.js';
import { checkNetworkQuota } from './networkQuotas.js';
import {
  countAllocationsOnSubnet, countPortsOnNetwork, deleteNetwork as deleteNetworkRows, deleteSubnet as deleteSubnetRow,
  getNetwork, getSubnet, insertNetwork, insertSubnet, nowTimestamp, subnetsOfNetwork, updateNetwork as updateNetworkRow,
  type NetworkRecord, type SubnetRecord,
} from '../../storage/repositories/networks.js';
import type { AuthContext } from '../context.js';
import type { Unit, Session } from '../../storage/unit.js';
import { inUnit, type Storage } from '../../storage/db.js';

/** Networks and subnets; ports and their addresses are in ports.ts. */

export type { NetworkRecord, SubnetRecord };

export const NETWORK_TYPES = ['flat', 'vlan', 'vxlan', 'geneve', 'local'] as const;

export interface NetworkInput {
  name: string; projectId: string; shared: boolean; physicalNetwork: string | null; networkType: string;
  segmentationId?: number | null; mtu?: number; adminStateUp?: boolean; description?: string; routerExternal?: boolean;
}
export interface SubnetInput {
  name: string; networkId: string; projectId: string; cidr: string; ipVersion: 4 | 6; gatewayIp?: string | null;
  allocationPools?: { start: string; end: string }[]; enableDhcp?: boolean; description?: string;
}


export function invalidInput(attribute: string, reason: string): BadRequest {
  return new BadRequest(`Invalid input for ${attribute}. Reason: ${reason}.`);
}

// ---------- visibility: another project's resource is 404, as in networking ----------

export async function visibleNetwork(db: Session, id: string, auth: AuthContext): Promise<NetworkRecord> {
  const net = await getNetwork(db, id);
  if (!net || !(auth.isAdmin || net.shared || net.projectId === auth.projectId)) {
    throw new NotFound(`Network ${id} could not be found.`, 'NetworkNotFound');
  }
  return net;
}

export async function visibleSubnet(db: Session, id: string, auth: AuthContext): Promise<SubnetRecord> {
  const subnet = await getSubnet(db, id);
  if (subnet && (auth.isAdmin || subnet.projectId === auth.projectId)) return subnet;
  if (subnet && (await getNetwork(db, subnet.networkId))?.shared) return subnet;
  throw new NotFound(`Subnet ${id} could not be found.`, 'SubnetNotFound');
}

// ---------- networks ----------

export async function createNetwork(target: Unit | Storage, input: NetworkInput): Promise<NetworkRecord> {
  return inUnit(target, async (db) => {
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
    await checkNetworkQuota(db, 'network', input.projectId);
    await insertNetwork(db, {
      id, name: input.name, project_id: input.projectId, shared: input.shared ? 1 : 0,
      admin_state_up: input.adminStateUp === false ? 0 : 1, status: 'ACTIVE', physical_network: input.physicalNetwork,
      network_type: input.networkType, segmentation_id: seg, mtu, router_external: input.routerExternal ? 1 : 0,
      description: input.description ?? '', created_at: now, updated_at: now, revision_number: 1,
    });
    return (await getNetwork(db, id))!;
  });
}

export async function updateNetwork(
  target: Unit | Storage, id: string, changes: { name?: string; adminStateUp?: boolean; description?: string; shared?: boolean },
  auth: AuthContext,
): Promise<NetworkRecord> {
  return inUnit(target, async (db) => {
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
  });
}

export async function deleteNetwork(db: Unit | Storage, id: string, auth: AuthContext): Promise<void> {
  await inUnit(db, async (tx) => {
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

export async function createSubnet(db: Unit | Storage, input: SubnetInput): Promise<SubnetRecord> {
  return inUnit(db, async (tx) => {
    await checkNetworkQuota(tx, 'subnet', input.projectId);
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

export async function deleteSubnet(db: Unit | Storage, id: string, auth: AuthContext): Promise<void> {
  await inUnit(db, async (tx) => {
    const subnet = await visibleSubnet(tx, id, auth);
    if (!auth.isAdmin && subnet.projectId !== auth.projectId) throw new Forbidden('(rule:delete_subnet) is disallowed by policy');
    if (await countAllocationsOnSubnet(tx, id) > 0) {
      throw new Conflict(`Unable to complete operation on subnet ${id}: One or more ports have an IP allocation from this subnet.`, 'SubnetInUse');
    }
    await deleteSubnetRow(tx, id);
  });
}

