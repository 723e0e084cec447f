/**
 * The agent on a real libvirtd (qemu:///system) beside domains it did not
 * create: an operator's VMs defined with virsh and another host's guest (a
 * shared libvirtd) survive its reconcile and power-state sync untouched, while
 * an orphaned guest of its own is removed in the same pass and a guest an
 * earlier version defined (no metadata) that the controller places here is
 * adopted without a restart. TCG guests of 64 MiB without a disk.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { AgentClock } from '../../../src/agent/agentClock.js';
import { ComputeAgent } from '../../../src/agent/computeAgent.js';
import { LibvirtDriver } from '../../../src/agent/drivers/libvirt/libvirtDriver.js';
import { DEFAULT_INSTANCES_PATH, guestDomainXml } from '../../../src/domain/guest/domainXml.js';
import { ownershipOfXml } from '../../../src/domain/guest/ownership.js';
import type { GuestSpec } from '../../../src/domain/guest/spec.js';
import { recordingControllerLink } from '../../helpers/recordingControllerLink.js';
import { assertValidDomainXml } from '../../helpers/domainXmlSchema.js';
import { SYSTEM_URI, domstate, virsh } from '../../helpers/libvirtRig.js';
import { lockSystemLibvirt } from '../../helpers/systemLibvirtLock.js';
import { guestSpec, requireAddon } from './helpers.js';

const UNKNOWN = 'ignoring a libvirt domain vdpa-compute did not create';
const ELSEWHERE = 'ignoring a libvirt domain whose vdpa-compute metadata names another host or another domain';
const CONTESTED = 'the controller places here a guest whose libvirt domain is marked as another host\'s; not adopted';

/** A VM as an operator (or another tool) would define it: no metadata of ours, perhaps someone else's. */
function operatorVmXml(name: string, uuid: string, novaMetadata: boolean): string {
  const metadata = novaMetadata
    ? '<metadata><nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1"><nova:name>not ours</nova:name></nova:instance></metadata>'
    : '';
  return `<domain type='qemu'><name>${name}</name><uuid>${uuid}</uuid>${metadata}<memory unit='MiB'>64</memory><vcpu>1</vcpu>`
    + "<os><type arch='x86_64' machine='q35'>hvm</type></os><devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>";
}

