/**
 * Summarises a V8 .cpuprofile (from `--cpu-prof`): the top functions by self
 * time and by inclusive time, and the share of a few areas (SQLite, Kysely,
 * JSON, HTTP, GC), to say where the controller's time goes.
 * Usage: node dist/bench/profile.js <file.cpuprofile> [top]
 */
import { readFileSync } from 'node:fs';

process.stdout.on('error', () => process.exit(0)); // e.g. piped into head

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[] }

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: profile <file.cpuprofile> [top]\n');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const selfUs = new Map<number, number>();
p.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

const label = (n: Node) => {
  const url = n.callFrame.url.replace(/^file:\/\/.*?\/(node_modules|dist)\//, '$1/');
  return `${n.callFrame.functionName || '(anonymous)'} ${url}:${n.callFrame.lineNumber + 1}`;
};
const self = new Map<string, number>();
const inclusive = new Map<string, number>();
const areas = new Map<string, number>();
const areaOf = (n: Node): string | null => {
  const u = n.callFrame.url;
  const f = n.callFrame.functionName;
  if (f === '(garbage collector)') return 'gc';
  if (f === '(idle)') return 'idle';
  // SQLite's own work shows as the native statement call or as the self time of the JS frame that makes it.
  if (u.includes('better-sqlite3') || u.includes('sqlite-driver.js') || u.includes('inTransaction.js')
    || (u === '' && (f === 'run' || f === 'all' || f === 'get' || f === 'exec'))) return 'sqlite (statements and commits)';
  if (u.includes('/pg') || u.includes('pg-protocol')) return 'postgres driver';
  if (u.includes('kysely')) return 'kysely (query building)';
  if (u.includes('fastify') || u.includes('find-my-way') || u.includes('avvio') || u.includes('light-my-request')) return 'fastify';
  if (u.includes('pino')) return 'logging';
  if (u.startsWith('node:http') || u.startsWith('node:_http') || u.startsWith('node:net')) return 'node http';
  if (f === 'stringify' || f === 'parse' || u.includes('fast-json-stringify')) return 'json';
  if (u.includes('/dist/src/')) return 'vdpa-compute code';
  return null;
};
for (const [id, us] of selfUs) {
  const n = byId.get(id)!;
  self.set(label(n), (self.get(label(n)) ?? 0) + us);
  // Inclusive: count each function once per sample stack.
  const seen = new Set<string>();
  let area: string | null = null;
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const node = byId.get(cur)!;
    const l = label(node);
    if (!seen.has(l)) {
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + us);
    }
    area ??= areaOf(node);
  }
  const a = area ?? 'other (node internals, native)';
  areas.set(a, (areas.get(a) ?? 0) + us);
}
const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
const print = (title: string, m: Map<string, number>, n: number) => {
  process.stdout.write(`\n${title}\n`);
  for (const [k, v] of [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)) process.stdout.write(`${pct(v)}  ${k}\n`);
};
process.stdout.write(`total ${(total / 1e6).toFixed(2)} s sampled\n`);
print('by area (innermost attributable frame)', areas, 20);
print('self time', self, top);
print('inclusive time', inclusive, top);
const ours = new Map([...inclusive].filter(([k]) => k.includes(' dist/src/')));
print('inclusive time, vdpa-compute functions', ours, top);
