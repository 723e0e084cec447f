import type { Generated } from 'kysely';

/**
 * Table shapes, identical on SQLite and PostgreSQL: text, integer and real
 * columns only (booleans are 0/1, JSON and timestamps are text) so that one
 * query layer serves both.
 */
export interface ProjectTable { id: string; name: string; domain_id: string; description: string; enabled: number }
export interface UserTable {
  id: string; name: string; domain_id: string; password_hash: string;
  default_project_id: string | null; enabled: number;
  /** Failed password attempts since the last success, and when the last was (lockout). */
  failed_auth_count: number; failed_auth_at: string | null;
  /** The one host a per-host agent credential may act for; null for any other user. */
  agent_host: string | null;
}
export interface RoleAssignmentTable { user_id: string; project_id: string; role: string }
export interface TokenTable {
  id: string; user_id: string; project_id: string; roles: string; issued_at: string; expires_at: string;
}
export interface SettingTable { key: string; value: string }

export interface FlavorTable {
  id: string; name: string; vcpus: number; ram: number; disk: number; ephemeral: number; swap: number;
  is_public: number; rxtx_factor: number; description: string | null; created_at: string;
}
export interface FlavorExtraSpecTable { flavor_id: string; key: string; value: string }
export interface ImageTable {
  id: string; name: string; status: string; visibility: string; disk_format: string | null;
  container_format: string | null; min_disk: number; min_ram: number; size: number | null;
  owner: string | null; protected: number; properties: string; created_at: string; updated_at: string;
}

export interface NetworkTable {
  id: string; name: string; project_id: string; shared: number; admin_state_up: number; status: string;
  physical_network: string | null; network_type: string; segmentation_id: number | null; mtu: number;
  router_external: number; description: string; created_at: string; updated_at: string; revision_number: number;
}
export interface SubnetTable {
  id: string; name: string; network_id: string; project_id: string; cidr: string; ip_version: number;
  gateway_ip: string | null; enable_dhcp: number; allocation_start: string; allocation_end: string;
  next_ip_hint: string; description: string; created_at: string; updated_at: string; revision_number: number;
}
export interface PortTable {
  id: string; name: string; network_id: string; project_id: string; mac_address: string;
  admin_state_up: number; status: string; device_id: string; device_owner: string;
  vnic_type: string; host_id: string; profile: string; vif_type: string; vif_details: string;
  description: string; created_at: string; updated_at: string; revision_number: number;
  /** Neutron's numa_affinity_policy of the port: required, preferred, legacy, socket, or null. */
  numa_affinity_policy: string | null;
  /** 0: the port carries no security groups (networking's port-security extension). */
  port_security_enabled: number;
}
export interface IpAllocationTable { subnet_id: string; ip_address: string; port_id: string }

