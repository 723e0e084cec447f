import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { bootstrap } from '../../src/controller/bootstrap.js';
import { verifyPassword } from '../../src/controller/services/passwords.js';
import { startTestController, withPostgresDatabase, type TestController } from '../helpers/testController.js';
import { kysely } from '../helpers/storageAccess.js';

/** Everything bootstrap creates, in a form that can be compared across runs. */
async function snapshot(c: TestController) {
  const db = kysely(c.ctx.store);
  return {
    projects: await db.selectFrom('projects').select(['id', 'name']).orderBy('name').execute(),
    users: await db.selectFrom('users').select(['id', 'name', 'default_project_id']).orderBy('name').execute(),
    roles: await db.selectFrom('role_assignments').selectAll().orderBy('user_id').orderBy('role').execute(),
    settings: await db.selectFrom('settings').selectAll().orderBy('key').execute(),
    flavors: await db.selectFrom('flavors').select(['id', 'name', 'vcpus', 'ram', 'disk', 'is_public']).orderBy('id').execute(),
    images: await db.selectFrom('images').select(['id', 'name', 'status', 'visibility', 'disk_format', 'container_format', 'size']).execute(),
    networks: await db.selectFrom('networks')
      .select(['id', 'name', 'shared', 'physical_network', 'network_type', 'segmentation_id', 'mtu']).execute(),
    subnets: await db.selectFrom('subnets').select(['id', 'name', 'network_id', 'cidr', 'ip_version', 'gateway_ip']).execute(),
  };
}

async function checkBootstrap(c: TestController): Promise<void> {
  const first = await snapshot(c);
  assert.deepEqual(first.projects.map((p) => p.name), ['admin', 'demo', 'service']);
  assert.deepEqual(first.users.map((u) => u.name), ['admin', 'compute-agent', 'demo']);
  const roleOf = (user: string) => {
    const u = first.users.find((x) => x.name === user)!;
    return first.roles.filter((r) => r.user_id === u.id)
      .map((r) => [first.projects.find((p) => p.id === r.project_id)!.name, r.role]);
  };
  assert.deepEqual(roleOf('admin'), [['admin', 'admin']]);
  assert.deepEqual(roleOf('demo'), [['demo', 'member']]);
  assert.deepEqual(roleOf('compute-agent'), [['service', 'service']]);
  assert.deepEqual(first.settings.map((s) => s.key), ['admin_password', 'agent_password', 'demo_password']);
  assert.deepEqual(first.flavors.map((f) => [f.id, f.name, f.vcpus, f.ram, f.disk]), [
    ['1', 'm1.tiny', 1, 512, 1], ['2', 'm1.small', 1, 2048, 20], ['3', 'm1.medium', 2, 4096, 40],
    ['4', 'm1.large', 4, 8192, 80], ['5', 'm1.xlarge', 8, 16384, 160],
  ]);
  assert.deepEqual(first.images.map((i) => [i.name, i.status, i.visibility, i.disk_format, i.container_format, Number(i.size)]),
    [['cirros', 'active', 'public', 'qcow2', 'bare', 16338944]]);
  assert.deepEqual(first.networks.map((n) => [n.name, n.shared, n.physical_network, n.network_type, n.segmentation_id, n.mtu]),
    [['vdpa-net', 1, 'physnet0', 'vlan', 100, 1500]]);
  assert.deepEqual(first.subnets.map((s) => [s.name, s.network_id, s.cidr, s.ip_version, s.gateway_ip]),
    [['vdpa-subnet', first.networks[0]!.id, '10.0.0.0/24', 4, '10.0.0.1']]);

  // A second start changes nothing and hands back the same passwords.
  const again = await bootstrap(c.ctx, { dataDir: c.dataDir, publicUrl: c.url });
  assert.equal(again.adminPassword, c.adminPassword);
  assert.equal(again.demoPassword, c.demoPassword);
  assert.equal(again.agentPassword, c.agentPassword);
  assert.deepEqual(await snapshot(c), first);
  await c.token('admin');
  await c.token('demo');
}

describe('bootstrap', () => {
  it('sets up an empty SQLite database once and is a no-op after', { timeout: 300_000 }, async () => {
    const c = await startTestController();
    try {
      await checkBootstrap(c);
    } finally {
      await c.close();
    }
  });

  it('sets up an empty PostgreSQL database once and is a no-op after', { timeout: 300_000 }, async () => {
    await withPostgresDatabase(async (databaseUrl) => {
      const c = await startTestController({ databaseUrl });
      try {
        assert.equal(c.ctx.store.backend, 'postgres');
        await checkBootstrap(c);
      } finally {
        await c.close();
      }
    });
  });

  it('stores passwords only as salted scrypt hashes', { timeout: 300_000 }, async () => {
    const c = await startTestController();
    try {
      const users = await kysely(c.ctx.store).selectFrom('users').select(['name', 'password_hash']).orderBy('name').execute();
      for (const u of users) assert.match(u.password_hash, /^scrypt\$\d+\$\d+\$\d+\$[\w-]+\$[\w-]+$/);
      const admin = users.find((u) => u.name === 'admin')!;
      assert.equal(await verifyPassword(c.adminPassword, admin.password_hash), true);
      assert.equal(await verifyPassword(`${c.adminPassword}x`, admin.password_hash), false);
    } finally {
      await c.close();
    }
  });

  it('takes a given admin password, also on a later start', { timeout: 300_000 }, async () => {
    const c = await startTestController();
    try {
      const res = await bootstrap(c.ctx, { dataDir: c.dataDir, publicUrl: c.url, adminPassword: 'chosen-by-operator' });
      assert.equal(res.adminPassword, 'chosen-by-operator');
      const admin = await kysely(c.ctx.store).selectFrom('users').select('password_hash').where('name', '=', 'admin').executeTakeFirstOrThrow();
      assert.equal(await verifyPassword('chosen-by-operator', admin.password_hash), true);
      const later = await bootstrap(c.ctx, { dataDir: c.dataDir, publicUrl: c.url });
      assert.equal(later.adminPassword, 'chosen-by-operator');
    } finally {
      await c.close();
    }
  });

  it('writes clouds.yaml (mode 0600) for both clouds and rewrites it with a new URL', { timeout: 300_000 }, async () => {
    const c = await startTestController();
    try {
      const path = join(c.dataDir, 'clouds.yaml');
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      const doc = parse(await readFile(path, 'utf8')) as { clouds: Record<string, { auth: Record<string, string>; identity_api_version: number; region_name: string }> };
      assert.deepEqual(Object.keys(doc.clouds).sort(), ['vdpa-compute', 'vdpa-compute-demo']);
      assert.deepEqual(doc.clouds['vdpa-compute'], {
        auth: {
          auth_url: `${c.url}/identity/v3`, username: 'admin', password: c.adminPassword, project_name: 'admin',
          user_domain_name: 'Default', project_domain_name: 'Default',
        },
        identity_api_version: 3,
        region_name: 'RegionOne',
      });
      assert.equal(doc.clouds['vdpa-compute-demo']!.auth.username, 'demo');
      assert.equal(doc.clouds['vdpa-compute-demo']!.auth.password, c.demoPassword);
      assert.equal(doc.clouds['vdpa-compute-demo']!.auth.project_name, 'demo');

      await bootstrap(c.ctx, { dataDir: c.dataDir, publicUrl: 'http://192.0.2.10:8774' });
      const moved = parse(await readFile(path, 'utf8')) as typeof doc;
      assert.equal(moved.clouds['vdpa-compute']!.auth.auth_url, 'http://192.0.2.10:8774/identity/v3');
    } finally {
      await c.close();
    }
  });
});
