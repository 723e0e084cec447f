/**
 * Issue 3, "Done when": a compute agent started as its own process against the
 * all-in-one's controller (whose inventory holds only compute-0) registers,
 * shows in the real client's service and hypervisor lists, takes servers,
 * survives a controller killed and restarted, and a host below the vDPA
 * minimums registers without vDPA devices and says why.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freeCount, startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { assertValidDomainXml } from '../helpers/domainXmlSchema.js';
import { agentPassword, killHard, restartServe, startAgentProcess, type AgentProcess } from './remoteAgentProcess.js';

describe('vdpa-compute agent as its own process', () => {
  let aio: AllInOneProcess;
  let agent: AgentProcess;
  let oldAgent: AgentProcess | undefined;
  let restarted: AgentProcess | undefined;
  let password: string;

  const agentArgs = (file: string) => ['--driver', 'simulated', '--inventory', file, '--controller', aio.url, '--heartbeat-seconds', '1'];

  before(async () => {
    aio = await startAllInOneProcess({ hosts: [vdpaHost('compute-0')] });
    password = agentPassword(aio.dataDir);
    // A file holding one host entry (not a list), as an operator would write for one lab host.
    const file = join(aio.dataDir, 'compute-2.yaml');
    await writeFile(file, stringify(vdpaHost('compute-2')));
    agent = startAgentProcess(agentArgs(file), { VDPA_AGENT_PASSWORD: password });
    await agent.waitFor('compute agent running');
  });

  after(async () => {
    await agent?.stop();
    await oldAgent?.stop();
    await restarted?.stop();
    await aio?.stop();
  });

  test('registers: the real client lists its compute service (up) and its hypervisor', { timeout: 300_000 }, async () => {
    const services = await aio.openstackJson<any[]>(['compute', 'service', 'list']);
    const mine = services.find((s) => s.Host === 'compute-2');
    assert.ok(mine, `compute-2 missing from ${JSON.stringify(services)}`);
    assert.equal(mine.Binary, 'nova-compute');
    assert.equal(mine.State, 'up');
    assert.equal(mine.Status, 'enabled');
    const hypervisors = await aio.openstackJson<any[]>(['hypervisor', 'list']);
    assert.deepEqual(hypervisors.map((h) => h['Hypervisor Hostname']).sort(), ['compute-0', 'compute-2']);
    assert.equal(freeCount(await aio.pci('compute-2')), 5);
  });

  let serverId: string;

  test('takes a vdpa server when compute-0 is disabled: ACTIVE, with its device allocated on compute-2', { timeout: 300_000 }, async () => {
    const disable = await aio.openstack(['compute', 'service', 'set', '--disable', 'compute-0', 'nova-compute']);
    assert.equal(disable.code, 0, disable.stderr);
    const port = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', 'remote-port']);
    const created = await aio.openstackJson(['server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros', '--port', port.id, 'remote-vm']);
    serverId = created.id;
    const server = await aio.waitForServer(serverId, ['ACTIVE', 'ERROR']);
    assert.equal(server.status, 'ACTIVE', JSON.stringify(server.fault ?? server));
    assert.equal(server['OS-EXT-SRV-ATTR:host'], 'compute-2');
    const devices = await aio.pci('compute-2');
    const mine = devices.filter((d: any) => d.instance_uuid === serverId);
    assert.equal(mine.length, 1);
    assert.equal(mine[0].dev_type, 'vdpa');
    assert.equal(mine[0].status, 'allocated');
    assert.equal(freeCount(devices), 3);
    const xml = await aio.api('GET', `/compute/v2.1/servers/${serverId}/domain-xml`);
    assert.equal(xml.status, 200, JSON.stringify(xml.body));
    assert.match(xml.body.domain_xml, /<source dev="\/dev\/vhost-vdpa-\d+"\/>/);
    assertValidDomainXml(xml.body.domain_xml, 'the domain a remote agent reported');
    // The console log comes from the remote agent: woken through its long poll, answered through the agent API.
    const log = await aio.openstack(['console', 'log', 'show', '--lines', '1', serverId]);
    assert.equal(log.code, 0, log.stderr);
    assert.match(log.stdout, /^instance-[0-9a-f]+ login: \n$/);
  });

  test('a controller killed and restarted loses nothing: the agent retries and converges', { timeout: 300_000 }, async () => {
    // Work accepted just before the controller dies must still be done.
    const port = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', 'outage-port']);
    const created = await aio.openstackJson(['server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros', '--port', port.id, 'outage-vm']);
    await killHard(aio.child);
    await agent.waitFor('controller unreachable', 10_000);
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(agent.child.exitCode, null, 'the agent exited while the controller was down');
    restarted = await restartServe(aio.url, aio.dataDir, true);
    await agent.waitFor('controller reachable again', 15_000);

    const outage = await aio.waitForServer(created.id, ['ACTIVE', 'ERROR'], 30_000);
    assert.equal(outage.status, 'ACTIVE', JSON.stringify(outage.fault ?? outage));
    assert.equal(outage['OS-EXT-SRV-ATTR:host'], 'compute-2');
    const first = await aio.waitForServer(serverId, ['ACTIVE']);
    assert.equal(first['OS-EXT-SRV-ATTR:host'], 'compute-2');
    const devices = await aio.pci('compute-2');
    assert.equal(freeCount(devices), 2, 'each server holds exactly one device after the outage');
    assert.deepEqual(devices.filter((d: any) => d.status === 'allocated').map((d: any) => d.instance_uuid).sort(), [created.id, serverId].sort());

    // The restarted controller can still hand the agent work: deleting frees the device.
    const del = await aio.openstack(['server', 'delete', serverId]);
    assert.equal(del.code, 0, del.stderr);
    await aio.waitForServer(serverId, ['DELETED']);
    assert.equal(freeCount(await aio.pci('compute-2')), 3);
    const services = await aio.openstackJson<any[]>(['compute', 'service', 'list']);
    assert.equal(services.find((s) => s.Host === 'compute-2')?.State, 'up');
  });

  test('a host below the vDPA minimums (kernel 5.4) registers with no vdpa devices and says why', { timeout: 300_000 }, async () => {
    const file = join(aio.dataDir, 'old-hosts.yaml');
    // A hosts list with two entries: --host picks one.
    await writeFile(file, stringify({ hosts: [vdpaHost('compute-3', { versions: { kernel: '5.4.0-150-generic', libvirt: '9.0.0', qemu: '7.2.0' } }), vdpaHost('compute-4')] }));
    oldAgent = startAgentProcess([...agentArgs(file), '--host', 'compute-3'], { VDPA_AGENT_PASSWORD: password });
    await oldAgent.waitFor('compute agent running');

    const devices = await aio.pci('compute-3');
    assert.equal(devices.filter((d: any) => d.dev_type === 'vdpa').length, 0);
    const detail = await aio.api('GET', '/compute/v2.1/os-hypervisors/detail');
    const node = detail.body.hypervisors.find((h: any) => h.hypervisor_hostname === 'compute-3');
    assert.match(node.vdpa_unsupported_reason, /Linux kernel 5\.7 or newer \(host has 5\.4\.0-150-generic\)/);
    const healthy = detail.body.hypervisors.find((h: any) => h.hypervisor_hostname === 'compute-2');
    assert.equal(healthy.vdpa_unsupported_reason, null);
    const lines = oldAgent.output().split('\n').filter((l) => l.includes('Linux kernel 5.7'));
    assert.equal(lines.length, 1, `expected one log line naming the minimum, got:\n${lines.join('\n')}`);
  });

  test('a wrong credential stops the agent at once with a clear message', { timeout: 300_000 }, async () => {
    const bad = startAgentProcess(agentArgs(join(aio.dataDir, 'compute-2.yaml')), { VDPA_AGENT_PASSWORD: 'not-the-password' });
    const code = await new Promise<number | null>((res) => bad.child.once('exit', (c) => res(c)));
    assert.equal(code, 2);
    assert.match(bad.output(), /authentication as compute-agent \(project service\) failed: HTTP 401/);
  });
});
