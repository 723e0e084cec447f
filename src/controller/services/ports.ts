import { randomBytes, randomUUID } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { BadRequest, Conflict, Forbidden, NotFound } from '../../domain/errors.js';
import { macFromRandomBytes, isValidUnicastMac } from '../../domain/network/mac.js';
import { cidrContains, formatIpv4, hostRange, nextInPool, parseIpv4, parseIpv4Cidr, poolSize } from '../../domain/network/ipv4.js';
import { VNIC_TYPES, isVnicType } from '../../domain/pci/vnicTypes.js';
import { inUnit, isStorage, type Storage } from '../../storage/db.js';
import { getNetwork, nowTimestamp, subnetsOfNetwork, type SubnetRecord } from '../../storage/repositories/networks.js';
import {
  deletePortRow, getPort, insertIpAllocation, insertPort, ipAllocated, isUniqueViolation, lockSubnetForAllocation,
  macInUse, setNextIpHint, updatePortColumns, type PortRecord,
} from '../../storage/repositories/ports.js';
import type { AuthContext } from '../context.js';
import { invalidInput } from './networking.js';
import { checkNetworkQuota } from './networkQuotas.js';
import type { Unit, Session } from '../../storage/unit.js';
import { applyNewPortSecurity, applyPortSecurityChange } from './securityGroups.js';

/** Ports and their addresses: MACs, fixed IPs from a subnet's pool, binding. Networks and subnets are in networking.ts. */

export type { PortRecord };

export interface PortInput {
  networkId: string; name?: string; projectId?: string; adminStateUp?: boolean; vnicType?: string;
  macAddress?: string;
  /** Absent: one address from the network's first IPv4 subnet. Empty: no address. */
  fixedIps?: { subnetId?: string; ipAddress?: string }[];
  deviceId?: string; deviceOwner?: string; hostId?: string; profile?: Record<string, unknown>; description?: string;
  numaAffinityPolicy?: string | null;
  /** Security group ids or names (absent: the project's default), and port security (default on). */
  securityGroups?: string[]; portSecurityEnabled?: boolean;
}
export interface PortChanges {
  name?: string; adminStateUp?: boolean; description?: string; vnicType?: string; deviceId?: string;
  deviceOwner?: string; hostId?: string; profile?: Record<string, unknown>;
  securityGroups?: string[]; portSecurityEnabled?: boolean;
  numaAffinityPolicy?: string | null;
}

/** Neutron's port-numa-affinity-policy (and -socket) values; null unsets it. */
const NUMA_AFFINITY_POLICIES = ['required', 'preferred', 'legacy', 'socket'];

function checkNumaAffinityPolicy(v: string | null | undefined): void {
  if (v === undefined || v === null || NUMA_AFFINITY_POLICIES.includes(v)) return;
  throw invalidInput('numa_affinity_policy', `'${v}' is not in [${[...NUMA_AFFINITY_POLICIES.map((p) => `'${p}'`), 'None'].join(', ')}]`);
}

/** Retries a whole transaction that lost a uniqueness race (a MAC or an address taken concurrently). */
async function retryingUniqueRaces<T>(db: Unit | Storage, fn: (tx: Unit) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await inUnit(db, fn);
    } catch (e) {
      if (!isStorage(db) || attempt >= 8 || !isUniqueViolation(e)) throw e;
    }
  }
}

function vnicTypeProblem(v: string): BadRequest {
  return invalidInput('binding:vnic_type', `'${v}' is not in [${VNIC_TYPES.map((t) => `'${t}'`).join(', ')}]`);
}

export async function visiblePort(db: Session, id: string, auth: AuthContext): Promise<PortRecord> {
  const port = await getPort(db, id);
  if (!port || !(auth.isAdmin || port.projectId === auth.projectId)) {
    throw new NotFound(`Port ${id} could not be found.`, 'PortNotFound');
  }
  return port;
}

/**
 * Next free address from the subnet's pool. The hint makes this O(1)
 * amortised: it only walks past addresses taken out of order (requested
 * fixed IPs) or, after wrapping, ones not yet released.
 */