export interface ServiceTable {
  id: string; host: string; binary: string; topic: string; zone: string; disabled: number;
  disabled_reason: string | null; forced_down: number; last_seen_up: string | null; version: number;
  report_count: number; created_at: string; updated_at: string;
}
export interface ComputeNodeTable {
  id: Generated<number>; uuid: string; host: string; hypervisor_type: string; hypervisor_version: number;
  vcpus: number; memory_mb: number; local_gb: number; vcpus_used: number; memory_mb_used: number;
  local_gb_used: number; running_vms: number; host_ip: string; versions: string;
  vdpa_unsupported_reason: string | null; cpu_allocation_ratio: number; ram_allocation_ratio: number;
  disk_allocation_ratio: number; created_at: string; updated_at: string;
  /** The host's NUMA cells and CPU sets (JSON HostNumaTopology); null: one cell of everything. */
  numa_topology: string | null;
  /** What claims hold of each cell (JSON HostNumaUsage). */
  numa_usage: string | null;
}
export interface PciDeviceTable {
  id: Generated<number>; host: string; address: string; vendor_id: string; product_id: string;
  dev_type: string; status: string; parent_addr: string | null; numa_node: number | null;
  physical_network: string | null; devname: string | null; vdpa_name: string | null;
  vdpa_chardev: string | null; tags: string; instance_uuid: string | null;
  /** Who holds the claim: the instance, or a migration while a resize keeps two claims. */
  consumer: string | null; missing: number; updated_at: string;
  /** Spaces a claim gives up for its UUIDs, so it rewrites the row in place (devices/rowRoom.ts). */
  reserved: string | null;
}
/** Free-device counts per host and kind: what the scheduler reads instead of devices. */
export interface PciPoolTable {
  host: string; dev_type: string; physical_network: string; vendor_id: string; product_id: string;
  free: number; total: number;
}
export interface InstanceTable {
  uuid: string; name: string; project_id: string; user_id: string; image_ref: string; flavor_id: string;
  flavor: string; old_flavor: string | null; new_flavor: string | null;
  vm_state: string; task_state: string | null; power_state: number; host: string | null; node: string | null;
  availability_zone: string; metadata: string; fault: string | null;
  description: string | null; key_name: string | null; pci_requests: string;
  /** The ports the server was asked to boot with, in order (JSON list of port ids). */
  network_requests: string; requested_host: string | null;
  launched_at: string | null; created_at: string; updated_at: string;
  /** When the task state (or its current step) last moved: the start of that step's deadline. */
  task_changed_at: string | null;
  /** The controller process advancing the server now, until lease_expires_at. */
  lease_owner: string | null; lease_expires_at: string | null;
  /** Hosts a build failed on (JSON list), skipped by its reschedule. */
  failed_hosts: string | null;
  /** The image's hw_* properties at boot (JSON), read with the flavor for the guest's NUMA topology. */
  image_properties: string | null;
  /** `server lock`: 0/1, who locked it (`owner` or `admin`) and why (2.73). */
  locked: number; locked_by: string | null; locked_reason: string | null;
  /** Security group names the create asked for (JSON list); null: the project's default. */
  security_groups: string | null;
  /** Ports the compute API created for `networks: [{uuid}]` (JSON list), deleted with the server. */
  created_port_ids: string | null;
  /** The zone the server was created in; null when none was asked for (availability_zone is its host's). */
  requested_availability_zone: string | null;
  /** The server group the server was booted into (the `group` scheduler hint); null: none. */
  server_group: string | null;
}
/** Server tags (2.26+). */
export interface InstanceTagTable { instance_uuid: string; tag: string }
export interface AllocationTable {
  consumer: string; host: string; vcpus: number; memory_mb: number; disk_gb: number;
  /** The consumer's NUMA claim on the host (JSON NumaPlacement); null for a guest without a NUMA topology. */
  numa: string | null;
}
export interface ServerGroupTable {
  id: string; name: string; project_id: string; user_id: string; policy: string; rules: string; created_at: string;
}
export interface ServerGroupMemberTable { group_id: string; instance_uuid: string }
/** What a compute agent must make true for one guest on its host; the work queue is this table. */
export interface GuestTable {
  instance_uuid: string; host: string; desired_state: string; spec: string; generation: number;
  observed_generation: number; observed_state: string | null; domain_xml: string | null;
  error: string | null; updated_at: string;
}
export interface MigrationTable {
  id: Generated<number>; uuid: string; instance_uuid: string; migration_type: string; status: string;
  source_compute: string | null; dest_compute: string | null; source_node: string | null;
  dest_node: string | null; old_flavor_id: string | null; new_flavor_id: string | null;
  project_id: string; user_id: string; created_at: string; updated_at: string;
  /** An evacuation's requested host is used without the scheduler's filters (0/1). */
  forced: Generated<number>;
}
/** Singleton periodic jobs: one process of the cluster holds each name until expires_at. */
export interface ClusterLeaseTable { name: string; owner: string; expires_at: string }
/** The steps of an instance action (Nova's instance action events). */
export interface InstanceActionEventTable {
  id: Generated<number>; instance_uuid: string; action: string; event: string; host: string | null;
  start_time: string; finish_time: string | null; result: string | null; details: string | null;
}
export interface InstanceActionTable {
  id: Generated<number>; instance_uuid: string; request_id: string; action: string; project_id: string;
  user_id: string; start_time: string; finish_time: string | null; message: string | null; result: string | null;
}

