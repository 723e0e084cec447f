/**
 * Issue 16, item 5, as docs/agent.md deploys it: the controller serves HTTPS
 * (--tls-cert/--tls-key), a host's agent checks it (--ca-file) and logs in
 * with its own per-host credential (agent-credential create HOST), which may
 * act for no other host.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { Agent } from 'undici';
import { startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { startAgentProcess, type AgentProcess } from './remoteAgentProcess.js';

const MAIN = join(resolve(import.meta.dirname, '../../..'), 'dist/src/cli/main.js');
const LIMIT = { timeout: 240_000 };

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: 90_000 }, (err, stdout, stderr) => {
      res({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('HTTPS controller, per-host agent credential, agent --ca-file', { timeout: 600_000 }, () => {
  let aio: AllInOneProcess;
  let agent: AgentProcess | undefined;
  let httpsUrl: string;
  let cert: string;
  let dir: string;

  before(async () => {
    // A throwaway certificate for 127.0.0.1.
    dir = await mkdtemp(join(tmpdir(), 'vdpa-tls-'));
    cert = join(dir, 'controller.crt');
    const key = join(dir, 'controller.key');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    aio = await startAllInOneProcess({ hosts: [vdpaHost('compute-0')], args: ['--tls-cert', cert, '--tls-key', key] });
    httpsUrl = aio.url.replace(/^http:/, 'https:');
  });
  after(async () => {
    await agent?.stop();
    await aio?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('the controller answers HTTPS with its certificate, and the openstack client trusts it through clouds.yaml', LIMIT, async () => {
    const trusted = new Agent({ connect: { ca: readFileSync(cert, 'utf8') } });
    const r = await fetch(`${httpsUrl}/identity/v3`, { dispatcher: trusted } as RequestInit);
    assert.equal(r.status, 200);
    await assert.rejects(fetch(`${httpsUrl}/identity/v3`), 'an unknown CA is refused');
    const list = await aio.openstack(['compute', 'service', 'list', '-f', 'json']);
    assert.equal(list.code, 0, list.stderr);
  });

  test('an agent with --ca-file and a per-host credential registers its host; the credential gets 403 for another host', LIMIT, async () => {
    const made = await cli(['agent-credential', 'create', 'compute-2', '--data-dir', aio.dataDir]);
    assert.equal(made.code, 0, made.stderr);
    const credFile = join(aio.dataDir, 'compute-2.credentials.json');
    await writeFile(credFile, made.stdout, { mode: 0o600 });
    const inventory = join(aio.dataDir, 'compute-2.yaml');
    await writeFile(inventory, stringify(vdpaHost('compute-2')));
    agent = startAgentProcess(['--driver', 'simulated', '--inventory', inventory, '--controller', httpsUrl, '--ca-file', cert,
      '--credentials', credFile, '--heartbeat-seconds', '1'], {});
    await agent.waitFor('compute agent running', 90_000);
    // Registered over HTTPS: the service shows up (polled: the first heartbeat may still be on its way on a busy machine).
    let services: any[] = [];
    for (let until = Date.now() + 60_000; Date.now() < until; await new Promise((r) => setTimeout(r, 1000))) {
      services = await aio.openstackJson<any[]>(['compute', 'service', 'list']);
      if (services.find((s) => s.Host === 'compute-2')?.State === 'up') break;
    }
    assert.equal(services.find((s) => s.Host === 'compute-2')?.State, 'up', `${JSON.stringify(services)}\n${agent.output()}`);

    const cred = JSON.parse(made.stdout);
    const ca = new Agent({ connect: { ca: readFileSync(cert, 'utf8') } });
    const login = await fetch(`${httpsUrl}/identity/v3/auth/tokens`, {
      dispatcher: ca, method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ auth: {
        identity: { methods: ['password'], password: { user: { name: cred.username, domain: { name: 'Default' }, password: cred.password } } },
        scope: { project: { name: cred.project_name, domain: { name: 'Default' } } },
      } }),
    } as RequestInit);
    assert.equal(login.status, 201);
    const token = login.headers.get('x-subject-token')!;
    const other = await fetch(`${httpsUrl}/agent/v1/hosts/compute-0/guests`, { dispatcher: ca, headers: { 'x-auth-token': token } } as RequestInit);
    assert.equal(other.status, 403);
  });
});
