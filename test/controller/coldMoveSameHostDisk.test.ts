/**
 * A resize to the same host tells the host's agent what to do with the disk
 * it keeps aside (spec.resizeBackup, domain/guest/resizeBackup.ts): named on
 * every instruction from the old definition's removal until confirm, taken
 * off the guest's spec at confirm (and the agent given that), asked back at
 * revert and when the resize fails there. Simulated hosts (they
 * keep no disk); the real disks are test/e2e/libvirtGuestMoves.test.ts's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { getGuest, guestSpecOf } from '../../src/storage/repositories/guests.js';
import { listMigrations } from '../../src/storage/repositories/migrations.js';
import { serverQueueOf } from '../../src/controller/operations/serverQueue.js';
import { HOSTS, boot, rigOn, until, waitStatus, type Rig } from '../helpers/simulatedRig.js';

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`same-host resize: the kept disk in the host's instructions (${backend})`, () => {
    let rig: Rig;
    const lifetime = rigOn(backend);
    before(async () => {
      rig = await lifetime.start();
      rig.tc.ctx.config.allow_resize_to_same_host = true;
      // One host to resize on: the other is disabled.
      const off = await rig.api('PUT', '/compute/v2.1/os-services/disable', { host: HOSTS[1], binary: 'nova-compute' });
      assert.equal(off.status, 200, JSON.stringify(off.body));
    });
    after(() => lifetime.stop());

    const guest = async (id: string, host: string) => (await getGuest(rig.tc.ctx.store.reader, id, host))!;
    const migrationOf = async (id: string) => (await listMigrations(rig.tc.ctx.store.reader, { instanceUuid: id }))[0]!;
    const resize = async (id: string, flavorRef: string) => {
      const r = await rig.api('POST', `/compute/v2.1/servers/${id}/action`, { resize: { flavorRef } });
      assert.equal(r.status, 202, JSON.stringify(r.body));
    };

    test('VERIFY_RESIZE names the backup; confirm takes it off the spec, the state unchanged, and the host applies that', { timeout: 60_000 }, async () => {
      const s = await boot(rig, 'keep-vm');
      assert.equal(s.host, HOSTS[0]);
      await resize(s.id, '2');
      const resized = await waitStatus(rig, s.id, ['VERIFY_RESIZE', 'ERROR']);
      assert.equal(resized.status, 'VERIFY_RESIZE', JSON.stringify(resized.fault));
      const m = await migrationOf(s.id);
      assert.equal(m.dest_compute, s.host);
      assert.deepEqual(guestSpecOf(await guest(s.id, s.host)).resizeBackup, { migrationId: m.uuid });

      assert.equal((await rig.api('POST', `/compute/v2.1/servers/${s.id}/action`, { confirmResize: null })).status, 204);
      const confirmed = await guest(s.id, s.host);
      assert.equal(guestSpecOf(confirmed).resizeBackup, undefined);
      assert.equal(confirmed.desired_state, 'running');
      assert.equal(guestSpecOf(confirmed).memoryMb, 2048, 'the new flavor');
      await until('the host to apply the confirmed spec', async () => {
        const g = await guest(s.id, s.host);
        return g.observed_generation === g.generation && g.observed_state === 'running';
      });
      assert.equal((await waitStatus(rig, s.id, ['ACTIVE'])).status, 'ACTIVE');
    });

    test('revert asks for the backup back once the new definition is gone; the old definition then names none', { timeout: 60_000 }, async () => {
      const s = await boot(rig, 'revert-vm');
      await resize(s.id, '2');
      assert.equal((await waitStatus(rig, s.id, ['VERIFY_RESIZE', 'ERROR'])).status, 'VERIFY_RESIZE');
      const m = await migrationOf(s.id);
      // The host waits, so the revert's first instruction stays to be read.
      const agent = rig.agents[HOSTS.indexOf(s.host)]!;
      await agent.stop();
      assert.equal((await rig.api('POST', `/compute/v2.1/servers/${s.id}/action`, { revertResize: null })).status, 202);
      const removal = await guest(s.id, s.host);
      assert.equal(removal.desired_state, 'absent');
      assert.deepEqual([guestSpecOf(removal).keepDisks, guestSpecOf(removal).resizeBackup], [true, { migrationId: m.uuid, restore: true }]);
      await agent.start();
      const back = await waitStatus(rig, s.id, ['ACTIVE', 'ERROR']);
      assert.equal(back.status, 'ACTIVE', JSON.stringify(back.fault));
      const reverted = guestSpecOf(await guest(s.id, s.host));
      assert.equal(reverted.resizeBackup, undefined);
      assert.equal(reverted.memoryMb, 512, 'the old flavor');
    });

    test('the resize fails on the host (its step past the deadline): ERROR, and the disk is asked back as it was before the resize', { timeout: 60_000 }, async () => {
      const s = await boot(rig, 'fail-vm');
      const agent = rig.agents[HOSTS.indexOf(s.host)]!;
      // The host does nothing meanwhile, so the instruction the failure gives it stays to be read.
      await agent.stop();
      const timeout = rig.tc.ctx.config.operation_timeout;
      rig.tc.ctx.config.operation_timeout = 1;
      try {
        await resize(s.id, '2');
        await until('the move placed', async () => (await migrationOf(s.id))?.status === 'migrating');
        await new Promise((r) => setTimeout(r, 1_100));
        serverQueueOf(rig.tc.ctx).enqueue(s.id);
        const failed = await waitStatus(rig, s.id, ['ERROR']);
        assert.match(failed.fault.message, /Timed out after 1 s in task_state resize_migrating/);
      } finally {
        rig.tc.ctx.config.operation_timeout = timeout;
      }
      const m = await migrationOf(s.id);
      assert.equal(m.status, 'error');
      const g = await guest(s.id, s.host);
      assert.equal(g.desired_state, 'absent');
      assert.deepEqual(guestSpecOf(g).resizeBackup, { migrationId: m.uuid, restore: true });
      assert.equal(guestSpecOf(g).keepDisks, true);
      assert.equal(guestSpecOf(g).memoryMb, 512, 'the old flavor, whose disk comes back');
      // The host back: it carries the instruction out and reports; the row of the guest it removed goes.
      await agent.start();
      await until('the host to carry it out', async () => (await getGuest(rig.tc.ctx.store.reader, s.id, s.host)) === undefined);
    });
  });
}
