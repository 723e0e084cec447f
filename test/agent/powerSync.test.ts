/**
 * The agent's power-state sync: a guest whose state changes on the
 * hypervisor without an instruction is reported once per change, as Nova's
 * _sync_power_states finds it; guests it was told about are not.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { AgentClock } from '../../src/agent/agentClock.js';
import { ComputeAgent } from '../../src/agent/computeAgent.js';
import { SimulatedDriver } from '../../src/agent/drivers/simulated.js';
import type { PowerStateReport } from '../../src/protocol/agentProtocol.js';
import { recordingControllerLink } from '../helpers/recordingControllerLink.js';
import { guestSpec } from '../domain/guest/fixtures.js';

describe('power-state sync', { timeout: 10_000 }, () => {
  test('reports a guest stopped or gone behind the agent\'s back once per change, and nothing else', { timeout: 120_000 }, async () => {
    const spec = guestSpec();
    const other = { ...guestSpec(), uuid: '00000000-0000-4000-8000-0000000000bb', name: 'instance-000000bb' };
    const { link, reports, power } = recordingControllerLink([
      { instanceUuid: spec.uuid, desiredState: 'running', generation: 1, spec },
      { instanceUuid: other.uuid, desiredState: 'running', generation: 1, spec: other },
    ]);
    const driver = new SimulatedDriver({ hostName: 'h1' });
    const agent = new ComputeAgent({
      identity: { host: 'h1', serviceVersion: 66, hypervisorType: 'QEMU', hostIp: '192.0.2.1', vcpus: 4, memoryMb: 4096, diskGb: 10 },
      discovery: { versions: async () => ({ kernel: '6.1.0', libvirt: '9.0.0', qemu: '7.2.0' }), devices: async () => ({ devices: [], vdpaUnsupportedReason: null }) },
      driver, link, log: pino({ level: 'silent' }), heartbeatMs: 3_600_000, rediscoverMs: 3_600_000, pollMs: 3_600_000,
      clock: new AgentClock(), powerSync: true,
    });
    await agent.start();
    try {
      assert.deepEqual(reports.map((r) => [r.instanceUuid, r.observedState]).sort(), [[spec.uuid, 'running'], [other.uuid, 'running']].sort());
      await agent.syncPowerStates();
      assert.deepEqual(power, [], 'nothing changed');

      await driver.powerOff(spec.uuid);
      await agent.syncPowerStates();
      await agent.syncPowerStates();
      assert.deepEqual(power, [{ host: 'h1', instanceUuid: spec.uuid, state: 'shutoff' }], 'once per change');

      await driver.destroy(spec.uuid);
      await agent.syncPowerStates();
      await agent.syncPowerStates();
      const all: PowerStateReport[] = [...power as PowerStateReport[]];
      assert.deepEqual(all.map((p) => p.state), ['shutoff', 'absent']);
      assert.equal(all.filter((p) => p.instanceUuid === other.uuid).length, 0, 'the other guest runs as reported');
    } finally {
      await agent.stop();
    }
  });
});
