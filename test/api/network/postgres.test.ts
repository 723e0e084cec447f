import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withPostgresDatabase } from '../../helpers/testController.js';
import { startNetworkHarness } from './harness.js';

test('on PostgreSQL: port CRUD over HTTP, and concurrent creations get distinct MACs and addresses', { timeout: 300_000 }, async () => {
  await withPostgresDatabase(async (databaseUrl) => {
    const h = await startNetworkHarness({ databaseUrl });
    try {
      assert.equal(h.ctx.store.backend, 'postgres');
      const created = await h.call('demo', 'POST', '/network/v2.0/ports',
        { port: { network_id: h.sharedNetworkId, name: 'pg-port', 'binding:vnic_type': 'vdpa' } });
      assert.equal(created.status, 201);
      const id = created.body.port.id;
      assert.equal((await h.call('demo', 'GET', `/network/v2.0/ports/${id}`)).body.port['binding:vnic_type'], 'vdpa');
      const renamed = await h.call('demo', 'PUT', `/network/v2.0/ports/${id}`, { port: { name: 'pg-port-2' } });
      assert.equal(renamed.body.port.name, 'pg-port-2');
      assert.deepEqual((await h.call('demo', 'GET', '/network/v2.0/ports?name=pg-port-2')).body.ports.map((p: any) => p.id), [id]);
      const bad = await h.call('demo', 'POST', '/network/v2.0/ports', { port: { network_id: h.sharedNetworkId, 'binding:vnic_type': 'x' } });
      assert.equal(bad.status, 400);
      assert.equal((await h.call('demo', 'DELETE', `/network/v2.0/ports/${id}`)).status, 204);

      const many = await Promise.all(Array.from({ length: 30 }, (_, i) => h.call(i % 2 ? 'demo' : 'admin', 'POST', '/network/v2.0/ports',
        { port: { network_id: h.sharedNetworkId, name: `burst-${i}`, 'binding:vnic_type': 'vdpa' } })));
      assert.deepEqual(many.map((r) => r.status), many.map(() => 201));
      assert.equal(new Set(many.map((r) => r.body.port.mac_address)).size, 30);
      assert.equal(new Set(many.map((r) => r.body.port.fixed_ips[0].ip_address)).size, 30);
    } finally {
      await h.close();
    }
  });
});
