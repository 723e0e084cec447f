/**
 * `npm run screenshots`: starts the all-in-one with three simulated hosts
 * (one with two NICs on two physical networks, one whose kernel is too old
 * for vDPA), boots a few servers, disables a host, and writes the dashboard's
 * fleet, host and server views to docs/img/dashboard-{fleet,host,server}.png
 * from headless chromium.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../test/helpers/allInOneProcess.js';
import { credentialsOf, launchChromium, signIn } from '../test/helpers/dashboardBrowser.js';

const ROOT = resolve(import.meta.dirname, '../..');
const OUT = join(ROOT, 'docs/img');
const log = (msg: string) => process.stderr.write(`[screenshots] ${msg}\n`);

function twoNicHost(name: string) {
  return {
    ...vdpaHost(name),
    device_spec: [
      { address: '0000:06:00.0', physical_network: 'physnet0' },
      { address: '0000:86:00.0', physical_network: 'physnet1' },
    ],
    nics: [
      { pf: '0000:06:00.0', vendor_id: '15b3', product_id: '101d', numa_node: 0, vfs: 4, vf_product_id: '101e', vdpa: true },
      { pf: '0000:86:00.0', vendor_id: '15b3', product_id: '101d', numa_node: 1, vfs: 4, vf_product_id: '101e', vdpa: true },
    ],
  };
}

async function must(aio: AllInOneProcess, method: string, path: string, body: unknown, status: number): Promise<any> {
  const r = await aio.api(method, path, body);
  if (r.status !== status) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  return r.body;
}

async function boot(aio: AllInOneProcess, name: string, networkId: string, imageId: string): Promise<any> {
  const port = await must(aio, 'POST', '/network/v2.0/ports', { port: { network_id: networkId, name: `${name}-port`, 'binding:vnic_type': 'vdpa' } }, 201);
  const created = await must(aio, 'POST', '/compute/v2.1/servers', { server: {
    name, imageRef: imageId, flavorRef: '2', networks: [{ port: port.port.id }],
  } }, 202);
  return aio.waitForServer(created.server.id, ['ACTIVE']);
}

async function main(): Promise<void> {
  const aio = await startAllInOneProcess({
    hosts: [twoNicHost('compute-0'), vdpaHost('compute-1'), vdpaHost('compute-2', { versions: { kernel: '5.4.0', libvirt: '9.0.0', qemu: '7.2.0' } })],
  });
  const browser = await launchChromium();
  try {
    const net0 = (await must(aio, 'GET', '/network/v2.0/networks?name=vdpa-net', undefined, 200)).networks[0].id;
    const net1 = (await must(aio, 'POST', '/network/v2.0/networks', { network: {
      name: 'storage-net', shared: true, 'provider:physical_network': 'physnet1', 'provider:network_type': 'vlan',
    } }, 201)).network.id;
    await must(aio, 'POST', '/network/v2.0/subnets', { subnet: { network_id: net1, ip_version: 4, cidr: '10.1.0.0/24', name: 'storage-subnet' } }, 201);
    const image = (await must(aio, 'GET', '/image/v2/images?name=cirros', undefined, 200)).images[0].id;
    // Only compute-0 has a NIC on physnet1: db-1 lands there.
    const db = await boot(aio, 'db-1', net1, image);
    for (const name of ['web-1', 'web-2', 'web-3']) await boot(aio, name, net0, image);
    await must(aio, 'PUT', '/compute/v2.1/os-services/disable-log-reason',
      { host: 'compute-1', binary: 'nova-compute', disabled_reason: 'NIC firmware update' }, 200);
    log(`servers booted; db-1 is ${db.id}`);

    await mkdir(OUT, { recursive: true });
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 760 }, deviceScaleFactor: 1 })).newPage();
    await signIn(page, aio.url, await credentialsOf(aio.dataDir, 'admin'), '#/fleet');
    await page.locator('section.host').nth(2).waitFor();
    await page.screenshot({ path: join(OUT, 'dashboard-fleet.png'), fullPage: true });

    await page.goto(`${aio.url}/dashboard#/host/compute-0`);
    await page.locator('table.devices').nth(1).waitFor();
    await page.screenshot({ path: join(OUT, 'dashboard-host.png'), fullPage: true });

    await page.goto(`${aio.url}/dashboard#/server/${db.id}`);
    await page.locator('pre.xml').waitFor();
    await page.screenshot({ path: join(OUT, 'dashboard-server.png'), fullPage: true });
    log(`wrote ${['fleet', 'host', 'server'].map((v) => `docs/img/dashboard-${v}.png`).join(', ')}`);
  } finally {
    await browser.close();
    await aio.stop();
  }
}

await main();
