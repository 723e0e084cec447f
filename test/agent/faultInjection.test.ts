/**
 * The inventory's faults on a simulated host: the driver in front of the
 * simulator fails with libvirt's internal-error code and changes nothing, and
 * a hung operation (on a real controller) holds only its own guest: the
 * agent's heartbeats and its work on other guests go on, and it still stops.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { VirtDriverError } from '../../src/agent/drivers/driver.js';
import { FaultInjectingDriver } from '../../src/agent/drivers/faultInjection.js';
import { LibvirtErrorCode, SimulatedDriver } from '../../src/agent/drivers/simulated.js';
import { simulatedAgent } from '../../src/agent/simulatedHost.js';
import { createAgentLink } from '../../src/controller/services/agentLink.js';
import type { GuestSpec } from '../../src/domain/guest/spec.js';
import { parseHostInventory } from '../../src/domain/inventory/hostInventory.js';
import { setDesiredGuest } from '../../src/storage/repositories/guests.js';
import { vdpaHost } from '../helpers/allInOneProcess.js';
import { startTestController, type TestController } from '../helpers/testController.js';
import { kysely, asUnit } from '../helpers/storageAccess.js';

const spec = (name: string): GuestSpec => ({
  uuid: randomUUID(), name, displayName: name, vcpus: 1, memoryMb: 512, diskGb: 1, imageRef: 'cirros', interfaces: [], hostdevs: [],
});

test('a failing operation is a VirtDriverError with libvirt\'s internal-error code, and the simulator is untouched', { timeout: 300_000 }, async () => {
  const sim = new SimulatedDriver({ hostName: 'h' });
  const driver = new FaultInjectingDriver(sim, {
    spawn: { message: 'internal error: qemu unexpectedly closed the monitor', hang: false, times: 1 },
    live_migrate: { message: 'internal error: migration refused', hang: false, times: null },
  });
  const g = spec('instance-1');
  await assert.rejects(driver.spawn(g), (e: unknown) =>
    e instanceof VirtDriverError && e.code === LibvirtErrorCode.INTERNAL_ERROR && e.message === 'internal error: qemu unexpectedly closed the monitor');
  assert.equal(await sim.status(g.uuid), null);
  assert.equal((await driver.spawn(g)).state, 'running', 'times: 1 lets the second spawn through');
  assert.equal((await driver.suspend(g.uuid)).state, 'suspended', 'operations without a fault go straight through');
  await assert.rejects(driver.liveMigrationStep(g.uuid, 'source', 'h2'), /migration refused/);
  await assert.rejects(driver.liveMigrationStep(g.uuid, 'destination', 'h2'), /migration refused/);
});

describe('a hung operation on a simulated host', () => {
  let c: TestController;
  before(async () => { c = await startTestController(); });
  after(async () => { await c?.close(); });

  const reportCount = async (host: string) =>
    (await kysely(c.ctx.store).selectFrom('services').select('report_count').where('host', '=', host).executeTakeFirstOrThrow()).report_count;

  test('holds only its guest: heartbeats go on, the next guest is spawned, and the agent still stops', { timeout: 300_000 }, async () => {
    const name = `hang-${randomUUID().slice(0, 8)}`;
    const [entry] = parseHostInventory(stringify({ hosts: [{ ...vdpaHost(name), faults: { spawn: { hang: true, times: 1 } } }] }), 'test');
    const { agent, driver } = simulatedAgent(entry!, createAgentLink(c.ctx), pino({ level: 'silent' }), { heartbeatMs: 100 });
    await agent.start();
    try {
      const hung = spec('instance-hung');
      await c.ctx.store.autocommit((u) => setDesiredGuest(u, hung.uuid, name, 'running', hung));
      c.ctx.signals.notify(name);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await driver.status(hung.uuid), null, 'the hung spawn did nothing');

      const beats = await reportCount(name);
      const next = spec('instance-next');
      const t0 = Date.now();
      await c.ctx.store.autocommit((u) => setDesiredGuest(u, next.uuid, name, 'running', next));
      c.ctx.signals.notify(name);
      while ((await driver.status(next.uuid))?.state !== 'running') {
        if (Date.now() - t0 > 10_000) throw new Error('the second guest was never spawned');
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(await reportCount(name) > beats + 3, 'heartbeats stopped while the spawn hung');
      const row = await kysely(c.ctx.store).selectFrom('guests').select(['observed_generation']).where('instance_uuid', '=', hung.uuid).executeTakeFirstOrThrow();
      assert.ok(!row.observed_generation, 'the hung guest was reported');
    } finally {
      const t = Date.now();
      await agent.stop();
      assert.ok(Date.now() - t < 1_000, 'stop() waited for the hung operation');
    }
  });
});
