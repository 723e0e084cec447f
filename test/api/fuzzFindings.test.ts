/**
 * Findings of the fuzzer (npm run fuzz, docs/fuzzing.md), each a 500 before:
 * a body of thousands of nested arrays overflowed the stack of the NUL check
 * before any handler ran; a malformed JSON body on a path outside the APIs
 * (a client's `servers/../../etc/passwd/action`, normalised) failed to parse
 * with no API's error handler to map it; on PostgreSQL, a networking list
 * whose filter left no value to match (`?tenant_id=true`) sent a NUL-byte
 * sentinel to the database, which refuses it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestController, withPostgresDatabase, type TestController } from '../helpers/testController.js';

const DEEP = `${'['.repeat(5000)}${']'.repeat(5000)}`;
let c: TestController;
let admin: string;

before(async () => {
  c = await startTestController();
  admin = await c.token('admin');
});
after(async () => { await c.close(); });

test('a body nested 5,000 levels deep is 400 in each API\'s error format', { timeout: 120_000 }, async () => {
  const cases: Array<[string, string, string]> = [
    ['POST', '/compute/v2.1/os-aggregates', 'badRequest'],
    ['POST', '/network/v2.0/ports', 'NeutronError'],
    ['POST', '/identity/v3/projects', 'error'],
  ];
  for (const [method, path, errorKey] of cases) {
    const res = await fetch(`${c.url}${path}`, { method, headers: { 'x-auth-token': admin, 'content-type': 'application/json' }, body: DEEP });
    const body = await res.json();
    assert.equal(res.status, 400, `${method} ${path}: ${JSON.stringify(body)}`);
    assert.ok(errorKey in body, `${method} ${path}: ${JSON.stringify(body)}`);
  }
});

test('a malformed JSON body on a path outside the APIs is 400', { timeout: 120_000 }, async () => {
  const res = await fetch(`${c.url}/etc/passwd/action`, { method: 'POST', headers: { 'x-auth-token': admin, 'content-type': 'application/json' }, body: "{'a':1}" });
  const text = await res.text();
  assert.equal(res.status, 400, text);
});

test('on PostgreSQL, networking lists filtered to nothing are 200 and empty', { timeout: 300_000 }, async () => {
  await withPostgresDatabase(async (url) => {
    const pg = await startTestController({ databaseUrl: url });
    try {
      const token = await pg.token('admin');
      for (const path of ['/network/v2.0/security-groups', '/network/v2.0/security-group-rules', '/network/v2.0/ports']) {
        const res = await fetch(`${pg.url}${path}?tenant_id=true`, { headers: { 'x-auth-token': token } });
        const text = await res.text();
        assert.equal(res.status, 200, `${path}: ${text}`);
      }
    } finally {
      await pg.close();
    }
  });
});