/** Nova's key pairs, per user. */
export interface KeyPairTable {
  id: Generated<number>; user_id: string; name: string; type: string; public_key: string; fingerprint: string;
  created_at: string;
}
export interface SecurityGroupTable {
  id: string; project_id: string; name: string; description: string; stateful: number;
  created_at: string; updated_at: string; revision_number: number;
}
/** Each project's `default` group (created on first use). */
export interface DefaultSecurityGroupTable { project_id: string; security_group_id: string }
export interface SecurityGroupRuleTable {
  id: string; security_group_id: string; project_id: string; direction: string; ethertype: string;
  protocol: string | null; port_range_min: number | null; port_range_max: number | null;
  remote_ip_prefix: string | null; remote_group_id: string | null; description: string;
  created_at: string; updated_at: string; revision_number: number;
}
export interface PortSecurityGroupTable { port_id: string; security_group_id: string }
/** A console log asked of a host's agent, and its answer. */
export interface ConsoleRequestTable {
  id: string; host: string; instance_uuid: string; lines: number | null; created_at: string;
  answered_at: string | null; output: string | null; error: string | null;
}
/** Nova's host aggregates; the availability zone is the `availability_zone` metadata key. */
export interface AggregateTable {
  id: Generated<number>; uuid: string; name: string; created_at: string; updated_at: string | null;
}
export interface AggregateHostTable { aggregate_id: number; host: string }
export interface AggregateMetadataTable { aggregate_id: number; key: string; value: string }
/** A project's limit of one resource where it differs from the default (-1: unlimited). */
export interface QuotaLimitTable { project_id: string; resource: string; hard_limit: number }
/** What a project's servers hold, changed by the same conditional write that checks the limits. */
export interface QuotaUsageTable { project_id: string; instances: number; cores: number; ram: number }
/** A deleted server, as os-simple-tenant-usage needs it. */
export interface TerminatedInstanceTable {
  uuid: string; name: string; project_id: string; flavor: string; launched_at: string | null; terminated_at: string;
}

/** The one-row counter that every token revocation moves (migration 015). */
export interface TokenEpochTable { id: number; epoch: number | string }

export interface Database {
  projects: ProjectTable;
  users: UserTable;
  role_assignments: RoleAssignmentTable;
  tokens: TokenTable;
  settings: SettingTable;
  flavors: FlavorTable;
  flavor_extra_specs: FlavorExtraSpecTable;
  images: ImageTable;
  networks: NetworkTable;
  subnets: SubnetTable;
  ports: PortTable;
  ip_allocations: IpAllocationTable;
  services: ServiceTable;
  compute_nodes: ComputeNodeTable;
  pci_devices: PciDeviceTable;
  pci_pools: PciPoolTable;
  instances: InstanceTable;
  instance_tags: InstanceTagTable;
  allocations: AllocationTable;
  guests: GuestTable;
  migrations: MigrationTable;
  instance_actions: InstanceActionTable;
  instance_action_events: InstanceActionEventTable;
  cluster_leases: ClusterLeaseTable;
  server_groups: ServerGroupTable;
  server_group_members: ServerGroupMemberTable;
  key_pairs: KeyPairTable;
  security_groups: SecurityGroupTable;
  default_security_groups: DefaultSecurityGroupTable;
  security_group_rules: SecurityGroupRuleTable;
  port_security_groups: PortSecurityGroupTable;
  console_requests: ConsoleRequestTable;
  aggregates: AggregateTable;
  aggregate_hosts: AggregateHostTable;
  aggregate_metadata: AggregateMetadataTable;
  quota_limits: QuotaLimitTable;
  quota_usages: QuotaUsageTable;
  terminated_instances: TerminatedInstanceTable;
  token_epoch: TokenEpochTable;
}
