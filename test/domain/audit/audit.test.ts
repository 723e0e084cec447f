/**
 * The doctor's rules, as tables: a consistent snapshot (two hosts of 1 PF +
 * 4 vdpa VFs, one server holding one VF of h1) is clean; each row changes it
 * the way an operation (legitimately) or a bug (not) would and names the
 * findings that must come out, and whether --fix may repair them.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { auditSnapshot } from '../../../src/domain/audit/audit.js';
import type { AuditDevice, AuditInstance, AuditSnapshot } from '../../../src/domain/audit/snapshot.js';
import { summarizePools } from '../../../src/domain/pci/pools.js';

const NOW = Date.parse('2026-12-01T12:00:00.000Z');
const OPTS = { now: NOW, operationTimeoutSeconds: 300 };
const PF = '0000:06:00.0';
const vf = (n: number) => `0000:06:00.${n + 1}`;
const ago = (seconds: number) => new Date(NOW - seconds * 1000).toISOString();

function devicesOf(host: string, firstId: number): AuditDevice[] {
  const common = { host, physicalNetwork: 'physnet0', numaNode: 0, devname: null, tags: {}, instanceUuid: null, consumer: null, missing: false, status: 'available' as const };
  return [
    { ...common, id: firstId, address: PF, vendorId: '15b3', productId: '101d', devType: 'type-PF', parentAddr: null, vdpaName: null, vdpaChardev: null },
    ...[1, 2, 3, 4].map((n) => ({
      ...common, id: firstId + n, address: vf(n), vendorId: '15b3', productId: '101e', devType: 'vdpa' as const, parentAddr: PF,
      vdpaName: `vdpa${n}`, vdpaChardev: `/dev/vhost-vdpa-${n}`,
    })),
  ];
}

function instance(uuid: string, host: string | null, more: Partial<AuditInstance> = {}): AuditInstance {
  return {
    uuid, vmState: 'active', taskState: null, host, taskChangedAt: null, updatedAt: ago(10), portIds: [`p-${uuid}`],
    devicePortIds: [`p-${uuid}`], aliasDeviceCount: 0, ...more,
  };
}

class State {
  s: AuditSnapshot = {
    instances: [instance('vm-1', 'h1')],
    migrations: [],
    devices: [...devicesOf('h1', 1), ...devicesOf('h2', 11)],
    pools: [],
    computeNodes: ['h1', 'h2'].map((host) => ({ host, vcpusUsed: 0, memoryMbUsed: 0, localGbUsed: 0, runningVms: 0 })),
    allocations: [],
    ports: [{ id: 'p-vm-1', deviceId: 'vm-1', deviceOwner: 'compute:nova', hostId: 'h1', pciSlot: vf(1) }],
    guests: [{ instanceUuid: 'vm-1', host: 'h1' }],
  };

  constructor() {
    this.hold('h1', vf(1), 'vm-1', 'vm-1');
    this.allocate('vm-1', 'h1');
    this.recount();
  }

  dev(host: string, address: string): AuditDevice {
    return this.s.devices.find((d) => d.host === host && d.address === address)!;
  }

  /** A claim as claimOnHost makes it: the device allocated, its PF (or a PF's VFs) unavailable. */
  hold(host: string, address: string, consumer: string, server: string): void {
    Object.assign(this.dev(host, address), { status: 'allocated', consumer, instanceUuid: server });
    const d = this.dev(host, address);
    for (const other of this.s.devices.filter((o) => o.host === host)) {
      const related = d.parentAddr === null ? other.parentAddr === d.address : other.address === d.parentAddr;
      if (related && other.status === 'available') other.status = 'unavailable';
    }
  }

  free(host: string, address: string): void {
    Object.assign(this.dev(host, address), { status: 'available', consumer: null, instanceUuid: null });
    const busy = this.s.devices.some((o) => o.host === host && o.parentAddr === PF && (o.status === 'allocated' || o.status === 'claimed'));
    if (!busy) this.dev(host, PF).status = 'available';
  }

  allocate(consumer: string, host: string): void {
    this.s.allocations.push({ consumer, host, vcpus: 1, memoryMb: 512, diskGb: 1 });
  }

  relabel(fromConsumer: string, to: string, host: string): void {
    for (const d of this.s.devices) if (d.consumer === fromConsumer && d.host === host) d.consumer = to;
    for (const a of this.s.allocations) if (a.consumer === fromConsumer && a.host === host) a.consumer = to;
  }

  /** Pools and usage as the devices and allocations say (what a consistent database holds). */
  recount(): this {
    this.s.pools = ['h1', 'h2'].flatMap((host) => summarizePools(this.s.devices.filter((d) => d.host === host)).map((p) => ({ ...p, host })));
    for (const n of this.s.computeNodes) {
      const mine = this.s.allocations.filter((a) => a.host === n.host);
      Object.assign(n, {
        vcpusUsed: mine.reduce((x, a) => x + a.vcpus, 0), memoryMbUsed: mine.reduce((x, a) => x + a.memoryMb, 0),
        localGbUsed: mine.reduce((x, a) => x + a.diskGb, 0), runningVms: mine.length,
      });
    }
    return this;
  }

  vm(uuid = 'vm-1'): AuditInstance {
    return this.s.instances.find((i) => i.uuid === uuid)!;
  }

  port(id = 'p-vm-1') {
    return this.s.ports.find((p) => p.id === id)!;
  }

  /** vm-1 moved to h2 under a migration: the source claims (h1) held by the migration, the destination's by the server. */
  moved(migration: { uuid: string; type: string; status: string }): this {
    this.relabel('vm-1', migration.uuid, 'h1');
    this.hold('h2', vf(1), 'vm-1', 'vm-1');
    this.allocate('vm-1', 'h2');
    this.s.migrations.push({ uuid: migration.uuid, instanceUuid: 'vm-1', migrationType: migration.type, status: migration.status, sourceCompute: 'h1', destCompute: 'h2' });
    return this.recount();
  }
}

