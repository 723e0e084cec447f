/**
 * Rule 4: the counters the scheduler reads instead of rows. Pools are what
 * summarizePools makes of the host's device rows (the same function the
 * recount uses); a compute node's usage is the sum of its allocations, one
 * running VM per allocation (claimOnHost counts them so).
 */
import { poolKeyString, summarizePools, type Pool } from '../pci/pools.js';
import { finding, type Finding } from './findings.js';
import type { AuditComputeNode, AuditDevice, AuditSnapshot } from './snapshot.js';

const poolName = (p: Pool) => `${p.devType}/${p.physicalNetwork || '-'}/${p.vendorId}:${p.productId}`;

function byHost<T extends { host: string }>(rows: T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const r of rows) {
    const list = out.get(r.host);
    if (list) list.push(r);
    else out.set(r.host, [r]);
  }
  return out;
}

export function poolFindings(s: AuditSnapshot): Finding[] {
  const out: Finding[] = [];
  const devices = byHost<AuditDevice>(s.devices);
  const recorded = byHost(s.pools);
  const hosts = [...new Set([...devices.keys(), ...recorded.keys()])].sort();
  for (const host of hosts) {
    const want = new Map(summarizePools(devices.get(host) ?? []).map((p) => [poolKeyString(p), p]));
    const have = new Map((recorded.get(host) ?? []).map((p) => [poolKeyString(p), p]));
    for (const key of [...new Set([...want.keys(), ...have.keys()])].sort()) {
      const w = want.get(key);
      const h = have.get(key);
      if (w && h && w.free === h.free && w.total === h.total) continue;
      const pool = (w ?? h)!;
      const counts = (p: Pool | undefined) => (p ? `free ${p.free} of ${p.total}` : 'no pool');
      out.push(finding('pool-count-mismatch',
        `pool ${poolName(pool)} on ${host} records ${counts(h)}, its devices say ${counts(w)}`,
        { host, pool: poolName(pool) },
        { does: `recount ${host}'s pools from its device rows`, repair: { kind: 'recount-pools', host } }));
    }
  }
  return out;
}

type Usage = Pick<AuditComputeNode, 'vcpusUsed' | 'memoryMbUsed' | 'localGbUsed' | 'runningVms'>;
const USAGE_COLUMNS: Array<[keyof Usage, string]> = [
  ['vcpusUsed', 'vcpus_used'], ['memoryMbUsed', 'memory_mb_used'], ['localGbUsed', 'local_gb_used'], ['runningVms', 'running_vms'],
];

export function usageFindings(s: AuditSnapshot): Finding[] {
  const want = new Map<string, Usage>();
  for (const a of s.allocations) {
    const u = want.get(a.host) ?? { vcpusUsed: 0, memoryMbUsed: 0, localGbUsed: 0, runningVms: 0 };
    u.vcpusUsed += a.vcpus;
    u.memoryMbUsed += a.memoryMb;
    u.localGbUsed += a.diskGb;
    u.runningVms += 1;
    want.set(a.host, u);
  }
  const out: Finding[] = [];
  for (const node of s.computeNodes) {
    const w = want.get(node.host) ?? { vcpusUsed: 0, memoryMbUsed: 0, localGbUsed: 0, runningVms: 0 };
    const off = USAGE_COLUMNS.filter(([k]) => node[k] !== w[k]);
    if (!off.length) continue;
    out.push(finding('compute-node-usage-mismatch',
      `compute node ${node.host} records ${off.map(([k, col]) => `${col} ${node[k]}`).join(', ')}; its allocations say ${off.map(([k]) => w[k]).join(', ')}`,
      { host: node.host },
      { does: `set ${node.host}'s usage to the sum of its allocations`, repair: { kind: 'recount-usage', host: node.host } }));
  }
  return out;
}
