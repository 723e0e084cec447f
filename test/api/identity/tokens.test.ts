import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hashToken } from '../../../src/controller/services/tokens.js';
import { startTestController, type TestController } from '../../helpers/testController.js';
import { kysely } from '../../helpers/storageAccess.js';

function passwordAuth(user: string, password: string, scope?: unknown) {
  return {
    auth: {
      identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password } } },
      ...(scope === undefined ? {} : { scope }),
    },
  };
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

describe('identity tokens', () => {
  let c: TestController;
  before(async () => { c = await startTestController(); });
  after(async () => { await c.close(); });

  it('answers version discovery without a token', { timeout: 120_000 }, async () => {
    const root = await fetch(`${c.url}/identity`);
    assert.equal(root.status, 300);
    const versions = await root.json() as { versions: { values: Array<{ id: string; links: Array<{ href: string }> }> } };
    assert.equal(versions.versions.values[0]!.id, 'v3.14');
    const v3 = await fetch(`${c.url}/identity/v3`);
    assert.equal(v3.status, 200);
    const doc = await v3.json() as { version: { id: string; status: string; links: Array<{ rel: string; href: string }> } };
    assert.equal(doc.version.status, 'stable');
    assert.deepEqual(doc.version.links[0], { rel: 'self', href: `${c.url}/identity/v3/` });
  });

  it('issues a project-scoped token with roles and a catalog for a correct password', { timeout: 120_000 }, async () => {
    const res = await post(`${c.url}/identity/v3/auth/tokens`,
      passwordAuth('admin', c.adminPassword, { project: { name: 'admin', domain: { name: 'Default' } } }));
    assert.equal(res.status, 201);
    const token = res.headers.get('x-subject-token');
    assert.ok(token && token.length >= 40);
    const body = await res.json() as { token: Record<string, any> };
    const t = body.token;
    assert.equal(t.user.name, 'admin');
    assert.deepEqual(t.user.domain, { id: 'default', name: 'Default' });
    assert.equal(t.project.name, 'admin');
    assert.deepEqual(t.methods, ['password']);
    assert.deepEqual(t.roles, [{ id: 'admin', name: 'admin' }]);
    const ttlMs = Date.parse(t.expires_at) - Date.parse(t.issued_at);
    assert.ok(Math.abs(ttlMs - 3600_000) < 2000, `ttl ${ttlMs}`);
    const byType = new Map<string, any>(t.catalog.map((s: any) => [s.type, s]));
    const expected: Record<string, string> = {
      identity: `${c.url}/identity`, compute: `${c.url}/compute/v2.1`, network: `${c.url}/network`, image: `${c.url}/image`,
    };
    assert.deepEqual([...byType.keys()].sort(), Object.keys(expected).sort());
    for (const [type, url] of Object.entries(expected)) {
      const endpoints = byType.get(type).endpoints as Array<Record<string, string>>;
      assert.deepEqual(endpoints.map((e) => e.interface).sort(), ['admin', 'internal', 'public']);
      for (const e of endpoints) {
        assert.equal(e.url, url);
        assert.equal(e.region_id, 'RegionOne');
        assert.equal(e.region, 'RegionOne');
      }
    }
  });

  it('stores only the hash of a token', { timeout: 120_000 }, async () => {
    const token = await c.token('demo');
    const rows = await kysely(c.ctx.store).selectFrom('tokens').select('id').execute();
    assert.ok(rows.some((r) => r.id === hashToken(token)));
    assert.ok(!rows.some((r) => r.id === token));
  });

  it('scopes by ids too, and an unscoped request gets the default project', { timeout: 120_000 }, async () => {
    const user = await kysely(c.ctx.store).selectFrom('users').selectAll().where('name', '=', 'demo').executeTakeFirstOrThrow();
    const byId = await post(`${c.url}/identity/v3/auth/tokens`, {
      auth: {
        identity: { methods: ['password'], password: { user: { id: user.id, password: c.demoPassword } } },
        scope: { project: { id: user.default_project_id } },
      },
    });
    assert.equal(byId.status, 201);
    const unscoped = await post(`${c.url}/identity/v3/auth/tokens`, passwordAuth('demo', c.demoPassword));
    assert.equal(unscoped.status, 201);
    const t = (await unscoped.json() as { token: { project: { name: string }; roles: Array<{ name: string }> } }).token;
    assert.equal(t.project.name, 'demo');
    assert.deepEqual(t.roles.map((r) => r.name), ['member']);
  });

  it('refuses a wrong password and an unknown user with 401 in the identity error format', { timeout: 120_000 }, async () => {
    for (const body of [passwordAuth('admin', 'wrong'), passwordAuth('nobody', 'x')]) {
      const res = await post(`${c.url}/identity/v3/auth/tokens`, body);
      assert.equal(res.status, 401);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      assert.equal(res.headers.get('x-subject-token'), null);
      const err = await res.json() as { error: { code: number; title: string; message: string } };
      assert.equal(err.error.code, 401);
      assert.equal(err.error.title, 'Unauthorized');
      assert.equal(typeof err.error.message, 'string');
    }
  });

  it('refuses a project the user has no role on', { timeout: 120_000 }, async () => {
    const res = await post(`${c.url}/identity/v3/auth/tokens`,
      passwordAuth('demo', c.demoPassword, { project: { name: 'admin', domain: { name: 'Default' } } }));
    assert.equal(res.status, 401);
  });

  it('answers a malformed JSON body with 400', { timeout: 120_000 }, async () => {
    const res = await fetch(`${c.url}/identity/v3/auth/tokens`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"auth": {',
    });
    assert.equal(res.status, 400);
    const err = await res.json() as { error: { code: number } };
    assert.equal(err.error.code, 400);
  });

  it('validates and revokes tokens', { timeout: 120_000 }, async () => {
    const admin = await c.token('admin');
    const demo = await c.token('demo');
    const check = await fetch(`${c.url}/identity/v3/auth/tokens`, { headers: { 'x-auth-token': admin, 'x-subject-token': demo } });
    assert.equal(check.status, 200);
    assert.equal((await check.json() as { token: { user: { name: string } } }).token.user.name, 'demo');

    const noToken = await fetch(`${c.url}/identity/v3/auth/tokens`, { headers: { 'x-subject-token': demo } });
    assert.equal(noToken.status, 401);

    const revoke = await fetch(`${c.url}/identity/v3/auth/tokens`, { method: 'DELETE', headers: { 'x-auth-token': demo, 'x-subject-token': demo } });
    assert.equal(revoke.status, 204);
    const after = await fetch(`${c.url}/identity/v3/auth/tokens`, { headers: { 'x-auth-token': admin, 'x-subject-token': demo } });
    assert.equal(after.status, 404);
    assert.equal(await c.ctx.tokens.verify(demo), null);
  });
});

describe('identity token expiry', () => {
  let c: TestController;
  before(async () => { c = await startTestController({ config: { token_ttl_seconds: 1 } }); });
  after(async () => { await c.close(); });

  it('rejects a token once its lifetime has passed', { timeout: 120_000 }, async () => {
    const token = await c.token('admin');
    const ok = await fetch(`${c.url}/identity/v3/auth/projects`, { headers: { 'x-auth-token': token } });
    assert.equal(ok.status, 200);
    await new Promise((r) => setTimeout(r, 1200));
    const expired = await fetch(`${c.url}/identity/v3/auth/projects`, { headers: { 'x-auth-token': token } });
    assert.equal(expired.status, 401);
    const err = await expired.json() as { error: { code: number; title: string } };
    assert.deepEqual([err.error.code, err.error.title], [401, 'Unauthorized']);
    assert.equal(await c.ctx.tokens.verify(token), null);
  });
});
