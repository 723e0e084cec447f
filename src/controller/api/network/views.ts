import type { AuthContext } from '../../context.js';
import type { NetworkRecord, SubnetRecord } from '../../services/networking.js';
import type { PortRecord } from '../../services/ports.js';
import type { SecurityGroupRow, SecurityGroupRuleRow } from '../../services/securityGroups.js';

/** Response bodies in networking's shape. Admin-only attributes are left out for everyone else, as networking's default policy reads them. */

export function networkView(n: NetworkRecord, auth: AuthContext): Record<string, unknown> {
  return {
    id: n.id, name: n.name, status: n.status, subnets: n.subnetIds, shared: n.shared,
    admin_state_up: n.adminStateUp, project_id: n.projectId, tenant_id: n.projectId,
    ...(auth.isAdmin ? {
      'provider:physical_network': n.physicalNetwork, 'provider:network_type': n.networkType,
      'provider:segmentation_id': n.segmentationId,
    } : {}),
    'router:external': n.routerExternal, mtu: n.mtu, availability_zones: [], availability_zone_hints: [],
    ipv4_address_scope: null, ipv6_address_scope: null, is_default: false, port_security_enabled: true,
    description: n.description, tags: [], created_at: n.createdAt, updated_at: n.updatedAt,
    revision_number: n.revisionNumber,
  };
}

export function subnetView(s: SubnetRecord): Record<string, unknown> {
  return {
    id: s.id, name: s.name, network_id: s.networkId, project_id: s.projectId, tenant_id: s.projectId,
    cidr: s.cidr, ip_version: s.ipVersion, gateway_ip: s.gatewayIp, enable_dhcp: s.enableDhcp,
    allocation_pools: s.allocationPools, dns_nameservers: [], host_routes: [], ipv6_ra_mode: null,
    ipv6_address_mode: null, subnetpool_id: null, segment_id: null, service_types: [], dns_publish_fixed_ip: false,
    description: s.description, tags: [], created_at: s.createdAt, updated_at: s.updatedAt,
    revision_number: s.revisionNumber,
  };
}

/** A port's security groups and port security flag (services/securityGroups.ts portSecurityViews). */
export interface PortSecurityView { securityGroups: string[]; portSecurityEnabled: boolean }

export function portView(p: PortRecord, auth: AuthContext, sec?: PortSecurityView): Record<string, unknown> {
  return {
    id: p.id, name: p.name, network_id: p.networkId, project_id: p.projectId, tenant_id: p.projectId,
    mac_address: p.macAddress, admin_state_up: p.adminStateUp, status: p.status, device_id: p.deviceId,
    device_owner: p.deviceOwner,
    fixed_ips: p.fixedIps.map((f) => ({ subnet_id: f.subnetId, ip_address: f.ipAddress })),
    'binding:vnic_type': p.vnicType,
    ...(auth.isAdmin ? {
      'binding:host_id': p.hostId, 'binding:profile': p.profile, 'binding:vif_type': p.vifType,
      'binding:vif_details': p.vifDetails,
    } : {}),
    security_groups: sec?.securityGroups ?? [], allowed_address_pairs: [], extra_dhcp_opts: [],
    port_security_enabled: sec?.portSecurityEnabled ?? true,
    dns_name: '', dns_assignment: [], propagate_uplink_status: false, description: p.description, tags: [],
    created_at: p.createdAt, updated_at: p.updatedAt, revision_number: p.revisionNumber,
    numa_affinity_policy: p.numaAffinityPolicy,
  };
}

export function securityGroupRuleView(r: SecurityGroupRuleRow): Record<string, unknown> {
  return {
    id: r.id, security_group_id: r.security_group_id, project_id: r.project_id, tenant_id: r.project_id,
    direction: r.direction, ethertype: r.ethertype, protocol: r.protocol, port_range_min: r.port_range_min,
    port_range_max: r.port_range_max, remote_ip_prefix: r.remote_ip_prefix, remote_group_id: r.remote_group_id,
    remote_address_group_id: null, normalized_cidr: r.remote_ip_prefix, description: r.description, tags: [],
    created_at: r.created_at, updated_at: r.updated_at, revision_number: r.revision_number,
  };
}

export function securityGroupView(g: SecurityGroupRow, rules: SecurityGroupRuleRow[]): Record<string, unknown> {
  return {
    id: g.id, name: g.name, description: g.description, project_id: g.project_id, tenant_id: g.project_id,
    stateful: g.stateful === 1, shared: false, tags: [], created_at: g.created_at, updated_at: g.updated_at,
    revision_number: g.revision_number, security_group_rules: rules.map(securityGroupRuleView),
  };
}
