/**
 * Issue 16, item 4, with the real client: `openstack user set --disable`,
 * `user delete`, `project set --disable` and `role remove` end existing tokens
 * at once, also in another controller process; lockout when configured; and
 * no password or token in the log of a full flow.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startAllInOneProcess, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { startCluster, type Cluster } from '../helpers/cluster.js';

const LIMIT = { timeout: 180_000 };

async function tokenFor(url: string, user: string, password: string, project: string): Promise<{ status: number; token: string | null }> {
  const r = await fetch(`${url}/identity/v3/auth/tokens`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ auth: {
      identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password } } },
      scope: { project: { name: project, domain: { name: 'Default' } } },
    } }),
  });
  await r.text();
  return { status: r.status, token: r.headers.get('x-subject-token') };
}

async function statusWith(url: string, token: string): Promise<number> {
  const r = await fetch(`${url}/compute/v2.1/servers`, { headers: { 'x-auth-token': token } });
  await r.text();
  return r.status;
}

describe('identity revocation through the openstack client', { timeout: 600_000 }, () => {
  let aio: AllInOneProcess;
  const secrets: string[] = [];
  before(async () => {
    aio = await startAllInOneProcess({ env: { VDPA_LOG_LEVEL: 'debug' }, config: { lockout_failure_attempts: 3, lockout_duration: 600 } });
  });
  after(async () => { await aio?.stop(); });

  const ok = async (args: string[]) => {
    const r = await aio.openstack(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return r;
  };

  test('user set --disable ends the user\'s tokens at once; --enable lets it log in again, the old token stays dead', LIMIT, async () => {
    const password = 'carol-Secret-4711';
    secrets.push(password);
    await ok(['user', 'create', '--password', password, '--project', 'demo', 'carol']);
    await ok(['role', 'add', '--user', 'carol', '--project', 'demo', 'member']);
    const first = (await tokenFor(aio.url, 'carol', password, 'demo')).token!;
    secrets.push(first);
    assert.equal(await statusWith(aio.url, first), 200);
    await ok(['user', 'set', '--disable', 'carol']);
    assert.equal(await statusWith(aio.url, first), 401);
    assert.equal((await tokenFor(aio.url, 'carol', password, 'demo')).status, 401);
    await ok(['user', 'set', '--enable', 'carol']);
    assert.equal(await statusWith(aio.url, first), 401);
    const second = (await tokenFor(aio.url, 'carol', password, 'demo')).token!;
    secrets.push(second);
    assert.equal(await statusWith(aio.url, second), 200);
    const shown = JSON.parse((await ok(['user', 'show', 'carol', '-f', 'json'])).stdout);
    assert.equal(shown.enabled, true);
  });

  test('role remove ends the token that carried the role; user delete ends everything', LIMIT, async () => {
    const password = 'carol-Secret-4711';
    const token = (await tokenFor(aio.url, 'carol', password, 'demo')).token!;
    secrets.push(token);
    assert.equal(await statusWith(aio.url, token), 200);
    await ok(['role', 'remove', '--user', 'carol', '--project', 'demo', 'member']);
    assert.equal(await statusWith(aio.url, token), 401);
    await ok(['role', 'add', '--user', 'carol', '--project', 'demo', 'member']);
    assert.equal(await statusWith(aio.url, token), 401, 'the role given back does not revive the token');
    const again = (await tokenFor(aio.url, 'carol', password, 'demo')).token!;
    secrets.push(again);
    await ok(['user', 'delete', 'carol']);
    assert.equal(await statusWith(aio.url, again), 401);
    const list = JSON.parse((await ok(['user', 'list', '-f', 'json'])).stdout) as Array<{ Name: string }>;
    assert.ok(!list.some((u) => u.Name === 'carol'));
    const missing = await aio.openstack(['user', 'delete', 'carol']);
    assert.equal(missing.code, 1);
  });

  test('lockout: the 3rd failed password locks the user, even the right password is refused', LIMIT, async () => {
    const password = 'dave-Secret-0815';
    secrets.push(password);
    await ok(['user', 'create', '--password', password, '--project', 'demo', 'dave']);
    await ok(['role', 'add', '--user', 'dave', '--project', 'demo', 'member']);
    for (let i = 0; i < 3; i++) assert.equal((await tokenFor(aio.url, 'dave', 'wrong', 'demo')).status, 401);
    const locked = await fetch(`${aio.url}/identity/v3/auth/tokens`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ auth: { identity: { methods: ['password'], password: { user: { name: 'dave', domain: { name: 'Default' }, password } } } } }),
    });
    assert.equal(locked.status, 401);
    assert.match((await locked.json()).error.message, /^The account is locked for user: [0-9a-f]{32}\.$/);
    // An admin setting a new password lifts it.
    const fresh = 'dave-New-Secret-1234';
    secrets.push(fresh);
    await ok(['user', 'set', '--password', fresh, 'dave']);
    assert.equal((await tokenFor(aio.url, 'dave', fresh, 'demo')).status, 201);
  });

  test('project set --disable ends the project\'s tokens at once', LIMIT, async () => {
    const demo = await aio.token('demo');
    secrets.push(demo, await aio.token('admin'));
    assert.equal(await statusWith(aio.url, demo), 200);
    await ok(['project', 'set', '--disable', 'demo']);
    assert.equal(await statusWith(aio.url, demo), 401);
    await ok(['project', 'set', '--enable', 'demo']);
    assert.equal(await statusWith(aio.url, demo), 401);
  });

  test('the log of the whole flow (debug level) holds no password and no token', LIMIT, async () => {
    const log = aio.output();
    assert.ok(log.length > 1000, 'the controller logged the flow');
    for (const secret of secrets) assert.ok(!log.includes(secret), `the log holds a secret (${secret.slice(0, 4)}…)`);
    assert.doesNotMatch(log, /x-auth-token|x-subject-token|"password"/i);
  });
});

describe('identity revocation across controller processes', { timeout: 300_000 }, () => {
  let cluster: Cluster;
  before(async () => { cluster = await startCluster({ controllers: 2 }); });
  after(async () => { await cluster?.stop(); });

  test('a user disabled through B cannot use a token issued by A, at A, at once', LIMIT, async () => {
    const [a, b] = [cluster.controllers[0]!, cluster.controllers[1]!];
    const demo = (await a.api('GET', '/identity/v3/projects?name=demo')).body.projects[0];
    const created = await a.api('POST', '/identity/v3/users', { user: { name: 'erin', password: 'erin-Secret-99', default_project_id: demo.id } });
    assert.equal(created.status, 201);
    assert.equal((await a.api('PUT', `/identity/v3/projects/${demo.id}/users/${created.body.user.id}/roles/member`)).status, 204);
    const token = (await tokenFor(a.url, 'erin', 'erin-Secret-99', 'demo')).token!;
    assert.equal(await statusWith(a.url, token), 200);
    assert.equal(await statusWith(b.url, token), 200);
    const disabled = await b.api('PATCH', `/identity/v3/users/${created.body.user.id}`, { user: { enabled: false } });
    assert.equal(disabled.status, 200);
    assert.equal(disabled.body.user.enabled, false);
    assert.equal(await statusWith(a.url, token), 401);
    // Removing a role through A ends a token at B.
    assert.equal((await b.api('PATCH', `/identity/v3/users/${created.body.user.id}`, { user: { enabled: true } })).status, 200);
    const second = (await tokenFor(b.url, 'erin', 'erin-Secret-99', 'demo')).token!;
    assert.equal(await statusWith(b.url, second), 200);
    assert.equal((await a.api('DELETE', `/identity/v3/projects/${demo.id}/users/${created.body.user.id}/roles/member`)).status, 204);
    assert.equal(await statusWith(b.url, second), 401);
  });
});