describe('the agent leaves domains it did not create alone (qemu:///system)', { timeout: 600_000 }, () => {
  let unlock: (() => Promise<void>) | undefined;
  let dir: string;
  const suffix = randomUUID().slice(0, 8);
  const host = `own-${suffix}`;
  const otherHost = `other-${suffix}`;
  let ours: LibvirtDriver;
  let theirs: LibvirtDriver;
  const names: string[] = [];
  const specs: GuestSpec[] = [];
  const track = <T extends { name: string }>(s: T): T => { names.push(s.name); return s; };
  const guest = (tag: string): GuestSpec => { const s = track(guestSpec([], tag)); specs.push(s); return s; };

  before(async () => {
    unlock = await lockSystemLibvirt();
    requireAddon();
    dir = await mkdtemp(join(tmpdir(), 'foreign-domains-'));
    ours = new LibvirtDriver({ uri: SYSTEM_URI, virtType: 'qemu', includeDisk: false, hostName: host });
    theirs = new LibvirtDriver({ uri: SYSTEM_URI, virtType: 'qemu', includeDisk: false, hostName: otherHost });
  });

  after(async () => {
    // The drivers' destroy also removes the instance directories (console logs).
    for (const s of specs) await ours?.destroy(s.uuid).catch(() => undefined);
    for (const name of names) {
      await virsh(SYSTEM_URI, 'destroy', name).catch(() => undefined);
      await virsh(SYSTEM_URI, 'undefine', name, '--managed-save').catch(() => undefined);
    }
    await ours?.close();
    await theirs?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    await unlock?.();
  });

  async function virshDefine(xml: string, start: boolean): Promise<void> {
    const file = join(dir, `${randomUUID()}.xml`);
    await writeFile(file, xml);
    await virsh(SYSTEM_URI, 'define', file);
    const name = /<name>([^<]+)<\/name>/.exec(xml)![1]!;
    if (start) await virsh(SYSTEM_URI, 'start', name);
  }

  test('reconcile removes only its own orphan and adopts a legacy guest; sync reports nothing of domains not ours', { timeout: 540_000 }, async () => {
    // An operator's running VM and another tool's stopped one, both defined with virsh.
    const operatorVm = track({ name: `operator-vm-${suffix}`, uuid: randomUUID() });
    await virshDefine(operatorVmXml(operatorVm.name, operatorVm.uuid, false), true);
    const novaVm = track({ name: `nova-vm-${suffix}`, uuid: randomUUID() });
    await virshDefine(operatorVmXml(novaVm.name, novaVm.uuid, true), false);
    // Another host's guest on this libvirtd, and one more of its guests whose uuid the controller places here.
    const otherGuest = guest('other');
    await theirs.spawn(otherGuest);
    const contested = guest('contested');
    await theirs.spawn(contested);
    // This host's guest the controller no longer places here (evacuated while the agent was down).
    const orphan = guest('orphan');
    await ours.spawn(orphan);
    // A guest an earlier version defined (no metadata; its instance directory made) that the controller places here.
    const legacy: GuestSpec = { ...guest('legacy'), flavorName: 'm1.legacy' };
    await mkdir(join(DEFAULT_INSTANCES_PATH, legacy.uuid), { recursive: true, mode: 0o755 });
    await virshDefine(guestDomainXml(legacy, { virtType: 'qemu', includeDisk: false }), true);
    // And a new guest of this host's, not there yet.
    const fresh: GuestSpec = { ...guest('fresh'), flavorName: 'm1.fresh' };

    const untouched = [operatorVm, novaVm, otherGuest];
    const before = new Map<string, string>();
    const defined = new Map<string, string>();
    for (const d of untouched) {
      before.set(d.name, await virsh(SYSTEM_URI, 'dumpxml', d.name));
      defined.set(d.name, await virsh(SYSTEM_URI, 'dumpxml', '--inactive', d.name));
    }
    const legacyId = await virsh(SYSTEM_URI, 'domid', legacy.name);

    const { link: controllerLink, reports, power } = recordingControllerLink([
      { instanceUuid: legacy.uuid, desiredState: 'running', generation: 1, spec: legacy },
      { instanceUuid: fresh.uuid, desiredState: 'running', generation: 1, spec: fresh },
      { instanceUuid: contested.uuid, desiredState: 'running', generation: 1, spec: contested },
    ]);
    const logged: Array<{ level: number; msg: string; domainUuid?: string; server?: string }> = [];
    const log = pino({ level: 'info' }, { write: (line: string) => { logged.push(JSON.parse(line)); } });
    const agent = new ComputeAgent({
      identity: { host, serviceVersion: 66, hypervisorType: 'QEMU', hostIp: '192.0.2.1', vcpus: 4, memoryMb: 4096, diskGb: 10 },
      discovery: { versions: async () => ({ kernel: '6.1.0', libvirt: '9.0.0', qemu: '7.2.0' }), devices: async () => ({ devices: [], vdpaUnsupportedReason: null }) },
      driver: ours, link: controllerLink, log, heartbeatMs: 3_600_000, rediscoverMs: 3_600_000, pollMs: 3_600_000,
      clock: new AgentClock(), powerSync: true, passPatienceMs: 120_000,
    });
    await agent.start();
    try {
      // The orphan is gone; nothing else was removed.
      assert.equal(await domstate(SYSTEM_URI, orphan.name), null, 'the orphan of this host is removed');
      assert.equal(await domstate(SYSTEM_URI, operatorVm.name), 'running');
      assert.equal(await domstate(SYSTEM_URI, novaVm.name), 'shut off');
      assert.equal(await domstate(SYSTEM_URI, otherGuest.name), 'running');
      assert.equal(await domstate(SYSTEM_URI, contested.name), 'running');
      for (const d of untouched) assert.equal(await virsh(SYSTEM_URI, 'dumpxml', d.name), before.get(d.name), `${d.name} unchanged`);

      // The legacy guest is adopted: marked as this host's, live and defined, the same QEMU still running.
      assert.equal(await virsh(SYSTEM_URI, 'domid', legacy.name), legacyId, 'not restarted');
      for (const xml of [await virsh(SYSTEM_URI, 'dumpxml', legacy.name), await virsh(SYSTEM_URI, 'dumpxml', '--inactive', legacy.name)]) {
        assertValidDomainXml(xml, 'the adopted guest');
        assert.deepEqual({ ...ownershipOfXml(xml), createdAt: '' }, {
          uuid: legacy.uuid, name: legacy.displayName, flavorName: 'm1.legacy', host, createdAt: '',
        });
      }
      // The new guest is defined with the metadata, and libvirt's schema accepts it.
      const freshXml = await virsh(SYSTEM_URI, 'dumpxml', '--inactive', fresh.name);
      assertValidDomainXml(freshXml, 'the new guest');
      assert.deepEqual({ ...ownershipOfXml(freshXml), createdAt: '' }, {
        uuid: fresh.uuid, name: fresh.displayName, flavorName: 'm1.fresh', host, createdAt: '',
      });
      assert.deepEqual(reports.map((r) => [r.instanceUuid, r.observedState, r.error]).sort(),
        [[legacy.uuid, 'running', null], [fresh.uuid, 'running', null], [contested.uuid, 'running', null]].sort());

      // Logged once each, as not ours; the orphan as removed; the legacy guest as adopted.
      const about = (msg: string) => logged.filter((l) => l.msg === msg).map((l) => l.domainUuid).sort();
      assert.deepEqual(about(UNKNOWN), [operatorVm.uuid, novaVm.uuid].sort());
      assert.deepEqual(about(ELSEWHERE), [otherGuest.uuid]);
      assert.deepEqual(about(CONTESTED), [contested.uuid]);
      assert.ok(logged.filter((l) => [UNKNOWN, ELSEWHERE, CONTESTED].includes(l.msg)).every((l) => l.level === 40), 'warnings');
      assert.equal(ownershipOfXml(await virsh(SYSTEM_URI, 'dumpxml', contested.name))?.host, otherHost, 'not claimed');
      assert.deepEqual(logged.filter((l) => l.msg === 'removing a guest this host no longer owns').map((l) => l.server), [orphan.uuid]);

      // Power-state sync: every domain stopped behind the agent's back; only this host's guests are reported.
      for (const name of [operatorVm.name, otherGuest.name, contested.name, fresh.name, legacy.name]) await virsh(SYSTEM_URI, 'destroy', name);
      await agent.syncPowerStates();
      assert.deepEqual(power.map((p) => [p.instanceUuid, p.state]).sort(), [[fresh.uuid, 'shutoff'], [legacy.uuid, 'shutoff']].sort());
      for (const d of untouched) assert.equal(await virsh(SYSTEM_URI, 'dumpxml', '--inactive', d.name), defined.get(d.name), `${d.name} still defined, unchanged`);
      assert.equal(await domstate(SYSTEM_URI, operatorVm.name), 'shut off', 'an operator\'s VM stopped stays stopped');

      // A restarted agent logs the domains it leaves alone no more: once per domain.
      await agent.stop();
      await agent.start();
      assert.equal(logged.filter((l) => [UNKNOWN, ELSEWHERE, CONTESTED].includes(l.msg)).length, 4);
      for (const d of untouched) assert.equal(await virsh(SYSTEM_URI, 'dumpxml', '--inactive', d.name), defined.get(d.name), `${d.name} survives a second reconcile`);
    } finally {
      await agent.stop();
    }
  });
});
