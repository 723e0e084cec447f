/**
 * CPU lists as Nova and Linux write them ("0-15", "1-4,^3,6"): Nova's
 * parse_cpu_spec / format_cpu_spec (nova/virt/hardware.py).
 */

export class CpuSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CpuSpecError';
  }
}

const INT = /^\s*\d+\s*$/;

function toInt(text: string, problem: string): number {
  if (!INT.test(text)) throw new CpuSpecError(problem);
  return Number.parseInt(text, 10);
}

/** The CPUs a spec names, ascending; `^n` / `^a-b` remove what earlier or later items add. */
export function parseCpuSpec(spec: string): number[] {
  const take = new Set<number>();
  const reject = new Set<number>();
  for (const raw of spec.split(',')) {
    const rule = raw.trim();
    if (rule.length === 0) continue;
    const dash = rule.indexOf('-');
    if (dash > 0 || (dash === 0 && rule.length > 1)) {
      let [first, last] = [rule.slice(0, dash), rule.slice(dash + 1)];
      const excluded = first.startsWith('^');
      if (excluded) first = first.slice(1);
      const start = toInt(first, `Invalid range expression '${rule}'`);
      const end = toInt(last, `Invalid range expression '${rule}'`);
      if (start > end) throw new CpuSpecError(`Invalid range expression '${rule}'`);
      for (let c = start; c <= end; c++) (excluded ? reject : take).add(c);
    } else if (rule.startsWith('^')) {
      reject.add(toInt(rule.slice(1), `Invalid exclusion expression '${rule}'`));
    } else {
      take.add(toInt(rule, `Invalid inclusion expression '${rule}'`));
    }
  }
  for (const c of reject) take.delete(c);
  return [...take].sort((a, b) => a - b);
}

/** "0-3,8,10-11": ranges where CPUs follow each other. */
export function formatCpuSpec(cpus: Iterable<number>): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