interface Row {
  name: string;
  change: (st: State) => unknown;
  /** Expected finding codes (sorted); `fixable` lists those with a repair. */
  codes: string[];
  fixable?: string[];
}

const rows: Row[] = [
  { name: 'the consistent state', change: () => undefined, codes: [] },
  {
    name: 'a device and an allocation held by a consumer that does not exist',
    change: (st) => { st.hold('h2', vf(1), 'ghost', 'ghost'); st.allocate('ghost', 'h2'); st.recount(); },
    codes: ['claim-of-missing-consumer'], fixable: ['claim-of-missing-consumer'],
  },
  {
    name: 'an allocation alone of a consumer that does not exist',
    change: (st) => { st.allocate('ghost', 'h2'); st.recount(); },
    codes: ['claim-of-missing-consumer'], fixable: ['claim-of-missing-consumer'],
  },
  {
    name: 'VERIFY_RESIZE: the source held by the migration, the destination by the server',
    change: (st) => { st.moved({ uuid: 'mig', type: 'migration', status: 'finished' }); Object.assign(st.vm(), { vmState: 'resized', host: 'h2' }); Object.assign(st.port(), { hostId: 'h2' }); },
    codes: [],
  },
  {
    name: 'a cold move in resize_migrating: ports already bound to the destination, the server still on the source',
    change: (st) => { st.moved({ uuid: 'mig', type: 'migration', status: 'migrating' }); Object.assign(st.vm(), { taskState: 'resize_migrating', taskChangedAt: ago(5) }); Object.assign(st.port(), { hostId: 'h2' }); },
    codes: [],
  },
  {
    name: 'a confirmed migration still holding the source claims',
    change: (st) => { st.moved({ uuid: 'mig', type: 'resize', status: 'confirmed' }); Object.assign(st.vm(), { host: 'h2' }); Object.assign(st.port(), { hostId: 'h2' }); },
    codes: ['claim-of-ended-migration'], fixable: ['claim-of-ended-migration'],
  },
  {
    name: 'a live migration running: the destination claimed, ports still bound to the source',
    change: (st) => { st.moved({ uuid: 'mig', type: 'live-migration', status: 'running' }); Object.assign(st.vm(), { taskState: 'migrating', taskChangedAt: ago(5) }); },
    codes: [],
  },
  {
    name: 'a live migration\'s destination claims kept by a server with no task left',
    change: (st) => { st.moved({ uuid: 'mig', type: 'live-migration', status: 'running' }); },
    codes: ['claim-on-wrong-host'],
  },
  {
    name: 'a live migration in progress whose server is gone',
    change: (st) => {
      st.moved({ uuid: 'mig', type: 'live-migration', status: 'running' });
      st.s.instances = [];
      st.relabel('vm-1', 'gone', 'h2');
      st.s.ports = [];
      st.s.guests = [];
    },
    codes: ['claim-of-ended-migration', 'claim-of-missing-consumer'], fixable: ['claim-of-ended-migration', 'claim-of-missing-consumer'],
  },
  ...['accepted', 'pre-migrating', 'done', 'failed'].map((status): Row => ({
    name: `an evacuation ${status}: the source keeps its claims until it is back, even with the server gone`,
    change: (st) => { st.moved({ uuid: 'evac', type: 'evacuation', status }); Object.assign(st.vm(), { host: 'h2' }); Object.assign(st.port(), { hostId: 'h2' }); },
    codes: [],
  })),
  {
    name: 'an evacuation completed whose migration still holds the source claims',
    change: (st) => { st.moved({ uuid: 'evac', type: 'evacuation', status: 'completed' }); Object.assign(st.vm(), { host: 'h2' }); Object.assign(st.port(), { hostId: 'h2' }); },
    codes: ['claim-of-ended-migration'], fixable: ['claim-of-ended-migration'],
  },
  {
    name: 'shelved offloaded: no host, the port keeps device_id without a host',
    change: (st) => {
      st.free('h1', vf(1));
      st.s.allocations = [];
      st.recount();
      Object.assign(st.vm(), { vmState: 'shelved_offloaded', host: null });
      Object.assign(st.port(), { hostId: '', pciSlot: null });
      st.s.guests = [];
    },
    codes: [],
  },
  {
    name: 'shelved offloaded but still holding its device',
    change: (st) => { Object.assign(st.vm(), { vmState: 'shelved_offloaded', host: null }); Object.assign(st.port(), { hostId: '', pciSlot: null }); },
    codes: ['claim-on-wrong-host'],
  },
  {
    name: 'a port bound to a server that is gone (and one owned by something else than a server)',
    change: (st) => {
      st.s.ports.push({ id: 'p-gone', deviceId: 'gone', deviceOwner: 'compute:nova', hostId: 'h1', pciSlot: null });
      st.s.ports.push({ id: 'p-dhcp', deviceId: 'dhcp-1', deviceOwner: 'network:dhcp', hostId: 'h1', pciSlot: null });
    },
    codes: ['port-bound-to-missing-server'], fixable: ['port-bound-to-missing-server'],
  },
  {
    name: 'a settled server\'s port whose device_id and device_owner were cleared (a member rewrote them)',
    change: (st) => { Object.assign(st.port(), { deviceId: '', deviceOwner: '' }); },
    codes: ['device-not-in-port-binding', 'server-port-owner-mismatch'],
  },
  {
    name: 'a port naming a server as its device that does not hold it (device_id pointed at another server)',
    change: (st) => { st.s.ports.push({ id: 'p-stray', deviceId: 'vm-1', deviceOwner: 'compute:nova', hostId: '', pciSlot: null }); },
    codes: ['port-owner-mismatch'],
  },
  {
    name: 'a port bound on another host than its settled server\'s',
    change: (st) => { Object.assign(st.port(), { hostId: 'h2' }); },
    codes: ['device-not-in-port-binding', 'port-device-mismatch', 'port-host-mismatch'],
  },
  {
    name: 'a port naming a free device while the server holds another',
    change: (st) => { Object.assign(st.port(), { pciSlot: vf(2) }); },
    codes: ['device-not-in-port-binding', 'port-device-mismatch'],
  },
  {
    name: 'a vdpa port bound without a device in its profile',
    change: (st) => { Object.assign(st.port(), { pciSlot: null }); },
    codes: ['device-not-in-port-binding', 'port-without-device'],
  },
  {
    name: 'a flavor alias device held beside the port\'s',
    change: (st) => { st.hold('h1', vf(2), 'vm-1', 'vm-1'); Object.assign(st.vm(), { aliasDeviceCount: 1 }); st.recount(); },
    codes: [],
  },
  {
    name: 'a device held by the server but labelled with another server',
    change: (st) => { st.dev('h1', vf(1)).instanceUuid = 'other'; },
    codes: ['device-owner-mismatch', 'port-device-mismatch'],
  },
  {
    name: 'a PF available while one of its VFs is allocated',
    change: (st) => { st.dev('h1', PF).status = 'available'; st.recount(); },
    codes: ['device-status-wrong'], fixable: ['device-status-wrong'],
  },
  {
    name: 'a VF unavailable without a reason (its siblings do not block it)',
    change: (st) => { st.dev('h1', vf(3)).status = 'unavailable'; st.recount(); },
    codes: ['device-status-wrong'], fixable: ['device-status-wrong'],
  },
  {
    name: 'a PF unavailable with none of its VFs in use',
    change: (st) => { st.dev('h2', PF).status = 'unavailable'; st.recount(); },
    codes: ['device-status-wrong'], fixable: ['device-status-wrong'],
  },
  {
    name: 'a VF available while its PF is allocated',
    change: (st) => {
      st.s.instances.push(instance('vm-2', 'h2', { portIds: [], devicePortIds: [], aliasDeviceCount: 1 }));
      st.hold('h2', PF, 'vm-2', 'vm-2');
      st.allocate('vm-2', 'h2');
      st.dev('h2', vf(2)).status = 'available';
      st.recount();
    },
    codes: ['device-status-wrong'], fixable: ['device-status-wrong'],
  },
  {
    name: 'a PF and one of its VFs both allocated',
    change: (st) => { st.hold('h1', PF, 'vm-1', 'vm-1'); Object.assign(st.vm(), { aliasDeviceCount: 1 }); st.recount(); },
    codes: ['pf-and-vf-both-in-use'],
  },
  {
    name: 'a free device still naming a server and a consumer',
    change: (st) => { Object.assign(st.dev('h2', vf(3)), { instanceUuid: 'x', consumer: 'x' }); },
    codes: ['free-device-labelled'], fixable: ['free-device-labelled'],
  },
  {
    name: 'an allocated device no consumer holds',
    change: (st) => { st.hold('h2', vf(3), 'x', 'vm-1'); st.dev('h2', vf(3)).consumer = null; st.recount(); },
    codes: ['device-in-use-without-consumer'],
  },
  {
    name: 'a pool\'s free count off by one, a pool missing, a pool of a host with no devices',
    change: (st) => {
      st.s.pools.find((p) => p.host === 'h1' && p.devType === 'vdpa')!.free += 1;
      st.s.pools = st.s.pools.filter((p) => !(p.host === 'h2' && p.devType === 'type-PF'));
      st.s.pools.push({ host: 'h3', devType: 'vdpa', physicalNetwork: 'physnet0', vendorId: '15b3', productId: '101e', free: 1, total: 1 });
    },
    codes: ['pool-count-mismatch', 'pool-count-mismatch', 'pool-count-mismatch'], fixable: ['pool-count-mismatch'],
  },
  {
    name: 'compute-node usage that its allocations do not add up to',
    change: (st) => { st.s.computeNodes[0]!.vcpusUsed += 2; st.s.computeNodes[1]!.runningVms = 1; },
    codes: ['compute-node-usage-mismatch', 'compute-node-usage-mismatch'], fixable: ['compute-node-usage-mismatch'],
  },
  {
    name: 'a guest record of a server that is gone',
    change: (st) => { st.s.guests.push({ instanceUuid: 'gone', host: 'h2' }); },
    codes: ['guest-of-missing-server'], fixable: ['guest-of-missing-server'],
  },
  {
    name: 'a task past its deadline',
    change: (st) => { Object.assign(st.vm(), { taskState: 'powering-off', taskChangedAt: ago(301) }); },
    codes: ['task-past-deadline'],
  },
  {
    name: 'a task within its deadline',
    change: (st) => { Object.assign(st.vm(), { taskState: 'powering-off', taskChangedAt: ago(299) }); },
    codes: [],
  },
  {
    name: 'a task with no task_changed_at, judged from updated_at',
    change: (st) => { Object.assign(st.vm(), { taskState: 'spawning', taskChangedAt: null, updatedAt: ago(3600) }); },
    codes: ['task-past-deadline'],
  },
];

