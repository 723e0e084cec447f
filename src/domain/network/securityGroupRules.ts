import { BadRequest } from '../errors.js';
import { formatIpv4, parseIpv4 } from './ipv4.js';

/** A loose IPv6 address check (hex groups and colons, at most one '::'). */
function looksIpv6(a: string): boolean {
  return a.includes(':') && /^[0-9a-f:.]+$/i.test(a) && (a.match(/::/g)?.length ?? 0) <= 1;
}

/**
 * Networking's rules for a security group rule's attributes, in its own
 * words (the CLI prints the message). Rules are recorded only: the
 * networking backend (OVS offload for vDPA ports) is what would enforce them.
 */

export interface RuleFields {
  direction: 'ingress' | 'egress';
  ethertype: 'IPv4' | 'IPv6';
  protocol: string | null;
  portRangeMin: number | null;
  portRangeMax: number | null;
  remoteIpPrefix: string | null;
  remoteGroupId: string | null;
}

/** The protocol names networking accepts (besides integers 0-255). */
export const PROTOCOL_NAMES = [
  'ah', 'dccp', 'egp', 'esp', 'gre', 'hopopt', 'icmp', 'igmp', 'ipip', 'ipv6-encap', 'ipv6-frag', 'ipv6-icmp',
  'icmpv6', 'ipv6-nonxt', 'ipv6-opts', 'ipv6-route', 'ospf', 'pgm', 'rsvp', 'sctp', 'tcp', 'udp', 'udplite', 'vrrp',
] as const;
const PORT_PROTOCOLS = new Set(['tcp', 'udp', 'sctp', 'dccp', 'udplite', '6', '17', '132', '33', '136']);
const ICMP_PROTOCOLS = new Set(['icmp', 'icmpv6', 'ipv6-icmp', '1', '58']);

export function normalizeProtocol(raw: string | null): string | null {
  if (raw === null || raw === '' || raw.toLowerCase() === 'any') return null;
  const p = raw.toLowerCase();
  if ((PROTOCOL_NAMES as readonly string[]).includes(p)) return p;
  if (/^\d+$/.test(p) && Number(p) <= 255) return String(Number(p));
  throw new BadRequest(
    `Security group rule protocol ${raw} not supported. Only protocol values [${['None', ...PROTOCOL_NAMES].map((n) => `'${n}'`).join(', ')}] and integer representations [0 to 255] are supported.`,
    'SecurityGroupRuleInvalidProtocol');
}

/** A CIDR (or bare address) of the rule's ethertype, normalized to network/length. */
export function normalizePrefix(prefix: string, ethertype: 'IPv4' | 'IPv6'): string {
  const [addr, lenText] = prefix.split('/');
  const v4n = parseIpv4(addr ?? '');
  const v4 = v4n !== null, v6 = !v4 && looksIpv6(addr ?? '');
  const max = v4 ? 32 : 128;
  const len = lenText === undefined ? max : Number(lenText);
  if ((!v4 && !v6) || !Number.isInteger(len) || len < 0 || len > max || (lenText !== undefined && !/^\d+$/.test(lenText))) {
    throw new BadRequest(`Invalid input for remote_ip_prefix. Reason: '${prefix}' is not a valid IP subnet.`);
  }
  if ((v4 ? 'IPv4' : 'IPv6') !== ethertype) {
    throw new BadRequest(`Conflicting value ethertype ${ethertype} for CIDR ${prefix}`, 'SecurityGroupRuleParameterConflict');
  }
  if (v4) {
    const n = v4n!;
    return `${formatIpv4(n - (n % 2 ** (32 - len)))}/${len}`;
  }
  return `${addr}/${len}`;
}

export function checkPorts(f: Pick<RuleFields, 'protocol' | 'portRangeMin' | 'portRangeMax'>): void {
  const { protocol, portRangeMin: min, portRangeMax: max } = f;
  if (min === null && max === null) return;
  if (protocol === null) throw new BadRequest('Must also specify protocol if port range is given.', 'SecurityGroupProtocolRequiredWithPorts');
  if (PORT_PROTOCOLS.has(protocol)) {
    for (const p of [min, max]) {
      if (p !== null && (p < 1 || p > 65535)) throw new BadRequest(`Invalid value for port ${p}.`, 'SecurityGroupInvalidPortValue');
    }
    if (min === null || max === null || min > max) {
      throw new BadRequest('For TCP/UDP protocols, port_range_min must be <= port_range_max', 'SecurityGroupInvalidPortRange');
    }
  } else if (ICMP_PROTOCOLS.has(protocol)) {
    for (const [field, v] of [['port_range_min', min], ['port_range_max', max]] as const) {
      if (v !== null && (v < 0 || v > 255)) {
        throw new BadRequest(`Invalid value for ICMP ${field} (type ${min}, code ${max}): ${v} is out of range 0-255.`, 'SecurityGroupInvalidIcmpValue');
      }
    }
    if (min === null && max !== null) {
      throw new BadRequest(`ICMP code (port-range-max) ${max} is provided but ICMP type (port-range-min) is missing.`, 'SecurityGroupMissingIcmpType');
    }
  } else {
    throw new BadRequest(`Invalid protocol ${protocol} for port range, only supported for TCP, UDP, UDPLITE, SCTP and DCCP.`, 'SecurityGroupInvalidProtocolForPortRange');
  }
}

/** What makes two rules the same: 0.0.0.0/0 and ::/0 mean "anywhere", like no prefix (as networking compares them). */
export function ruleKey(f: RuleFields): string {
  const prefix = f.remoteIpPrefix === '0.0.0.0/0' || f.remoteIpPrefix === '::/0' ? null : f.remoteIpPrefix;
  return JSON.stringify([f.direction, f.ethertype, f.protocol, f.portRangeMin, f.portRangeMax, prefix, f.remoteGroupId]);
}

/** Neutron's rules for a new group: egress anywhere for IPv4 and IPv6; the `default` group also ingress from itself. */
export function defaultRulesOf(groupId: string, isDefault: boolean): RuleFields[] {
  const rules: RuleFields[] = [];
  for (const ethertype of ['IPv4', 'IPv6'] as const) {
    rules.push({ direction: 'egress', ethertype, protocol: null, portRangeMin: null, portRangeMax: null, remoteIpPrefix: null, remoteGroupId: null });
    if (isDefault) {
      rules.push({ direction: 'ingress', ethertype, protocol: null, portRangeMin: null, portRangeMax: null, remoteIpPrefix: null, remoteGroupId: groupId });
    }
  }
  return rules;
}
