import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { readAgentConfig } from '../../src/cli/agentConfig.js';
import { startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { agentPassword, startAgentProcess, type AgentProcess } from './remoteAgentProcess.js';

/** A host of two cells of 16 CPUs whose inventory says nothing of the CPU sets. */
function twoCellHost(name: string) {
  return {
    ...vdpaHost(name),
    numa_cells: [
      { id: 0, socket: 0, cpus: '0-15', memory_mb: 65536 },
      { id: 1, socket: 1, cpus: '16-31', memory_mb: 65536 },
    ],
  };
}

describe('vdpa-compute agent --cpu-dedicated-set / --cpu-shared-set (Nova\'s [compute] options)', { timeout: 300_000 }, () => {
  let aio: AllInOneProcess;
  const agents: AgentProcess[] = [];
  before(async () => { aio = await startAllInOneProcess({ hosts: [vdpaHost('compute-0')] }); });
  after(async () => {
    for (const a of agents) await a.stop();
    await aio?.stop();
  });

  const inventoryFile = async (name: string) => {
    const file = join(aio.dataDir, `${name}.yaml`);
    await writeFile(file, stringify(twoCellHost(name)));
    return file;
  };

  test('the sets given to the agent are the host\'s: os-hypervisors numa_topology shows them', { timeout: 300_000 }, async () => {
    const agent = startAgentProcess(['--driver', 'simulated', '--inventory', await inventoryFile('compute-2'), '--controller', aio.url,
      '--cpu-dedicated-set', '2-15,18-31', '--cpu-shared-set', '0-1,16-17', '--heartbeat-seconds', '1'],
    { VDPA_AGENT_PASSWORD: agentPassword(aio.dataDir) });
    agents.push(agent);
    await agent.waitFor('compute agent running', 90_000);
    let topology: any;
    for (let until = Date.now() + 60_000; Date.now() < until && !topology; await new Promise((r) => setTimeout(r, 500))) {
      const res = await aio.api('GET', '/compute/v2.1/os-hypervisors/detail');
      topology = res.body.hypervisors.find((h: any) => h.hypervisor_hostname === 'compute-2')?.numa_topology;
    }
    assert.ok(topology, agent.output());
    assert.equal(topology.cpu_dedicated_set, '2-15,18-31');
    assert.equal(topology.cpu_shared_set, '0-1,16-17');
    assert.deepEqual(topology.cells.map((c: any) => c.cpus), ['0-15', '16-31']);
  });

  test('a CPU the host does not have, or overlapping sets, stop the agent with a clear error', { timeout: 300_000 }, async () => {
    const file = await inventoryFile('compute-3');
    const run = async (args: string[]) => {
      const agent = startAgentProcess(['--driver', 'simulated', '--inventory', file, '--controller', aio.url, ...args],
        { VDPA_AGENT_PASSWORD: agentPassword(aio.dataDir) });
      agents.push(agent);
      const code = await new Promise<number | null>((res) => agent.child.once('exit', (c) => res(c)));
      return { code, output: agent.output() };
    };
    const outside = await run(['--cpu-dedicated-set', '8-40']);
    assert.equal(outside.code, 2, outside.output);
    assert.match(outside.output, /error: --cpu-dedicated-set 8-40: CPUs 32-40 are not CPUs of this host \(it has 0-31\)/);
    const overlap = await run(['--cpu-dedicated-set', '2-15', '--cpu-shared-set', '0-3']);
    assert.equal(overlap.code, 2, overlap.output);
    assert.match(overlap.output, /error: --cpu-dedicated-set and --cpu-shared-set must not overlap: both have 2-3/);
    const badList = await run(['--cpu-shared-set', 'one']);
    assert.equal(badList.code, 2, badList.output);
    assert.match(badList.output, /error: --cpu-shared-set one: /);
  });

  test('the config file takes cpu_dedicated_set and cpu_shared_set (a lone CPU too)', { timeout: 120_000 }, async () => {
    const file = join(aio.dataDir, 'agent.yaml');
    await writeFile(file, 'cpu_dedicated_set: "4-15"\ncpu_shared_set: 3\n');
    assert.deepEqual(await readAgentConfig(file), { cpuDedicatedSet: '4-15', cpuSharedSet: '3' });
  });
});
