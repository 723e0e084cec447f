/**
 * ComputeAgent's jobs on a real controller: wake-ups through the all-in-one's
 * in-process signals and through the long poll, rediscovery skipped while the
 * discovery says nothing changed, and a stopped agent leaving no job behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { AgentClock } from '../../src/agent/agentClock.js';
import { ComputeAgent, type HostDiscovery } from '../../src/agent/computeAgent.js';
import { SimulatedDriver } from '../../src/agent/drivers/simulated.js';
import { simulatedDiscovery } from '../../src/agent/simulatedHost.js';
import { inProcessSignals } from '../../src/cli/allInOne.js';
import { createAgentLink } from '../../src/controller/services/agentLink.js';
import { parseHostInventory, type HostInventoryEntry } from '../../src/domain/inventory/hostInventory.js';
import type { GuestSpec } from '../../src/domain/guest/spec.js';
import type { ControllerLink } from '../../src/protocol/agentProtocol.js';
import { getGuest, setDesiredGuest } from '../../src/storage/repositories/guests.js';
import { vdpaHost } from '../helpers/allInOneProcess.js';
import { guestSpec } from '../domain/guest/fixtures.js';
import { startTestController, type TestController } from '../helpers/testController.js';
import { kysely, asUnit } from '../helpers/storageAccess.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = pino({ level: 'silent' });

function entryFor(host: string): HostInventoryEntry {
  return parseHostInventory(stringify({ hosts: [vdpaHost(host)] }), 'test')[0]!;
}

function agentFor(entry: HostInventoryEntry, link: ControllerLink, extra: { discovery?: HostDiscovery; clock?: AgentClock } = {}): ComputeAgent {
  return new ComputeAgent({
    identity: {
      host: entry.name, serviceVersion: entry.serviceVersion, hypervisorType: 'QEMU', hostIp: entry.hostIp,
      vcpus: entry.vcpus, memoryMb: entry.memoryMb, diskGb: entry.diskGb,
    },
    discovery: extra.discovery ?? simulatedDiscovery(entry),
    driver: new SimulatedDriver({ hostName: entry.name }),
    link, log, heartbeatMs: 60_000, rediscoverMs: 3_600_000, clock: extra.clock,
  });
}

describe('compute agent jobs', () => {
  let c: TestController;
  const wakeups = { current: undefined as ReturnType<typeof inProcessSignals> | undefined };

  before(async () => {
    c = await startTestController();
    const routed = inProcessSignals(c.ctx.signals);
    wakeups.current = routed;
    c.ctx.signals = routed.signals;
  });
  after(async () => {
    await c?.close();
  });

  /**
   * A guest the controller wants absent on the host, with no server behind it:
   * once the agent has applied and reported it, the controller drops the row.
   */
  async function wakeTakesEffect(link: ControllerLink): Promise<number> {
    const entry = entryFor(`wake-${randomUUID().slice(0, 8)}`);
    const agent = agentFor(entry, link);
    await agent.start();
    try {
      // The agent has polled once and is idle: its fallback poll is at least 500 ms away.
      await sleep(30);
      const uuid = randomUUID();
      await c.ctx.store.autocommit((u) => setDesiredGuest(u, uuid, entry.name, 'absent', { uuid, name: 'g' } as unknown as GuestSpec));
      const t0 = Date.now();
      c.ctx.signals.notify(entry.name);
      while (await getGuest(c.ctx.store.reader, uuid, entry.name)) {
        if (Date.now() - t0 > 2_000) throw new Error('the guest was never applied');
        await sleep(5);
      }
      return Date.now() - t0;
    } finally {
      await agent.stop();
    }
  }

  test('an idle in-process agent is woken by a signal at once (no waitForWork held open)', { timeout: 300_000 }, async () => {
    const base = createAgentLink(c.ctx);
    let waits = 0;
    const link: ControllerLink = {
      ...base,
      waitForWork: (host, ms) => { waits += 1; return base.waitForWork(host, ms); },
      watchWork: wakeups.current!.watchWork,
      unwatchWork: wakeups.current!.unwatchWork,
    };
    const ms = await wakeTakesEffect(link);
    assert.ok(ms < 400, `applied ${ms} ms after the signal; the fallback poll is >= 500 ms`);
    assert.equal(waits, 0);
  });

  test('an agent without watchWork (a remote one) is woken through its long poll', { timeout: 300_000 }, async () => {
    const ms = await wakeTakesEffect(createAgentLink(c.ctx));
    assert.ok(ms < 400, `applied ${ms} ms after the signal; the fallback poll is >= 500 ms`);
  });

  test('rediscovery walks the devices only when the discovery\'s state token changed', { timeout: 300_000 }, async () => {
    const entry = entryFor(`token-${randomUUID().slice(0, 8)}`);
    const inner = simulatedDiscovery(entry);
    let token = 'a';
    let walks = 0;
    const discovery: HostDiscovery = {
      versions: () => inner.versions(),
      devices: () => { walks += 1; return inner.devices(); },
      stateToken: () => token,
    };
    const agent = agentFor(entry, createAgentLink(c.ctx), { discovery });
    await agent.start();
    try {
      assert.equal(walks, 1, 'registration walks once');
      await agent.rediscover();
      assert.equal(walks, 1, 'same token: nothing to walk');
      token = 'b';
      await agent.rediscover();
      assert.equal(walks, 2);
      await agent.rediscover();
      assert.equal(walks, 2);
    } finally {
      await agent.stop();
    }
  });

  test('a running agent has its three jobs on the clock; a stopped one none', { timeout: 300_000 }, async () => {
    const clock = new AgentClock();
    const agent = agentFor(entryFor(`clock-${randomUUID().slice(0, 8)}`), createAgentLink(c.ctx), { clock });
    await agent.start();
    await sleep(30);
    assert.equal(clock.size, 3, 'heartbeat, fallback poll, rediscovery');
    await agent.stop();
    assert.equal(clock.size, 0);
  });
});

