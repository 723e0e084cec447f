/**
 * Nova's and Neutron's quota resources with their default limits (-1:
 * unlimited), as Nova 26 and Neutron 21 ship them (nova/conf/quota.py,
 * neutron/conf/quota.py).
 */
export const COMPUTE_DEFAULTS: Readonly<Record<string, number>> = {
  instances: 10,
  cores: 20,
  ram: 51200,
  metadata_items: 128,
  injected_files: 5,
  injected_file_content_bytes: 10240,
  injected_file_path_bytes: 255,
  key_pairs: 100,
  server_groups: 10,
  server_group_members: 10,
};

/** Shown up to 2.35 and always -1 (nova-network's, gone). */
export const COMPUTE_LEGACY = ['fixed_ips', 'floating_ips', 'security_groups', 'security_group_rules'] as const;
/** Dropped from 2.57 (personality files). */
export const COMPUTE_FILE_KEYS = ['injected_files', 'injected_file_content_bytes', 'injected_file_path_bytes'] as const;

export const NETWORK_DEFAULTS: Readonly<Record<string, number>> = {
  network: 100,
  subnet: 100,
  port: 500,
  router: 10,
  floatingip: 50,
  security_group: 10,
  security_group_rule: 100,
  rbac_policy: 10,
  subnetpool: -1,
};

/** Nova's largest accepted limit. */
export const QUOTA_MAX = 2147483647;

/** The compute resources a server's create and resize count: its flavor's. */
export interface InstanceUsage { instances: number; cores: number; ram: number }

export const COUNTED = ['cores', 'instances', 'ram'] as const;
export type Counted = (typeof COUNTED)[number];

/** What one server holds of a project's quota: while it resizes, the larger of its two flavors. */
export function usageOfServer(flavors: Array<{ vcpus: number; ram: number } | null>): InstanceUsage {
  const present = flavors.filter((f): f is { vcpus: number; ram: number } => f !== null);
  return { instances: 1, cores: Math.max(0, ...present.map((f) => f.vcpus)), ram: Math.max(0, ...present.map((f) => f.ram)) };
}

/** A resize's extra hold: what the new flavor adds over the old (Nova's upsize delta; nothing for a downsize). */
export function upsizeDelta(from: { vcpus: number; ram: number }, to: { vcpus: number; ram: number }): InstanceUsage {
  return { instances: 0, cores: Math.max(0, to.vcpus - from.vcpus), ram: Math.max(0, to.ram - from.ram) };
}

/**
 * Nova's 403 for a create or resize over quota: the exceeded resources
 * sorted and comma-joined, the other fields in that order.
 */
export function quotaExceededMessage(
  requested: InstanceUsage, used: InstanceUsage, limits: Record<Counted, number>,
): string | null {
  const over = COUNTED.filter((r) => requested[r] > 0 && limits[r] >= 0 && used[r] + requested[r] > limits[r]);
  if (over.length === 0) return null;
  const join = (f: (r: Counted) => number) => over.map(f).join(', ');
  return `Quota exceeded for ${over.join(', ')}: Requested ${join((r) => requested[r])}, but already used ${join((r) => used[r])} of ${join((r) => limits[r])} ${over.join(', ')}`;
}
