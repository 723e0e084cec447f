/**
 * `vdpa-compute serve --public-url`: replicas behind a load balancer advertise
 * the balancer, in the identity catalog and in clouds.yaml, while they listen
 * on their own address; a value that is not an http(s) URL stops the start.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { startAllInOneProcess, type AllInOneProcess } from '../helpers/allInOneProcess.js';

const MAIN = join(resolve(import.meta.dirname, '../../..'), 'dist/src/cli/main.js');
const PUBLIC = 'https://compute.example.test:8443';

function serve(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [MAIN, 'serve', '--no-simulated-hosts', '--port', '0', '--data-dir', '/nonexistent/never-created', ...args],
      { env: { ...process.env, ...env }, timeout: 30_000 }, (err, _stdout, stderr) => {
        res({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stderr: String(stderr) });
      });
  });
}

describe('serve --public-url', () => {
  let aio: AllInOneProcess;
  before(async () => {
    aio = await startAllInOneProcess({ args: ['--no-simulated-hosts', '--public-url', `${PUBLIC}/`] });
  });
  after(async () => {
    await aio?.stop();
  });

  test('the token\'s catalog and clouds.yaml advertise the public URL; the API still answers on the listen address', { timeout: 300_000 }, async () => {
    const clouds = parse(await readFile(join(aio.dataDir, 'clouds.yaml'), 'utf8')) as { clouds: Record<string, { auth: Record<string, string> }> };
    const admin = clouds.clouds['vdpa-compute']!.auth;
    assert.equal(admin.auth_url, `${PUBLIC}/identity/v3`);
    assert.equal(clouds.clouds['vdpa-compute-demo']!.auth.auth_url, `${PUBLIC}/identity/v3`);

    const res = await fetch(`${aio.url}/identity/v3/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ auth: {
        identity: { methods: ['password'], password: { user: { name: 'admin', domain: { name: 'Default' }, password: admin.password } } },
        scope: { project: { name: 'admin', domain: { name: 'Default' } } },
      } }),
    });
    assert.equal(res.status, 201);
    const catalog = ((await res.json()) as any).token.catalog as Array<{ type: string; endpoints: Array<{ url: string }> }>;
    assert.ok(catalog.length >= 4);
    const urls = catalog.flatMap((s) => s.endpoints.map((e) => e.url));
    for (const url of urls) assert.ok(url.startsWith(`${PUBLIC}/`), url);
    assert.ok(urls.includes(`${PUBLIC}/compute/v2.1`), urls.join(' '));
  });

  test('a value that is not an http(s) URL stops the start with a message naming it (flag and env)', { timeout: 300_000 }, async () => {
    const [flag, env] = await Promise.all([serve(['--public-url', 'ftp://lb.example.test']), serve([], { VDPA_PUBLIC_URL: 'lb.example.test' })]);
    assert.notEqual(flag.code, 0);
    assert.match(flag.stderr, /--public-url: "ftp:\/\/lb\.example\.test" must be an http:\/\/ or https:\/\/ URL/);
    assert.notEqual(env.code, 0);
    assert.match(env.stderr, /VDPA_PUBLIC_URL: "lb\.example\.test" is not a URL/);
  });
});