async function allocateAddress(tx: Unit, subnet: SubnetRecord, portId: string): Promise<string> {
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
  tx: Unit, subnets: SubnetRecord[], networkId: string, req: { subnetId?: string; ipAddress?: string }, portId: string,
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

async function freshMac(tx: Unit): Promise<string> {
  for (let i = 0; i < 16; i++) {
    const mac = macFromRandomBytes(randomBytes(3));
    if (!(await macInUse(tx, mac))) return mac;
  }
  throw new Conflict('Unable to generate a unique MAC address.', 'MacAddressGenerationFailure');
}

/** A port's device_id and device_owner say which server holds it; only admins and the compute service set them. */
function mayWriteOwner(auth: AuthContext): boolean {
  return auth.isAdmin || auth.isService;
}

export async function createPort(db: Unit | Storage, input: PortInput, auth: AuthContext): Promise<PortRecord> {
  const vnicType = input.vnicType ?? 'normal';
  if (!isVnicType(vnicType)) throw vnicTypeProblem(vnicType);
  checkNumaAffinityPolicy(input.numaAffinityPolicy);
  const projectId = input.projectId ?? auth.projectId;
  if (projectId !== auth.projectId && !auth.isAdmin) {
    throw new Forbidden('(rule:create_port and rule:create_port:project_id) is disallowed by policy');
  }
  if ((input.hostId !== undefined || input.profile !== undefined) && !auth.isAdmin) {
    throw new Forbidden(`(rule:create_port and rule:create_port:binding:${input.hostId !== undefined ? 'host_id' : 'profile'}) is disallowed by policy`);
  }
  // Who owns a port is the compute side's to say (Nova binds and unbinds it): admin and service only.
  for (const [key, attr] of [['deviceOwner', 'device_owner'], ['deviceId', 'device_id']] as const) {
    if (input[key] && !mayWriteOwner(auth)) throw new Forbidden(`(rule:create_port and rule:create_port:${attr}) is disallowed by policy`);
  }
  const requestedMac = input.macAddress?.toLowerCase();
  if (requestedMac !== undefined && !isValidUnicastMac(requestedMac)) {
    throw invalidInput('mac_address', `'${input.macAddress}' is not a valid MAC address`);
  }
  return retryingUniqueRaces(db, async (tx) => {
    await checkNetworkQuota(tx, 'port', projectId);
    const net = await getNetwork(tx, input.networkId);
    if (!net || !(auth.isAdmin || net.shared || net.projectId === auth.projectId)) {
      throw new NotFound(`Network ${input.networkId} could not be found.`, 'NetworkNotFound');
    }
    // Neutron's create_port:fixed_ips:ip_address: the network's owner or an admin, even on a shared network.
    if (input.fixedIps?.some((f) => f.ipAddress !== undefined) && !auth.isAdmin && net.projectId !== auth.projectId) {
      throw new Forbidden('(rule:create_port and rule:create_port:fixed_ips:ip_address) is disallowed by policy');
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
      description: input.description ?? '', created_at: now, updated_at: now, revision_number: 1, port_security_enabled: 1,
      numa_affinity_policy: input.numaAffinityPolicy ?? null,
    });
    await applyNewPortSecurity(tx, id, projectId, input);
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

export async function updatePort(db: Unit | Storage, id: string, changes: PortChanges, auth: AuthContext): Promise<PortRecord> {
  if (changes.vnicType !== undefined && !isVnicType(changes.vnicType)) throw vnicTypeProblem(changes.vnicType);
  checkNumaAffinityPolicy(changes.numaAffinityPolicy);
  for (const [key, attr] of [['hostId', 'host_id'], ['profile', 'profile']] as const) {
    if (changes[key] !== undefined && !auth.isAdmin) {
      throw new Forbidden(`(rule:update_port and rule:update_port:binding:${attr}) is disallowed by policy`);
    }
  }
  return inUnit(db, async (tx) => {
    const port = await visiblePort(tx, id, auth);
    for (const [key, attr] of [['deviceOwner', 'device_owner'], ['deviceId', 'device_id']] as const) {
      if (changes[key] !== undefined && changes[key] !== port[key] && !mayWriteOwner(auth)) {
        throw new Forbidden(`(rule:update_port and rule:update_port:${attr}) is disallowed by policy`);
      }
    }
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
      ...(changes.numaAffinityPolicy !== undefined ? { numa_affinity_policy: changes.numaAffinityPolicy } : {}),
    });
    await applyPortSecurityChange(tx, id, port.projectId, changes);
    return (await getPort(tx, id))!;
  });
}

/** A port that a server uses must be detached first: deleting it under the guest would strand its device. */
export async function deletePort(db: Unit | Storage, id: string, auth: AuthContext): Promise<void> {
  await inUnit(db, async (tx) => {
    const port = await visiblePort(tx, id, auth);
    if (port.deviceOwner.startsWith('compute:') && port.deviceId !== '') {
      throw new Conflict(`Port ${id} is in use by server ${port.deviceId}; detach it from the server first.`, 'PortInUse');
    }
    await deletePortRow(tx, id);
  });
}
