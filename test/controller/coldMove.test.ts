import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { devicesOfConsumer } from '../../src/storage/repositories/pciDevices.js';
import { listMigrations } from '../../src/storage/repositories/migrations.js';
import { boot, free, HOSTS, rigOn, until, waitStatus, type Rig } from '../helpers/simulatedRig.js';
import { kysely, asUnit } from '../helpers/storageAccess.js';

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`cold move edge cases (${backend})`, () => {
    let rig: Rig;
    const lifetime = rigOn(backend);
    before(async () => { rig = await lifetime.start(); });
    after(() => lifetime.stop());

    test('two migrate requests at once: one is accepted, the other gets 409, one record', { timeout: 120_000 }, async () => {
      const s = await boot(rig, 'race-vm');
      const [a, b] = await Promise.all([
        rig.api('POST', `/compute/v2.1/servers/${s.id}/action`, { migrate: null }),
        rig.api('POST', `/compute/v2.1/servers/${s.id}/action`, { migrate: null }),
      ]);
      assert.deepEqual([a.status, b.status].sort(), [202, 409]);
      await waitStatus(rig, s.id, ['VERIFY_RESIZE']);
      const records = await listMigrations(rig.tc.ctx.store.reader, { instanceUuid: s.id });
      assert.equal(records.length, 1);
      // In VERIFY_RESIZE the source VF belongs to the migration, the destination VF to the server.
      const bySource = await devicesOfConsumer(rig.tc.ctx.store.reader, records[0]!.uuid);
      assert.deepEqual(bySource.map((d) => d.host), [s.host]);
      const byServer = await devicesOfConsumer(rig.tc.ctx.store.reader, s.id);
      assert.deepEqual(byServer.map((d) => d.host), [records[0]!.dest_compute]);
      assert.equal((await rig.api('POST', `/compute/v2.1/servers/${s.id}/action`, { confirmResize: null })).status, 204);
      assert.equal((await rig.api('POST', `/compute/v2.1/servers/${s.id}/action`, { confirmResize: null })).status, 409);
      assert.deepEqual(await devicesOfConsumer(rig.tc.ctx.store.reader, records[0]!.uuid), []);
      await rig.api('DELETE', `/compute/v2.1/servers/${s.id}`);
      await until('deleted', async () => (await rig.api('GET', `/compute/v2.1/servers/${s.id}`)).status === 404);
    });

    test('the destination guest fails to start: ERROR, destination freed, the source claims and binding back', { timeout: 120_000 }, async () => {
      const s = await boot(rig, 'fail-vm');
      const dest = HOSTS.find((h) => h !== s.host)!;
      const port = async () => (await rig.api('GET', `/network/v2.0/ports/${s.portId}`)).body.port;
      const before = await port();
      rig.failOn.add(dest);
      try {
        assert.equal((await rig.api('POST', `/compute/v2.1/servers/${s.id}/action`, { migrate: null })).status, 202);
        const failed = await waitStatus(rig, s.id, ['ERROR', 'VERIFY_RESIZE']);
        assert.equal(failed.status, 'ERROR');
        assert.match(failed.fault.message, /qemu unexpectedly closed the monitor/);
        assert.equal(failed['OS-EXT-SRV-ATTR:host'], s.host);
      } finally {
        rig.failOn.delete(dest);
      }
      assert.equal(await free(rig, dest), 5);
      assert.equal(await free(rig, s.host), 3);
      const after = await port();
      assert.equal(after['binding:host_id'], s.host);
      assert.deepEqual(after['binding:profile'], before['binding:profile']);
      const [m] = await listMigrations(rig.tc.ctx.store.reader, { instanceUuid: s.id });
      assert.equal(m!.status, 'error');
      const held = await devicesOfConsumer(rig.tc.ctx.store.reader, s.id);
      assert.deepEqual(held.map((d) => [d.host, d.address]), [[s.host, before['binding:profile'].pci_slot]]);
      await rig.api('DELETE', `/compute/v2.1/servers/${s.id}`);
      await until('deleted', async () => (await rig.api('GET', `/compute/v2.1/servers/${s.id}`)).status === 404);
      await until('all free', async () => (await free(rig, s.host)) === 5);
    });

    test('a stopped server moves stopped: VERIFY_RESIZE powered off, revert leaves it SHUTOFF on its source', { timeout: 120_000 }, async () => {
      const s = await boot(rig, 'stopped-vm');
      const stop = await rig.api('POST', `/compute/v2.1/servers/${s.id}/action`, { 'os-stop': null });
      assert.equal(stop.status, 202, JSON.stringify(stop.body));
      await waitStatus(rig, s.id, ['SHUTOFF']);
      assert.equal((await rig.api('POST', `/compute/v2.1/servers/${s.id}/action`, { migrate: null })).status, 202);
      const moved = await waitStatus(rig, s.id, ['VERIFY_RESIZE', 'ERROR']);
      assert.equal(moved.status, 'VERIFY_RESIZE');
      assert.equal(moved['OS-EXT-STS:power_state'], 4);
      const dest = moved['OS-EXT-SRV-ATTR:host'];
      assert.notEqual(dest, s.host);
      assert.equal((await rig.drivers.get(dest)!.status(s.id))?.state, 'shutoff');
      assert.equal((await rig.api('POST', `/compute/v2.1/servers/${s.id}/action`, { revertResize: null })).status, 202);
      const back = await waitStatus(rig, s.id, ['SHUTOFF', 'ERROR', 'ACTIVE']);
      assert.equal(back.status, 'SHUTOFF');
      assert.equal(back['OS-EXT-SRV-ATTR:host'], s.host);
      assert.equal(await free(rig, dest), 5);
      assert.equal(await free(rig, s.host), 3);
      await until('the destination guest removed', async () => (await rig.drivers.get(dest)!.status(s.id)) === null);
    });
  });
}
