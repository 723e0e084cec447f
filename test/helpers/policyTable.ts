/**
 * docs/policy.md's route × actor table, read as data: the rows between the
 * `policy-table:start` and `policy-table:end` markers, one per route (and per
 * server action), with the HTTP status each actor gets. Also the routes the
 * controller registered, so that the test can fail on any route missing from
 * the table.
 */
import type { FastifyInstance } from 'fastify';

export const ACTORS = ['admin', 'member', 'other', 'service', 'none', 'expired', 'revoked'] as const;
export type Actor = (typeof ACTORS)[number];

/** The table's column headings, in ACTORS order. */
const HEADINGS: Record<Actor, string> = {
  admin: 'admin', member: 'member', other: 'other project', service: 'service', none: 'no token', expired: 'expired', revoked: 'revoked',
};

export interface PolicyRow {
  method: string;
  /** The route with placeholders for the walker's fixtures: /compute/v2.1/servers/{server}. */
  path: string;
  /** Which request of several on one route (a server action's name), or '' for the one. */
  variant: string;
  expected: Record<Actor, number>;
}

function cells(line: string): string[] {
  return line.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((c) => c.trim().replace(/^`|`$/g, ''));
}

export function parsePolicyTable(markdown: string): PolicyRow[] {
  const start = markdown.indexOf('<!-- policy-table:start -->');
  const end = markdown.indexOf('<!-- policy-table:end -->');
  if (start < 0 || end < start) throw new Error('docs/policy.md has no policy-table:start … policy-table:end block');
  const lines = markdown.slice(start, end).split('\n').filter((l) => l.trim().startsWith('|'));
  const header = cells(lines[0]!);
  const column = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`docs/policy.md's table has no column "${name}"`);
    return i;
  };
  const methodCol = column('Method');
  const pathCol = column('Path');
  const variantCol = column('Request');
  return lines.slice(2).map((line) => {
    const c = cells(line);
    const expected = {} as Record<Actor, number>;
    for (const actor of ACTORS) {
      const status = Number(c[column(HEADINGS[actor])]);
      if (!Number.isInteger(status)) throw new Error(`docs/policy.md: no status for ${HEADINGS[actor]} in: ${line}`);
      expected[actor] = status;
    }
    const variant = c[variantCol] ?? '';
    return { method: c[methodCol]!, path: c[pathCol]!, variant: variant === '' || variant === '-' ? '' : variant, expected };
  });
}

/** `GET /compute/v2.1/servers/{}`: a route with its parameter names left out, to compare templates that name them differently. */
export function routeKey(method: string, path: string): string {
  const template = path
    .replace(/\{[^}]*\}/g, '{}')
    .replace(/:[^/]+/g, '{}')
    .replace(/\/?\*$/, '/{}')
    .replace(/\/+$/, '');
  return `${method.toUpperCase()} ${template || '/'}`;
}

/**
 * Every route fastify registered, as routeKey()s, read from app.printRoutes()'s
 * tree (it lists hidden routes too, which /openapi.json leaves out). HEAD routes
 * fastify adds for each GET are left out.
 */
export function registeredRoutes(app: FastifyInstance): Set<string> {
  const tree = app.printRoutes({ commonPrefix: false });
  const prefixes: string[] = [];
  const keys = new Set<string>();
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+)(?: \(([^)]*)\))?/.exec(line.replace(/\u00a0/g, ' '));
    if (!m) continue;
    const depth = m[1]!.length / 4;
    prefixes.length = depth;
    const segment = m[2]!.replace(/:[^/]+/g, '{}');
    const path = (prefixes[depth - 1] ?? '') + segment;
    prefixes[depth] = path;
    for (const method of (m[3] ?? '').split(',').map((s) => s.trim()).filter((s) => s && s !== 'HEAD')) {
      keys.add(routeKey(method, path));
    }
  }
  return keys;
}
