import type { HostVersions } from './hostVersions.js';

/** The minimum versions for vDPA (behaviour.md, "Host requirements"). */
const MINIMUMS: ReadonlyArray<{ key: keyof HostVersions; label: string; minimum: string }> = [
  { key: 'kernel', label: 'Linux kernel', minimum: '5.7' },
  { key: 'libvirt', label: 'libvirt', minimum: '6.9.0' },
  { key: 'qemu', label: 'QEMU', minimum: '5.1' },
];

/**
 * Why this host cannot offer vDPA devices, as one line naming every minimum it
 * misses, or null when it meets them all. Distribution suffixes are ignored
 * ("6.1.0-18-amd64" is 6.1.0).
 */
export function vdpaSupportProblem(v: HostVersions): string | null {
  const problems: string[] = [];
  for (const { key, label, minimum } of MINIMUMS) {
    const have = parseVersion(v[key]);
    if (have === null) {
      problems.push(`vDPA needs ${label} ${minimum} or newer (cannot read the host's version "${v[key]}")`);
    } else if (compareVersions(have, parseVersion(minimum)!) < 0) {
      problems.push(`vDPA needs ${label} ${minimum} or newer (host has ${v[key]})`);
    }
  }
  return problems.length === 0 ? null : problems.join('; ');
}

/** The leading numeric components of a version string, or null if it has none. */
export function parseVersion(text: string): number[] | null {
  const m = /^\s*v?(\d+(?:\.\d+)*)/.exec(text ?? '');
  return m ? m[1]!.split('.').map(Number) : null;
}

export function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
