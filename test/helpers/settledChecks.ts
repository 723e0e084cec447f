/**
 * End-state checks shared by the crash and fault tests: every server out of
 * its task state, the doctor clean, and the devices os-pci shows matching the
 * servers that hold them. When something is wrong the rows a reader needs to
 * tell why (server, guests, newest migration, action events) are read straight
 * from the SQLite file: the API shows only part of them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { AllInOneProcess } from './allInOneProcess.js';

const MAIN = resolve(import.meta.dirname, '../../src/cli/main.js');

/** The rows behind each server (all of them, or those named), as plain objects for a failure message. */
export function dumpServers(dataDir: string, uuids?: string[]): unknown[] {
  const db = new BetterSqlite3(join(dataDir, 'vdpa-compute.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const servers = db.prepare(`select uuid, name, vm_state, task_state, power_state, host, fault, task_changed_at,
      lease_owner, lease_expires_at, failed_hosts from instances order by created_at`).all() as Array<Record<string, unknown>>;
    return servers.filter((s) => !uuids || uuids.includes(String(s.uuid))).map((s) => ({
      ...s,
      guests: db.prepare(`select host, desired_state, generation, observed_generation, observed_state, error, updated_at
        from guests where instance_uuid = ?`).all(s.uuid),
      migration: db.prepare('select uuid, migration_type, status, source_compute, dest_compute, updated_at from migrations where instance_uuid = ? order by id desc limit 1').get(s.uuid) ?? null,
      actions: db.prepare('select action, result, message, start_time, finish_time from instance_actions where instance_uuid = ? order by id').all(s.uuid),
      events: db.prepare('select action, event, host, result, details from instance_action_events where instance_uuid = ? order by id').all(s.uuid),
    }));
  } finally {
    db.close();
  }
}

/** The `create` action's events of a server (each build attempt), from the database. */
export function actionEvents(dataDir: string, uuid: string): Array<{ action: string; event: string; host: string | null; result: string | null; details: string | null }> {
  const db = new BetterSqlite3(join(dataDir, 'vdpa-compute.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('select action, event, host, result, details from instance_action_events where instance_uuid = ? order by id').all(uuid) as never;
  } finally {
    db.close();
  }
}

/** Every server, as `GET /servers/detail` shows it (admin, all projects). */
export async function allServers(aio: AllInOneProcess): Promise<any[]> {
  const r = await aio.api('GET', '/compute/v2.1/servers/detail?all_tenants=1');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.servers;
}

/** Polls until no server has a task state (or a transient status); returns them then, throws with the rows after `timeoutMs`. */
export async function waitAllSettled(aio: AllInOneProcess, timeoutMs: number): Promise<any[]> {
  const end = Date.now() + timeoutMs;
  const busyOf = (servers: any[]) => servers.filter((s) => s['OS-EXT-STS:task_state'] !== null || ['BUILD', 'MIGRATING', 'RESIZE', 'REVERT_RESIZE'].includes(s.status));
  let servers = await allServers(aio);
  while (busyOf(servers).length > 0 && Date.now() <= end) {
    await new Promise((r) => setTimeout(r, 100));
    servers = await allServers(aio);
  }
  const busy = busyOf(servers);
  const rows = busy.length > 0 ? JSON.stringify(dumpServers(aio.dataDir, busy.map((s) => s.id)), null, 1) : '';
  assert.deepEqual(busy.map((s) => s.id), [], `${busy.length} server(s) still have a task state after ${timeoutMs} ms:\n${rows}`);
  return servers;
}

/** `vdpa-compute doctor --json` on the process's database; asserts exit 0 and no finding. */
export async function assertDoctorClean(aio: AllInOneProcess, configFile?: string): Promise<void> {
  const args = [MAIN, 'doctor', '--data-dir', aio.dataDir, '--json', ...(configFile ? ['--config', configFile] : [])];
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((res) => {
    execFile(process.execPath, args, { timeout: 60_000, env: { ...process.env, VDPA_CONFIG: '' } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      res({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
  const findings = r.code === 2 ? null : (JSON.parse(r.stdout) as { findings: unknown[] }).findings;
  assert.deepEqual({ code: r.code, findings }, { code: 0, findings: [] },
    `doctor: ${r.stderr}${r.stdout}\nservers: ${JSON.stringify(dumpServers(aio.dataDir), null, 1)}`);
}

const IN_USE = ['claimed', 'allocated'];

/**
 * Each host's vdpa devices against the servers: a device in use names a
 * server on that host, a free one names nobody; a settled server holds one
 * device per vdpa port, on its host, each named by its port's binding.
 */
export async function assertDevicesMatchServers(aio: AllInOneProcess, hosts: string[], vfsPerHost: number): Promise<void> {
  const servers = await allServers(aio);
  const byId = new Map(servers.map((s) => [s.id, s]));
  const ports: any[] = (await aio.api('GET', '/network/v2.0/ports')).body.ports;
  const held = new Map<string, any[]>();
  const problems: string[] = [];
  for (const host of hosts) {
    const vdpa = (await aio.pci(host)).filter((d: any) => d.dev_type === 'vdpa');
    if (vdpa.length !== vfsPerHost) problems.push(`${host}: ${vdpa.length} vdpa devices tracked, expected ${vfsPerHost}`);
    for (const d of vdpa) {
      if (d.status === 'available') {
        if (d.instance_uuid) problems.push(`${host} ${d.address}: available but labelled ${d.instance_uuid}`);
        continue;
      }
      if (!IN_USE.includes(d.status)) {
        problems.push(`${host} ${d.address}: status ${d.status}`);
        continue;
      }
      const owner = byId.get(d.instance_uuid);
      if (!owner) problems.push(`${host} ${d.address}: ${d.status} by ${d.instance_uuid}, which is no server`);
      else if (owner['OS-EXT-SRV-ATTR:host'] !== host) problems.push(`${host} ${d.address}: held by ${owner.name} (${owner.id}), which is on ${owner['OS-EXT-SRV-ATTR:host']}`);
      held.set(d.instance_uuid, [...(held.get(d.instance_uuid) ?? []), d]);
    }
  }
  for (const s of servers) {
    const mine = held.get(s.id) ?? [];
    const vdpaPorts = ports.filter((p) => p.device_id === s.id && p['binding:vnic_type'] === 'vdpa');
    const host = s['OS-EXT-SRV-ATTR:host'];
    const what = `${s.name} (${s.id}, ${s.status}, host ${host})`;
    if (s.status === 'SHELVED_OFFLOADED') {
      if (mine.length) problems.push(`${what}: shelved but holds ${mine.map((d) => d.address).join(', ')}`);
      for (const p of vdpaPorts) if (p['binding:host_id']) problems.push(`${what}: shelved but port ${p.id} bound to ${p['binding:host_id']}`);
      continue;
    }
    // A build that failed everywhere ends in ERROR holding nothing; any other server holds its ports' devices.
    if (s.status === 'ERROR' && mine.length === 0) continue;
    if (mine.length !== vdpaPorts.length) {
      problems.push(`${what}: holds ${mine.length} vdpa devices (${mine.map((d) => d.address).join(', ')}) for ${vdpaPorts.length} vdpa ports`);
    }
    const addresses = new Set(mine.map((d) => d.address));
    for (const p of vdpaPorts) {
      const slot = p['binding:profile']?.pci_slot;
      if (p['binding:host_id'] !== host) problems.push(`${what}: port ${p.id} bound to ${p['binding:host_id'] || 'no host'}`);
      if (!addresses.has(slot)) problems.push(`${what}: port ${p.id} names ${slot ?? 'no device'}, not one it holds`);
      addresses.delete(slot);
    }
  }
  assert.deepEqual(problems, [], `${problems.join('\n')}\nservers: ${JSON.stringify(dumpServers(aio.dataDir), null, 1)}`);
}

const DESIRED_FOR_STATUS: Record<string, string> = { ACTIVE: 'running', SHUTOFF: 'shutoff', SUSPENDED: 'suspended' };

/**
 * What the agents are told matches the servers: a settled server has one
 * guest, on its host, wanted in the state its status says, answered by the
 * agent, defined with exactly its ports and, for each vdpa port, the
 * character device of the device its binding names. A shelved one has none.
 */
export async function assertGuestsMatchServers(aio: AllInOneProcess, hosts: string[]): Promise<void> {
  const servers = await allServers(aio);
  const ports: any[] = (await aio.api('GET', '/network/v2.0/ports')).body.ports;
  const chardevs = new Map<string, string>();
  for (const host of hosts) {
    for (const d of await aio.pci(host)) if (d.vdpa_chardev) chardevs.set(`${host} ${d.address}`, d.vdpa_chardev);
  }
  const rows = new Map((dumpServers(aio.dataDir) as any[]).map((r) => [r.uuid, r]));
  const problems: string[] = [];
  for (const s of servers) {
    const row = rows.get(s.id);
    const host = s['OS-EXT-SRV-ATTR:host'];
    const what = `${s.name} (${s.id}, ${s.status}, host ${host})`;
    const guests: any[] = row?.guests ?? [];
    if (s.status === 'SHELVED_OFFLOADED') {
      if (guests.length) problems.push(`${what}: shelved with guests on ${guests.map((g) => g.host).join(', ')}`);
      continue;
    }
    const desired = DESIRED_FOR_STATUS[s.status];
    if (!desired) continue;
    const elsewhere = guests.filter((g) => g.host !== host);
    if (elsewhere.length) problems.push(`${what}: guests also on ${elsewhere.map((g) => `${g.host} (${g.desired_state})`).join(', ')}`);
    const guest = guests.find((g) => g.host === host);
    if (!guest) {
      problems.push(`${what}: no guest on its host`);
      continue;
    }
    if (guest.desired_state !== desired) problems.push(`${what}: guest wanted ${guest.desired_state}, not ${desired}`);
    if (guest.observed_generation !== guest.generation) problems.push(`${what}: generation ${guest.generation} not answered (${guest.observed_generation})`);
    const db = new BetterSqlite3(join(aio.dataDir, 'vdpa-compute.sqlite'), { readonly: true, fileMustExist: true });
    let spec: any;
    try {
      spec = JSON.parse((db.prepare('select spec from guests where instance_uuid = ? and host = ?').get(s.id, host) as { spec: string }).spec);
    } finally {
      db.close();
    }
    const mine = ports.filter((p) => p.device_id === s.id);
    const specPorts = spec.interfaces.map((i: any) => i.portId).sort();
    const portIds = mine.map((p) => p.id).sort();
    if (JSON.stringify(specPorts) !== JSON.stringify(portIds)) problems.push(`${what}: guest defined with ports ${specPorts} for ${portIds}`);
    for (const p of mine.filter((x) => x['binding:vnic_type'] === 'vdpa')) {
      const iface = spec.interfaces.find((i: any) => i.portId === p.id);
      const want = chardevs.get(`${host} ${p['binding:profile']?.pci_slot}`);
      if (iface && iface.vdpaChardev !== want) problems.push(`${what}: port ${p.id} defined on ${iface.vdpaChardev}, its device's is ${want}`);
    }
  }
  assert.deepEqual(problems, [], `${problems.join('\n')}\nservers: ${JSON.stringify(dumpServers(aio.dataDir), null, 1)}`);
}
