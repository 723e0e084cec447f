/**
 * Issue 16, item 5: `vdpa-compute agent-credential create HOST` makes a
 * credential that may act for HOST only on the agent API; the shared
 * compute-agent credential still acts for every host.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { sendJson } from '../helpers/apiClient.js';
import { startTestController, type TestController } from '../helpers/testController.js';

const MAIN = join(resolve(import.meta.dirname, '../../..'), 'dist/src/cli/main.js');
const LIMIT = { timeout: 60_000 };

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      res({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function tokenOf(url: string, cred: { username: string; password: string; project_name: string }): Promise<string> {
  const r = await fetch(`${url}/identity/v3/auth/tokens`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ auth: {
      identity: { methods: ['password'], password: { user: { name: cred.username, domain: { name: 'Default' }, password: cred.password } } },
      scope: { project: { name: cred.project_name, domain: { name: 'Default' } } },
    } }),
  });
  assert.equal(r.status, 201, await r.text());
  return r.headers.get('x-subject-token')!;
}

describe('per-host agent credentials', { timeout: 120_000 }, () => {
  let c: TestController;
  before(async () => { c = await startTestController(); });
  after(async () => { await c?.close(); });

  const guests = async (host: string, token: string) => (await sendJson('GET', `${c.url}/agent/v1/hosts/${host}/guests`, token)).status;

  test('agent-credential create HOST prints {username, password, project_name}; it acts for HOST only (403 elsewhere)', LIMIT, async () => {
    const db = join(c.dataDir, 'controller.sqlite');
    const made = await cli(['agent-credential', 'create', 'compute-7', '--database-url', db]);
    assert.equal(made.code, 0, made.stderr);
    const cred = JSON.parse(made.stdout);
    assert.deepEqual(Object.keys(cred).sort(), ['password', 'project_name', 'username']);
    assert.equal(cred.username, 'compute-agent-compute-7');
    assert.equal(cred.project_name, 'service');
    const token = await tokenOf(c.url, cred);
    assert.equal(await guests('compute-7', token), 200);
    const other = await sendJson('GET', `${c.url}/agent/v1/hosts/compute-8/guests`, token);
    assert.equal(other.status, 403);
    assert.match((await other.json()).forbidden.message, /acts for host compute-7 only/);
    const heartbeat = await sendJson('POST', `${c.url}/agent/v1/hosts/compute-8/heartbeat`, token);
    assert.equal(heartbeat.status, 403);
    const report = await sendJson('PUT', `${c.url}/agent/v1/hosts/compute-8/inventory`, token, { host: 'compute-8' });
    assert.equal(report.status, 403);
    // Not an admin anywhere else either.
    assert.equal((await sendJson('GET', `${c.url}/compute/v2.1/os-hypervisors`, token)).status, 403);

    // Created again: a new password, and the old one's tokens end.
    const renewed = JSON.parse((await cli(['agent-credential', 'create', 'compute-7', '--database-url', db])).stdout);
    assert.notEqual(renewed.password, cred.password);
    assert.equal(await guests('compute-7', token), 401);
    assert.equal(await guests('compute-7', await tokenOf(c.url, renewed)), 200);
  });

  test('the shared compute-agent credential still acts for every host (lab convenience)', LIMIT, async () => {
    const token = await tokenOf(c.url, { username: 'compute-agent', password: c.agentPassword, project_name: 'service' });
    assert.equal(await guests('compute-7', token), 200);
    assert.equal(await guests('compute-8', token), 200);
  });

  test('no database, or a bad host name: exit 1 with a message', LIMIT, async () => {
    const missing = await cli(['agent-credential', 'create', 'compute-7', '--data-dir', join(c.dataDir, 'nowhere')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no database at/);
    const bad = await cli(['agent-credential', 'create', '../x', '--database-url', join(c.dataDir, 'controller.sqlite')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Invalid host name/);
  });
});
