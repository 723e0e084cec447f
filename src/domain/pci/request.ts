/**
 * PCI requests: what a server needs, from its ports (vnic_type) and its
 * flavor (pci_passthrough:alias). vDPA devices are reachable only through
 * vdpa ports; an alias can never name them (behaviour.md).
 */
import { BadRequest } from '../errors.js';
import type { TrackedDeviceType } from './device.js';

/** One entry of the `pci.alias` setting (Nova's [pci] alias). */
export interface PciAliasConfig {
  name: string;
  vendor_id: string;
  product_id: string;
  device_type?: string;
  numa_policy?: string;
}

export interface PciRequestSpec {
  devType: TrackedDeviceType;
  /**
   * A name: only devices tagged with that physical network. null: only devices
   * without the tag (a port on a network with no physical network). Absent:
   * any (a flavor's alias). The rule is match.ts `servesRequest`.
   */
  physicalNetwork?: string | null;
  vendorId?: string;
  productId?: string;
}

export type PciRequestSource = { kind: 'port'; portId: string } | { kind: 'alias'; alias: string };

export interface PciRequest {
  id: string;
  count: number;
  spec: PciRequestSpec;
  source: PciRequestSource;
  /**
   * The requester's own NUMA affinity policy: a port's numa_affinity_policy
   * (beats the flavor's and image's) or an alias's numa_policy (gives way to
   * them); see numa/guestTopology.ts effectivePciNumaPolicy.
   */
  numaPolicy?: string;
}

export const ALIAS_EXTRA_SPEC = 'pci_passthrough:alias';

const DEV_TYPE_FOR_VNIC: Record<string, TrackedDeviceType> = {
  vdpa: 'vdpa',
  direct: 'type-VF',
  macvtap: 'type-VF',
  'direct-physical': 'type-PF',
};

const ALIAS_DEVICE_TYPES: readonly string[] = ['type-PCI', 'type-PF', 'type-VF'];
const NUMA_POLICIES: readonly string[] = ['required', 'legacy', 'preferred', 'socket'];
const HEX4 = /^[0-9a-fA-F]{4}$/;

/** The device a port needs, or null when its vnic_type needs none. */
export function requestForPort(port: { id: string; vnicType: string; physicalNetwork: string | null; numaAffinityPolicy?: string | null }): PciRequest | null {
  const devType = DEV_TYPE_FOR_VNIC[port.vnicType];
  if (!devType) return null;
  return {
    id: `port-${port.id}`,
    count: 1,
    spec: { devType, physicalNetwork: port.physicalNetwork },
    source: { kind: 'port', portId: port.id },
    ...(port.numaAffinityPolicy ? { numaPolicy: port.numaAffinityPolicy } : {}),
  };
}

/** Checked when configuration loads; throws naming the offending alias. */
export function validatePciAliases(aliases: PciAliasConfig[]): void {
  const seen = new Set<string>();
  aliases.forEach((a, i) => {
    const label = typeof a?.name === 'string' && a.name !== '' ? `PCI alias "${a.name}"` : `PCI alias #${i}`;
    if (typeof a !== 'object' || a === null) throw new Error(`${label} must be an object`);
    if (typeof a.name !== 'string' || a.name === '') throw new Error(`${label} has no name`);
    if (a.name.includes(':') || a.name.includes(',')) {
      throw new Error(`${label}: a name cannot contain ":" or "," (they separate aliases in ${ALIAS_EXTRA_SPEC})`);
    }
    if (seen.has(a.name)) throw new Error(`${label} is defined more than once`);
    seen.add(a.name);
    if (a.device_type === 'vdpa') {
      throw new Error(`${label} asks for device_type "vdpa": vDPA devices are only consumable through ports with vnic_type vdpa`);
    }
    if (a.device_type !== undefined && !ALIAS_DEVICE_TYPES.includes(a.device_type)) {
      throw new Error(`${label} has unknown device_type ${JSON.stringify(a.device_type)} (expected one of ${ALIAS_DEVICE_TYPES.join(', ')})`);
    }
    for (const key of ['vendor_id', 'product_id'] as const) {
      if (typeof a[key] !== 'string' || !HEX4.test(a[key])) {
        throw new Error(`${label} has ${key} ${JSON.stringify(a[key])}, expected 4 hex digits`);
      }
    }
    if (a.numa_policy !== undefined && !NUMA_POLICIES.includes(a.numa_policy)) {
      throw new Error(`${label} has unknown numa_policy ${JSON.stringify(a.numa_policy)} (expected one of ${NUMA_POLICIES.join(', ')})`);
    }
  });
}

/**
 * Requests from a flavor's "pci_passthrough:alias" = "a1:2, a2" (count
 * defaults to 1). An alias named twice is one request with the counts added.
 */
export function requestsForFlavor(extraSpecs: Record<string, string>, aliases: PciAliasConfig[]): PciRequest[] {
  const value = extraSpecs[ALIAS_EXTRA_SPEC];
  if (value === undefined || value.trim() === '') return [];
  const byName = new Map(aliases.map((a) => [a.name, a]));
  const requests = new Map<string, PciRequest>();
  for (const part of value.split(',')) {
    const m = /^\s*([^:\s]+)\s*(?::\s*(\S*)\s*)?$/.exec(part);
    if (!m) throw new BadRequest(`Invalid ${ALIAS_EXTRA_SPEC} "${value}": expected "alias[:count], ..."`);
    const name = m[1]!;
    const countText = m[2];
    const alias = byName.get(name);
    if (!alias) throw new BadRequest(`PCI alias ${name} is not defined`);
    if (countText !== undefined && !/^[1-9][0-9]*$/.test(countText)) {
      throw new BadRequest(`Invalid count "${countText}" for PCI alias ${name} in ${ALIAS_EXTRA_SPEC}: expected a positive integer`);
    }
    const count = countText === undefined ? 1 : Number(countText);
    const existing = requests.get(name);
    if (existing) {
      existing.count += count;
      continue;
    }
    requests.set(name, {
      id: `alias-${name}`,
      count,
      spec: {
        devType: (alias.device_type ?? 'type-PCI') as TrackedDeviceType,
        vendorId: alias.vendor_id.toLowerCase(),
        productId: alias.product_id.toLowerCase(),
      },
      source: { kind: 'alias', alias: name },
      ...(alias.numa_policy ? { numaPolicy: alias.numa_policy } : {}),
    });
  }
  return [...requests.values()];
}
