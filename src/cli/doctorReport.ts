/** How `vdpa-compute doctor` prints what it found and fixed: JSON for machines, lines for operators. */
import type { FindingView } from '../domain/audit/findings.js';

export interface DoctorResult {
  /** What the (first) audit found. */
  findings: FindingView[];
  /** With --fix: the findings whose repair was made, and what a re-audit still finds. */
  fixed?: FindingView[];
  remaining?: FindingView[];
}

function idsText(ids: FindingView['ids']): string {
  return Object.entries(ids).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : v}`).join(' ');
}

function findingLines(f: FindingView): string[] {
  const fix = f.fix ?? 'leaves it (the engine\'s or an operator\'s to settle)';
  return [`  [${f.code}] ${f.message}`, `      ids: ${idsText(f.ids)}`, `      --fix: ${fix}`];
}

export function renderText(r: DoctorResult, where: string): string {
  const lines = [`vdpa-compute doctor: ${where}`];
  if (r.findings.length === 0) lines.push('no findings: the database is consistent');
  else {
    lines.push(`${r.findings.length} finding(s):`);
    for (const f of r.findings) lines.push(...findingLines(f));
  }
  if (r.fixed !== undefined && r.remaining !== undefined) {
    lines.push(`fixed ${r.fixed.length} finding(s); a re-audit finds ${r.remaining.length}${r.remaining.length ? ':' : ''}`);
    for (const f of r.remaining) lines.push(...findingLines(f));
  } else if (r.findings.some((f) => f.fix !== null)) {
    lines.push('run with --fix to repair the ones with a fix');
  }
  return `${lines.join('\n')}\n`;
}

export function renderJson(r: DoctorResult): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}
