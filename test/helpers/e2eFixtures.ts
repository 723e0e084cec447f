import assert from 'node:assert/strict';
import { vdpaHost, type AllInOneProcess } from './allInOneProcess.js';

type User = 'admin' | 'demo';

/** The inventory most end-to-end files run on: compute-0 and compute-1, each a default vdpaHost. */
export function twoVdpaHosts(): ReturnType<typeof vdpaHost>[] {
  return [vdpaHost('compute-0'), vdpaHost('compute-1')];
}

/** Request headers that ask the Compute API for microversion `version` (e.g. '2.70'). */
export function computeVersion(version: string): Record<string, string> {
  return { 'openstack-api-version': `compute ${version}` };
}

/** `aio.api` options for compute 2.47, where a server shows its flavor embedded (read it with flavorName). */
export const EMBEDDED_FLAVOR = { headers: computeVersion('2.47') };

/** The flavor name of a server shown at 2.47 or later (the flavor id before that). */
export function flavorName(server: any): string {
  return server.flavor.original_name ?? server.flavor.id;
}

/** Creates a port on vdpa-net through the Network API (vnic type vdpa unless named) and asserts the 201. */
export async function createPort(aio: AllInOneProcess, name: string, vnicType = 'vdpa', user: User = 'admin'): Promise<any> {
  const net = await aio.api('GET', '/network/v2.0/networks?name=vdpa-net', undefined, { user });
  const r = await aio.api('POST', '/network/v2.0/ports', { port: { name, network_id: net.body.networks[0].id, 'binding:vnic_type': vnicType } }, { user });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.port;
}

/** A port as the Network API shows it now. */
export async function showPort(aio: AllInOneProcess, id: string): Promise<any> {
  return (await aio.api('GET', `/network/v2.0/ports/${id}`)).body.port;
}

/** `openstack server create` (m1.tiny, cirros) with these ports; resolves with the server once ACTIVE. */
export async function bootWithPorts(aio: AllInOneProcess, name: string, ports: { id: string }[]): Promise<any> {
  const args = ['server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros'];
  for (const p of ports) args.push('--port', p.id);
  const created = await aio.openstackJson([...args, name]);
  return aio.waitForServer(created.id, ['ACTIVE']);
}

/** Creates the vdpa port `<name>-port` through the API and boots `name` on it (bootWithPorts); resolves once ACTIVE. */
export async function bootOnNewPort(aio: AllInOneProcess, name: string): Promise<{ server: any; port: any }> {
  const port = await createPort(aio, `${name}-port`);
  return { server: await bootWithPorts(aio, name, [port]), port };
}

/** Creates a vdpa port and server `name` (m1.small unless named) with the openstack client alone; asserts it ends ACTIVE. */
export async function bootWithClient(aio: AllInOneProcess, name: string, opts: { portName?: string; flavor?: string } = {}): Promise<{ port: any; server: any; host: string }> {
  const port = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', opts.portName ?? `${name}-port`]);
  const created = await aio.openstackJson(['server', 'create', '--flavor', opts.flavor ?? 'm1.small', '--image', 'cirros', '--port', port.id, name]);
  const server = await aio.waitForServer(created.id, ['ACTIVE']);
  assert.equal(server.status, 'ACTIVE');
  return { port, server, host: server['OS-EXT-SRV-ATTR:host'] as string };
}

/** Deletes the one server called `name` through the API and waits until it is gone (the CLI's --wait polls only every 5 s). */
export async function deleteServerByName(aio: AllInOneProcess, name: string): Promise<void> {
  const list = (await aio.api('GET', `/compute/v2.1/servers?name=^${name}$`)).body.servers;
  assert.equal(list.length, 1);
  assert.equal((await aio.api('DELETE', `/compute/v2.1/servers/${list[0].id}`)).status, 204);
  await aio.waitForServer(list[0].id, ['DELETED']);
}

/** A server's instance actions, newest first. */
export async function instanceActions(aio: AllInOneProcess, serverId: string): Promise<any[]> {
  return (await aio.api('GET', `/compute/v2.1/servers/${serverId}/os-instance-actions`)).body.instanceActions;
}

/** The server's newest migration record, as os-migrations shows it at 2.23. */
export async function lastMigration(aio: AllInOneProcess, serverId: string): Promise<any> {
  const r = await aio.api('GET', `/compute/v2.1/os-migrations?instance_uuid=${serverId}`, undefined, { headers: computeVersion('2.23') });
  return r.body.migrations[0];
}

/** The guest's libvirt domain XML and the host it is defined on. */
export async function domainXml(aio: AllInOneProcess, serverId: string): Promise<{ domain_xml: string; host: string }> {
  return (await aio.api('GET', `/compute/v2.1/servers/${serverId}/domain-xml`)).body;
}

/** Polls `fn` every 50 ms until it returns something truthy, which it resolves with; throws after `timeoutMs`. */
export async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The id of the bootstrap cirros image, for servers created through the API. */
export async function cirrosImageId(aio: AllInOneProcess): Promise<string> {
  return (await aio.api('GET', '/image/v2/images?name=cirros')).body.images[0].id;
}
