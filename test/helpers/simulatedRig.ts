/**
 * A controller in this process with two simulated vDPA hosts (compute-0,
 * compute-1: 1 PF + 4 VFs each) whose driver can be told to fail spawns, on
 * SQLite or on a PostgreSQL database of its own, and the API helpers the
 * controller-level lifecycle tests share.
 */
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { pino } from 'pino';
import { ComputeAgent } from '../../src/agent/computeAgent.js';
import { SimulatedDriver } from '../../src/agent/drivers/simulated.js';
import { simulatedDiscovery } from '../../src/agent/simulatedHost.js';
import { createAgentLink } from '../../src/controller/services/agentLink.js';
import { parseHostInventory, simulatedFunctions } from '../../src/domain/inventory/hostInventory.js';
import { vdpaHost } from './allInOneProcess.js';
import { startTestController, withPostgresDatabase, type TestController } from './testController.js';

export const HOSTS = ['compute-0', 'compute-1'];

export interface Rig {
  tc: TestController;
  agents: ComputeAgent[];
  drivers: Map<string, SimulatedDriver>;
  failOn: Set<string>;
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

/** A controller in this process and two simulated hosts whose driver can be told to fail spawns. */
export async function startRig(databaseUrl?: string): Promise<Rig> {
  const tc = await startTestController(databaseUrl ? { databaseUrl } : {});
  const link = createAgentLink(tc.ctx);
  const failOn = new Set<string>();
  const drivers = new Map<string, SimulatedDriver>();
  const entries = parseHostInventory(stringify({ hosts: HOSTS.map((h) => vdpaHost(h)) }), 'test');
  const agents = entries.map((entry) => {
    const chardevs = new Set(simulatedFunctions(entry).map((f) => f.vdpaChardev).filter((c): c is string => c !== null));
    const driver = new SimulatedDriver({
      hostName: entry.name, availableChardevs: () => chardevs,
      failSpawnWith: () => (failOn.has(entry.name) ? 'internal error: qemu unexpectedly closed the monitor' : null),
    });
    drivers.set(entry.name, driver);
    return new ComputeAgent({
      identity: { host: entry.name, serviceVersion: entry.serviceVersion, hypervisorType: 'QEMU', hostIp: entry.hostIp, vcpus: entry.vcpus, memoryMb: entry.memoryMb, diskGb: entry.diskGb },
      discovery: simulatedDiscovery(entry), driver, link, log: pino({ level: 'silent' }), heartbeatMs: 10_000,
    });
  });
  await Promise.all(agents.map((a) => a.start()));
  const token = await tc.token('admin');
  return {
    tc, agents, drivers, failOn,
    async api(method, path, body, headers = {}) {
      const res = await fetch(`${tc.url}${path}`, {
        method, headers: { 'x-auth-token': token, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    async stop() {
      await Promise.all(agents.map((a) => a.stop()));
      await tc.close();
    },
  };
}

export async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function server(rig: Rig, id: string): Promise<any> {
  return (await rig.api('GET', `/compute/v2.1/servers/${id}`)).body.server;
}

export async function waitStatus(rig: Rig, id: string, statuses: string[]): Promise<any> {
  return until(`${id} in ${statuses.join('/')}`, async () => {
    const s = await server(rig, id);
    return statuses.includes(s.status) ? s : null;
  });
}

export async function free(rig: Rig, host: string): Promise<number> {
  const r = await rig.api('GET', `/compute/v2.1/os-pci/detail?host=${host}`);
  return r.body.pci_devices.filter((d: any) => d.status === 'available').length;
}

export async function boot(rig: Rig, name: string): Promise<{ id: string; portId: string; host: string }> {
  const net = await rig.api('GET', '/network/v2.0/networks?name=vdpa-net');
  const port = await rig.api('POST', '/network/v2.0/ports', { port: { name, network_id: net.body.networks[0].id, 'binding:vnic_type': 'vdpa' } });
  const image = (await rig.api('GET', '/image/v2/images?name=cirros')).body.images[0].id;
  const created = await rig.api('POST', '/compute/v2.1/servers', { server: { name, imageRef: image, flavorRef: '1', networks: [{ port: port.body.port.id }] } });
  assert.equal(created.status, 202, JSON.stringify(created.body));
  const s = await waitStatus(rig, created.body.server.id, ['ACTIVE']);
  return { id: s.id, portId: port.body.port.id, host: s['OS-EXT-SRV-ATTR:host'] };
}


/**
 * Runs a suite's rig on a backend: `before` starts it, `after` stops it (and
 * drops the PostgreSQL database, which lives as long as the suite).
 */
export function rigOn(backend: 'sqlite' | 'postgres'): { start(): Promise<Rig>; stop(): Promise<void> } {
  let rig: Rig | undefined;
  let release: (() => void) | undefined;
  let dbDone: Promise<void> | undefined;
  return {
    async start() {
      if (backend === 'sqlite') return (rig = await startRig());
      return new Promise<Rig>((resolveRig, rejectRig) => {
        dbDone = withPostgresDatabase(async (url) => {
          try {
            rig = await startRig(url);
            resolveRig(rig);
            await new Promise<void>((res) => { release = res; });
            await rig.stop();
          } catch (e) {
            rejectRig(e);
          }
        });
      });
    },
    async stop() {
      if (backend === 'sqlite') await rig?.stop();
      else {
        release?.();
        await dbDone;
      }
    },
  };
}
