/**
 * THE rule that decides whether a device, or a pool of alike devices, can
 * serve a PCI request. Everything that answers this question gets its answer
 * from here or from data this module produced: the claim's device pick and
 * the candidate SQL (`requestColumns`), the controller's candidate index
 * (`requestIndexKey` / `poolIndexKeys`, then `poolsSatisfy`), the
 * PciPassthroughFilter (`poolsSatisfy`) and the lifecycle code that matches
 * devices a server already holds to its ports.
 *
 * Nova's semantics (nova/pci/stats.py `_filter_pools*`, nova/pci/utils.py
 * `pci_device_prop_match`, nova/network/neutron.py), as facts:
 *
 * - A request is a set of properties; a device (or pool) serves it when every
 *   property the request names has the device's value. A property the request
 *   does not name constrains nothing.
 * - Device type: a request always names it here (an alias without
 *   `device_type` asks for `type-PCI`), and it must be exactly that type. This
 *   also gives Nova's "unrequested PFs" and "unrequested vDPA devices" filters:
 *   a `type-VF` request never gets a PF or a vdpa VF, whatever their IDs.
 * - vendor_id / product_id: compared without case (Nova lower-cases both
 *   sides); an alias that names only a vendor is served by every product of it.
 * - physical_network, the one tag a request carries:
 *   - a request that names a network (a port on a network with
 *     `provider:physical_network`) is served only by devices tagged with that
 *     network;
 *   - a port on a network without a physical network (VXLAN, Geneve) still
 *     names the tag, with no value: Nova builds `{physical_network: None, …}`
 *     and `pci_device_prop_match` compares it with the pool's missing tag, so
 *     only devices WITHOUT a physical_network tag serve it (Nova's hardware
 *     offload guide tags tunnel-facing VFs `"physical_network": null` for this
 *     reason). Here that is `physicalNetwork: null`;
 *   - a request that does not name it at all (a flavor's PCI alias: Nova's
 *     alias schema has no physical_network) is served by tagged and untagged
 *     devices alike. Here that is `physicalNetwork` absent (undefined).
 *   The network name itself is compared exactly, not without case as Nova
 *   compares tag values: it is a name (Neutron's bridge mappings are
 *   case-sensitive too), and the pool index and the candidate SQL can then look
 *   it up by equality.
 * - Other device tags (`trusted`, `remote_managed`, free-form ones) are not
 *   part of pools and no request here names them, so they never decide.
 * - A request for `count` devices may be served by several pools together;
 *   several requests of one server share a host's pools without counting a
 *   free device twice (`poolsSatisfy`, pools.ts).
 *
 * `servesRequest` is on the scheduler's hot path: it allocates nothing.
 */
import type { PciRequestSpec } from './request.js';

/** What the rule looks at in a device or a pool. Pools write '' for "no physical_network tag", devices null. */
export interface PciTraits {
  devType: string;
  physicalNetwork: string | null;
  vendorId: string;
  productId: string;
}

/** Whether a device or a pool with these traits can serve a request with this spec. */
export function servesRequest(t: PciTraits, spec: PciRequestSpec): boolean {
  if (t.devType !== spec.devType) return false;
  const network = spec.physicalNetwork;
  if (network !== undefined) {
    // null (or '') in the request: only untagged devices; a name: only devices tagged with it.
    if (network === null || network === '') {
      if (t.physicalNetwork !== null && t.physicalNetwork !== '') return false;
    } else if (t.physicalNetwork !== network) {
      return false;
    }
  }
  if (spec.vendorId !== undefined && !sameHexId(t.vendorId, spec.vendorId)) return false;
  if (spec.productId !== undefined && !sameHexId(t.productId, spec.productId)) return false;
  return true;
}

/** Case-insensitive equality of two ASCII ids, without allocating. */
function sameHexId(a: string, b: string): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y && !(isAsciiLetter(x) && (x | 0x20) === (y | 0x20))) return false;
  }
  return true;
}

function isAsciiLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/**
 * The rule as column conditions, for SQL over `pci_devices` or `pci_pools`
 * (whose rows hold lower-case ids). `physicalNetwork`: undefined = no
 * condition, null = untagged only, a string = that network.
 */
export interface RequestColumns {
  devType: string;
  physicalNetwork: string | null | undefined;
  vendorId: string | undefined;
  productId: string | undefined;
}

export function requestColumns(spec: PciRequestSpec): RequestColumns {
  const network = spec.physicalNetwork;
  return {
    devType: spec.devType,
    physicalNetwork: network === undefined ? undefined : network === null || network === '' ? null : network,
    vendorId: spec.vendorId?.toLowerCase(),
    productId: spec.productId?.toLowerCase(),
  };
}

/**
 * Keys of the candidate index. A pool is filed under its (type, network) and
 * under (type, any network); a request is looked up under the one key whose
 * pools may serve it, so the index's pools for a request are always a superset
 * of those the rule accepts (the rule then decides). Untagged pools use ''.
 */
const ANY_NETWORK = '\u0001*';

export function poolIndexKey(devType: string, physicalNetwork: string): string {
  return `${devType}\u0000${physicalNetwork}`;
}

export function anyNetworkIndexKey(devType: string): string {
  return `${devType}\u0000${ANY_NETWORK}`;
}

export function requestIndexKey(spec: PciRequestSpec): string {
  const network = spec.physicalNetwork;
  return network === undefined ? anyNetworkIndexKey(spec.devType) : poolIndexKey(spec.devType, network ?? '');
}
