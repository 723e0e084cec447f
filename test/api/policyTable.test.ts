/**
 * Issue 16, item 3: docs/policy.md's table of every route against every kind
 * of caller is what the controller answers. Each row is sent as each actor
 * (admin, member of the owning project, member of another project, an agent
 * credential, no token, an expired and a revoked token) and the status must be
 * the table's; every route the controller registered must have a row.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ACTORS, parsePolicyTable, registeredRoutes, routeKey, type PolicyRow } from '../helpers/policyTable.js';
import { startPolicyWorld, type PolicyWorld } from '../helpers/policyWorld.js';

// dist/test/api/ → the repository's docs/.
const POLICY_MD = resolve(import.meta.dirname, '../../../docs/policy.md');

describe('docs/policy.md: every route × every actor', { timeout: 600_000 }, () => {
  const rows: PolicyRow[] = parsePolicyTable(readFileSync(POLICY_MD, 'utf8'));
  let world: PolicyWorld;
  before(async () => { world = await startPolicyWorld(); });
  after(async () => { await world?.stop(); });

  test('the table has a row for every route the controller serves, and no row for a route it does not', { timeout: 120_000 }, () => {
    const served = registeredRoutes(world.rig.tc.app);
    const tabled = new Set(rows.map((r) => routeKey(r.method, r.path)));
    assert.deepEqual([...served].filter((r) => !tabled.has(r)).sort(), [], 'routes missing from docs/policy.md');
    assert.deepEqual([...tabled].filter((r) => !served.has(r)).sort(), [], 'rows in docs/policy.md for routes the controller does not serve');
    assert.ok(rows.length >= served.size);
  });

  test('every actor gets the status the table gives, on every row', { timeout: 480_000 }, async () => {
    const wrong: string[] = [];
    for (const row of rows) {
      for (const actor of ACTORS) {
        const answer = await world.send(row, actor);
        if (answer.status !== row.expected[actor]) {
          wrong.push(`${row.method} ${row.path}${row.variant ? ` (${row.variant})` : ''} as ${actor}: ${answer.status}, table says ${row.expected[actor]}: ${JSON.stringify(answer.body)?.slice(0, 200)}`);
        }
      }
    }
    // All mismatches at once, so that one run shows every row to fix.
    assert.deepEqual(wrong, []);
  });
});
