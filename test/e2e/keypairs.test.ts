import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { stat, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startAllInOneProcess, type AllInOneProcess } from '../helpers/allInOneProcess.js';

const run = promisify(execFile);

/** An environment with no OS_* of whoever runs the tests. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OS_')) env[k] = v;
  return env;
}

/** The MD5 fingerprint ssh-keygen computes, as Nova shows it (without the "MD5:" prefix). */
async function md5Fingerprint(publicKeyFile: string): Promise<string> {
  const { stdout } = await run('ssh-keygen', ['-l', '-E', 'md5', '-f', publicKeyFile]);
  return /MD5:([0-9a-f:]+)/.exec(stdout)![1]!;
}

describe('key pairs (os-keypairs) and the nova client through openrc', { timeout: 300_000 }, () => {
  let aio: AllInOneProcess;
  before(async () => { aio = await startAllInOneProcess(); });
  after(async () => { await aio?.stop(); });

  test('openrc and openrc-demo sit beside clouds.yaml, mode 0600, and `. openrc && nova list` works', { timeout: 300_000 }, async () => {
    for (const name of ['openrc', 'openrc-demo']) {
      assert.equal((await stat(join(aio.dataDir, name))).mode & 0o777, 0o600);
    }
    const rc = await readFile(join(aio.dataDir, 'openrc-demo'), 'utf8');
    assert.match(rc, /^export OS_USERNAME=demo$/m);
    assert.match(rc, new RegExp(`^export OS_AUTH_URL=${aio.url}/identity/v3$`, 'm'));
    for (const name of ['openrc', 'openrc-demo']) {
      const { stdout, stderr } = await run('bash', ['-c', `. ${join(aio.dataDir, name)} && nova list && nova keypair-list`], { env: cleanEnv(), timeout: 60_000 });
      assert.match(stdout, /\| ID +\| Name +\| Status/, stderr);
    }
  });

  test('create generates a key pair and prints the private key once; its fingerprint is the MD5 of the public key', { timeout: 300_000 }, async () => {
    const created = await aio.openstack(['keypair', 'create', 'gen-key'], { user: 'demo' });
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^-----BEGIN RSA PRIVATE KEY-----\n[\s\S]+-----END RSA PRIVATE KEY-----\s*$/);
    const keyFile = join(aio.dataDir, 'gen-key.pem');
    await writeFile(keyFile, created.stdout.trim() + '\n', { mode: 0o600 });
    const { stdout: publicKey } = await run('ssh-keygen', ['-y', '-f', keyFile]);
    await writeFile(`${keyFile}.pub`, publicKey);
    const shown = await aio.openstackJson(['keypair', 'show', 'gen-key'], { user: 'demo' });
    assert.equal(shown.fingerprint, await md5Fingerprint(`${keyFile}.pub`));
    assert.equal(shown.type, 'ssh');
    assert.equal(shown.private_key, null);
    const bare = await aio.openstack(['keypair', 'show', '--public-key', 'gen-key'], { user: 'demo' });
    assert.equal(bare.stdout.split(' ').slice(0, 2).join(' '), publicKey.trim().split(' ').slice(0, 2).join(' '));
  });

  test('create --public-key imports an ed25519 key; list, a duplicate (409), delete', { timeout: 300_000 }, async () => {
    const keyFile = join(aio.dataDir, 'ed');
    await run('ssh-keygen', ['-t', 'ed25519', '-N', '', '-q', '-f', keyFile]);
    const imported = await aio.openstackJson(['keypair', 'create', '--public-key', `${keyFile}.pub`, 'ed-key'], { user: 'demo' });
    assert.equal(imported.fingerprint, await md5Fingerprint(`${keyFile}.pub`));
    const again = await aio.openstack(['keypair', 'create', '--public-key', `${keyFile}.pub`, 'ed-key'], { user: 'demo' });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /ConflictException: 409: .*Key pair 'ed-key' already exists\./);
    const list = await aio.openstackJson(['keypair', 'list'], { user: 'demo' });
    assert.deepEqual(list.map((k: { Name: string }) => k.Name).sort(), ['ed-key', 'gen-key']);
    const bad = join(aio.dataDir, 'bad.pub');
    await writeFile(bad, 'ssh-rsa not-a-key\n');
    const refused = await aio.openstack(['keypair', 'create', '--public-key', bad, 'bad-key'], { user: 'demo' });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /BadRequestException: 400: .*Keypair data is invalid: failed to generate fingerprint/);
    assert.equal((await aio.openstack(['keypair', 'delete', 'ed-key'], { user: 'demo' })).code, 0);
    const gone = await aio.openstack(['keypair', 'show', 'ed-key'], { user: 'demo' });
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /No Keypair found for ed-key/);
  });

  test("key pairs are per user: another user's is not found, naming its user is admin only", { timeout: 300_000 }, async () => {
    const asAdmin = await aio.openstack(['keypair', 'show', 'gen-key']);
    assert.equal(asAdmin.code, 1);
    assert.match(asAdmin.stderr, /No Keypair found for gen-key/);
    const demoId = (await aio.openstackJson(['keypair', 'show', 'gen-key'], { user: 'demo' })).user_id;
    const adminView = await aio.openstackJson(['--os-compute-api-version', '2.10', 'keypair', 'list', '--user', demoId]);
    assert.deepEqual(adminView.map((k: { Name: string }) => k.Name), ['gen-key']);
    const adminId = (await aio.api('GET', '/identity/v3/auth/tokens', undefined, { headers: { 'x-subject-token': await aio.token('admin') } })).body.token.user.id;
    const member = await aio.api('GET', `/compute/v2.1/os-keypairs?user_id=${adminId}`, undefined, { user: 'demo', headers: { 'openstack-api-version': 'compute 2.10' } });
    assert.equal(member.status, 403);
    assert.equal(member.body.forbidden.message, "Policy doesn't allow os_compute_api:os-keypairs:index to be performed.");
    // Below 2.10 user_id is not a filter: the caller's own key pairs.
    const old = await aio.api('GET', `/compute/v2.1/os-keypairs?user_id=${adminId}`, undefined, { user: 'demo' });
    assert.equal(old.status, 200);
    assert.deepEqual(old.body.keypairs.map((k: { keypair: { name: string } }) => k.keypair.name), ['gen-key']);
    // 2.92: generation is gone, public_key is required.
    const v292 = await aio.api('POST', '/compute/v2.1/os-keypairs', { keypair: { name: 'x' } }, { user: 'demo', headers: { 'openstack-api-version': 'compute 2.92' } });
    assert.equal(v292.status, 400);
  });

  test('server create --key-name records the key name (server show key_name); an unknown name is a 400', { timeout: 300_000 }, async () => {
    const port = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', 'key-port'], { user: 'demo' });
    const server = await aio.openstackJson(['server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros', '--port', port.id, '--key-name', 'gen-key', 'key-vm'], { user: 'demo' });
    assert.equal((await aio.waitForServer(server.id, ['ACTIVE'])).key_name, 'gen-key');
    assert.equal((await aio.openstackJson(['server', 'show', 'key-vm'], { user: 'demo' })).key_name, 'gen-key');
    const unknown = await aio.openstack(['server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros', '--key-name', 'nope', 'nokey-vm'], { user: 'demo' });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /Invalid key_name provided\. \(HTTP 400\)/);
    // Another user's key pair is not the caller's.
    const foreign = await aio.openstack(['server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros', '--key-name', 'gen-key', 'admin-vm']);
    assert.equal(foreign.code, 1);
    assert.match(foreign.stderr, /Invalid key_name provided\. \(HTTP 400\)/);
  });

  test('the key_pairs quota: past the limit a create is 403 "Quota exceeded, too many key pairs." and adds nothing', { timeout: 300_000 }, async () => {
    const demo = await aio.openstackJson<{ id: string }>(['project', 'show', 'demo']);
    const set = await aio.api('PUT', `/compute/v2.1/os-quota-sets/${demo.id}`, { quota_set: { key_pairs: 1 } });
    assert.equal(set.status, 200);
    const before = (await aio.api('GET', '/compute/v2.1/os-keypairs', undefined, { user: 'demo' })).body.keypairs.length;
    for (let i = 0; i < before; i++) {
      const name = (await aio.api('GET', '/compute/v2.1/os-keypairs', undefined, { user: 'demo' })).body.keypairs[0].keypair.name;
      assert.equal((await aio.api('DELETE', `/compute/v2.1/os-keypairs/${name}`, undefined, { user: 'demo' })).status, 202);
    }
    const first = await aio.openstack(['keypair', 'create', 'quota-k1'], { user: 'demo' });
    assert.equal(first.code, 0, first.stderr);
    const second = await aio.openstack(['keypair', 'create', 'quota-k2'], { user: 'demo' });
    assert.equal(second.code, 1);
    assert.match(second.stderr, /403: Client Error for url: .*\/os-keypairs, Quota exceeded, too many key pairs\./);
    const names = (await aio.api('GET', '/compute/v2.1/os-keypairs', undefined, { user: 'demo' })).body.keypairs.map((k: any) => k.keypair.name);
    assert.deepEqual(names, ['quota-k1']);
  });
});