describe('doctor audit rules', { timeout: 30_000 }, () => {
  for (const row of rows) {
    test(row.name, { timeout: 120_000 }, () => {
      const st = new State();
      row.change(st);
      const findings = auditSnapshot(st.s, OPTS);
      assert.deepEqual(findings.map((f) => f.code).sort(), [...row.codes].sort(), JSON.stringify(findings, null, 1));
      for (const f of findings) {
        const fixable = (row.fixable ?? []).includes(f.code);
        assert.equal(f.fix !== null, fixable, `${f.code}: fix ${f.fix}`);
        assert.equal(f.repair !== null, fixable, `${f.code}: repair ${JSON.stringify(f.repair)}`);
        assert.ok(f.message.length > 0 && !f.message.includes('\n'), f.message);
        assert.ok(Object.keys(f.ids).length > 0);
        assert.match(f.code, /^[a-z]+(-[a-z]+)*$/);
      }
    });
  }

  test('findings name what they are about, and the repairs say what they touch', { timeout: 30_000 }, () => {
    const st = new State();
    st.hold('h2', vf(1), 'ghost', 'ghost');
    st.recount();
    st.s.guests.push({ instanceUuid: 'gone', host: 'h2' });
    st.dev('h1', PF).status = 'available';
    st.recount();
    const byCode = new Map(auditSnapshot(st.s, OPTS).map((f) => [f.code, f]));
    assert.deepEqual(byCode.get('claim-of-missing-consumer')!.ids, { consumer: 'ghost', hosts: ['h2'], devices: [`h2/${vf(1)}`] });
    assert.deepEqual(byCode.get('claim-of-missing-consumer')!.repair, { kind: 'release-consumer', consumer: 'ghost' });
    assert.deepEqual(byCode.get('guest-of-missing-server')!.repair, { kind: 'delete-guest', instanceUuid: 'gone', host: 'h2' });
    assert.deepEqual(byCode.get('device-status-wrong')!.repair,
      { kind: 'set-device-status', id: 1, host: 'h1', address: PF, from: 'available', to: 'unavailable' });
  });
});
