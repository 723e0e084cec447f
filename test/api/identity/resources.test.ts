import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiCaller, startControllerWithTokens } from '../../helpers/apiClient.js';
import type { TestController } from '../../helpers/testController.js';
import { kysely } from '../../helpers/storageAccess.js';

describe('identity projects, users and roles', () => {
  let c: TestController;
  let admin: string;
  let demo: string;
  before(async () => { ({ c, admin, demo } = await startControllerWithTokens()); });
  after(async () => { await c.close(); });

  const call = apiCaller(() => c.url, '/identity/v3');

  it('lets an admin create a project and a user, grant a role, and the user log in to it', { timeout: 120_000 }, async () => {
    const p = await call('POST', '/projects', admin, { project: { name: 'team1', description: 'a team', domain_id: 'default' } });
    assert.equal(p.status, 201);
    const project = (await p.json() as { project: { id: string; name: string; enabled: boolean } }).project;
    assert.equal(project.name, 'team1');
    assert.equal(project.enabled, true);

    const u = await call('POST', '/users', admin, { user: { name: 'alice', password: 's3cret', default_project_id: project.id } });
    assert.equal(u.status, 201);
    const user = (await u.json() as { user: { id: string; name: string } }).user;

    const grant = await call('PUT', `/projects/${project.id}/users/${user.id}/roles/member`, admin);
    assert.equal(grant.status, 204);

    const login = await fetch(`${c.url}/identity/v3/auth/tokens`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ auth: { identity: { methods: ['password'], password: { user: { name: 'alice', domain: { id: 'default' }, password: 's3cret' } } } } }),
    });
    assert.equal(login.status, 201);
    const t = (await login.json() as { token: { project: { id: string }; roles: Array<{ name: string }> } }).token;
    assert.equal(t.project.id, project.id);
    assert.deepEqual(t.roles.map((r) => r.name), ['member']);

    const assignments = await call('GET', `/role_assignments?user.id=${user.id}&include_names`, admin);
    const ra = (await assignments.json() as { role_assignments: Array<{ role: { name: string }; scope: { project: { name: string } } }> }).role_assignments;
    assert.deepEqual(ra.map((a) => [a.role.name, a.scope.project.name]), [['member', 'team1']]);
  });

  it('refuses a duplicate project name with 409', { timeout: 120_000 }, async () => {
    const res = await call('POST', '/projects', admin, { project: { name: 'demo' } });
    assert.equal(res.status, 409);
  });

  it('lists and filters by name for admins only', { timeout: 120_000 }, async () => {
    const res = await call('GET', '/projects?name=demo', admin);
    assert.equal(res.status, 200);
    const projects = (await res.json() as { projects: Array<{ name: string }> }).projects;
    assert.deepEqual(projects.map((p) => p.name), ['demo']);
    const roles = (await (await call('GET', '/roles', admin)).json() as { roles: Array<{ name: string }> }).roles;
    assert.deepEqual(roles.map((r) => r.name).sort(), ['admin', 'member', 'reader', 'service']);

    for (const path of ['/projects', '/users', '/roles', '/role_assignments']) {
      const denied = await call('GET', path, demo);
      assert.equal(denied.status, 403, path);
      assert.equal((await denied.json() as { error: { code: number } }).error.code, 403);
    }
    assert.equal((await call('POST', '/projects', demo, { project: { name: 'x' } })).status, 403);
  });

  it('lets a member read itself and its own projects', { timeout: 120_000 }, async () => {
    const v = await fetch(`${c.url}/identity/v3/auth/tokens`, { headers: { 'x-auth-token': demo, 'x-subject-token': demo } });
    const me = (await v.json() as { token: { user: { id: string }; project: { id: string } } }).token;
    assert.equal((await call('GET', `/users/${me.user.id}`, demo)).status, 200);
    assert.equal((await call('GET', `/projects/${me.project.id}`, demo)).status, 200);
    const mine = (await (await call('GET', '/auth/projects', demo)).json() as { projects: Array<{ name: string }> }).projects;
    assert.deepEqual(mine.map((p) => p.name), ['demo']);
    const adminUser = await kysely(c.ctx.store).selectFrom('users').select('id').where('name', '=', 'admin').executeTakeFirstOrThrow();
    assert.equal((await call('GET', `/users/${adminUser.id}`, demo)).status, 403);
  });

  it('answers 404 for an unknown project id', { timeout: 120_000 }, async () => {
    const res = await call('GET', '/projects/nope', admin);
    assert.equal(res.status, 404);
    assert.equal((await res.json() as { error: { code: number } }).error.code, 404);
  });
});