describe('a guest wanted stopped that the hypervisor lost', () => {
  test('is defined again, stopped, from its spec (not an error)', { timeout: 300_000 }, async () => {
    const c = await startTestController();
    try {
      const entry = entryFor(`lost-${randomUUID().slice(0, 8)}`);
      const driver = new SimulatedDriver({ hostName: entry.name });
      const agent = new ComputeAgent({
        identity: {
          host: entry.name, serviceVersion: entry.serviceVersion, hypervisorType: 'QEMU', hostIp: entry.hostIp,
          vcpus: entry.vcpus, memoryMb: entry.memoryMb, diskGb: entry.diskGb,
        },
        discovery: simulatedDiscovery(entry), driver, link: createAgentLink(c.ctx), log, heartbeatMs: 60_000, rediscoverMs: 3_600_000,
      });
      await agent.start();
      try {
        const uuid = randomUUID();
        const spec = { ...guestSpec({ uuid, name: 'instance-lost', interfaces: [] }) };
        await c.ctx.store.autocommit((u) => setDesiredGuest(u, uuid, entry.name, 'shutoff', spec));
        c.ctx.signals.notify(entry.name);
        const t0 = Date.now();
        let row = await getGuest(c.ctx.store.reader, uuid, entry.name);
        while (row && row.observed_generation !== row.generation) {
          if (Date.now() - t0 > 5_000) throw new Error('the guest was never applied');
          await sleep(10);
          row = await getGuest(c.ctx.store.reader, uuid, entry.name);
        }
        assert.equal(row?.error, null);
        assert.equal(row?.observed_state, 'shutoff');
        assert.equal((await driver.status(uuid))?.state, 'shutoff');
      } finally {
        await agent.stop();
      }
    } finally {
      await c.close();
    }
  });
});
