/**
 * The cluster helper's kills, restarts and moves, on real processes: a
 * controller SIGKILLed while the other takes work for its agent, restarted on
 * its port, and an agent moved to the other controller, which a process that
 * served it a moment ago must still wake through the database.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { vdpaHost } from '../helpers/allInOneProcess.js';
import { startCluster, type AgentProcess, type Cluster, type ControllerProcess } from '../helpers/cluster.js';

const POLL_SECONDS = 25;
const QUICK_MS = 3000;

describe('controller processes killed, restarted, and an agent moved between them', () => {
  let cluster: Cluster;
  let a: ControllerProcess;
  let b: ControllerProcess;
  let agent: AgentProcess;

  before(async () => {
    cluster = await startCluster({ controllers: 2 });
    [a, b] = [cluster.controllers[0]!, cluster.controllers[1]!];
    agent = await cluster.startAgent(vdpaHost('compute-m'), { controller: 0, pollSeconds: POLL_SECONDS });
  });

  after(async () => {
    await cluster?.stop();
  });

  test('A killed: B takes a server for A\'s agent, which gets it once A is back on its port', { timeout: 300_000 }, async () => {
    await a.kill();
    assert.equal(a.running, false);
    const id = await cluster.bootServer(b, 'while-a-is-down');
    await agent.waitFor('controller unreachable', 15_000);
    await a.restart();
    const back = Date.now();
    const server = await b.waitForServer(id, ['ACTIVE', 'ERROR'], 30_000);
    assert.equal(server.status, 'ACTIVE', JSON.stringify(server.fault ?? server));
    // The agent's retries back off to 5 s; a first long poll waiting out its 25 s would mean the
    // restarted process sat on work it could not have been told about.
    const ms = Date.now() - back;
    assert.ok(ms < 10_000, `ACTIVE ${ms} ms after A was back`);
    const seenByA = await a.api('GET', `/compute/v2.1/servers/${id}`);
    assert.equal(seenByA.status, 200);
    assert.equal(seenByA.body.server.status, 'ACTIVE');
  });

  test('the agent moved to B is woken for work committed through A at once', { timeout: 300_000 }, async () => {
    await agent.restart({ controller: 1 });
    assert.equal(agent.controller, b);
    const started = Date.now();
    const id = await cluster.bootServer(a, 'after-move');
    const server = await a.waitForServer(id, ['ACTIVE', 'ERROR'], POLL_SECONDS * 2000);
    const ms = Date.now() - started;
    assert.equal(server.status, 'ACTIVE', JSON.stringify(server.fault ?? server));
    assert.ok(ms < QUICK_MS, `ACTIVE after ${ms} ms: A did not wake the agent it served a moment ago through B`);
  });
});
