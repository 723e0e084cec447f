/**
 * Nova's os-simple-tenant-usage arithmetic (simple_tenant_usage.py): a
 * server is charged for the part of [launched_at, terminated_at] inside the
 * period; never launched, nothing.
 */
export interface UsageServer {
  uuid: string; name: string; projectId: string; vmState: string | null;
  flavor: { name: string; vcpus: number; ram: number; disk: number; ephemeral: number };
  launchedAt: number | null; terminatedAt: number | null;
}

export interface ServerUsage {
  instance_id: string; name: string; tenant_id: string; flavor: string; hours: number; memory_mb: number;
  local_gb: number; vcpus: number; started_at: string | null; ended_at: string | null; state: string; uptime: number;
}

export interface TenantUsage {
  tenant_id: string; total_local_gb_usage: number; total_vcpus_usage: number; total_memory_mb_usage: number;
  total_hours: number; start: string; stop: string; server_usages?: ServerUsage[];
}

const HOUR_MS = 3_600_000;

export function hoursFor(s: Pick<UsageServer, 'launchedAt' | 'terminatedAt'>, start: number, stop: number): number {
  if (s.terminatedAt !== null && s.terminatedAt < start) return 0;
  if (s.launchedAt === null || s.launchedAt > stop) return 0;
  const from = Math.max(s.launchedAt, start);
  const to = s.terminatedAt !== null ? Math.min(stop, s.terminatedAt) : stop;
  return (to - from) / HOUR_MS;
}

/** Nova's timestamps in this API: ISO without a zone, microseconds. */
export function novaTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}000`;
}

/** Nova's query times: `%Y-%m-%dT%H:%M:%S[.%f]` or `%Y-%m-%d %H:%M:%S.%f`, UTC. Null when malformed. */
export function parseUsageTime(text: string): number | null {
  const m = /^(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2}:\d{2})(\.\d{1,6})?| (\d{2}:\d{2}:\d{2})(\.\d{1,6}))$/.exec(text);
  if (!m) return null;
  const time = m[2] ?? m[4]!;
  const frac = (m[3] ?? m[5] ?? '').slice(0, 4);
  const ms = Date.parse(`${m[1]}T${time}${frac}Z`);
  return Number.isNaN(ms) ? null : ms;
}

/** Per project: totals, and each server's usage when `detailed`. */
export function tenantUsages(servers: UsageServer[], start: number, stop: number, now: number, detailed: boolean): TenantUsage[] {
  const out = new Map<string, TenantUsage>();
  for (const s of servers) {
    // Nova's window: not terminated before the start, launched before the end.
    if (s.launchedAt === null || s.launchedAt >= stop) continue;
    if (s.terminatedAt !== null && s.terminatedAt <= start) continue;
    const hours = hoursFor(s, start, stop);
    const localGb = s.flavor.disk + s.flavor.ephemeral;
    const state = s.terminatedAt !== null ? 'terminated' : (s.vmState ?? 'active');
    const usage: ServerUsage = {
      instance_id: s.uuid, name: s.name, tenant_id: s.projectId, flavor: s.flavor.name, hours,
      memory_mb: s.flavor.ram, local_gb: localGb, vcpus: s.flavor.vcpus,
      started_at: novaTime(s.launchedAt), ended_at: s.terminatedAt !== null ? novaTime(s.terminatedAt) : null, state,
      uptime: Math.floor(((s.terminatedAt ?? now) - s.launchedAt) / 1000),
    };
    let t = out.get(s.projectId);
    if (!t) {
      t = {
        tenant_id: s.projectId, total_local_gb_usage: 0, total_vcpus_usage: 0, total_memory_mb_usage: 0, total_hours: 0,
        start: novaTime(start), stop: novaTime(stop), ...(detailed ? { server_usages: [] } : {}),
      };
      out.set(s.projectId, t);
    }
    t.server_usages?.push(usage);
    t.total_local_gb_usage += localGb * hours;
    t.total_vcpus_usage += s.flavor.vcpus * hours;
    t.total_memory_mb_usage += s.flavor.ram * hours;
    t.total_hours += hours;
  }
  return [...out.values()];
}
