/**
 * `npm run bench:dashboard`: the dashboard's fleet page with 1,000 simulated
 * hosts (1 PF + V vDPA VFs each, S servers booted so cells name servers) in
 * headless chromium. Each run reloads the signed-in page and times it from the
 * start of the navigation until every host's section is in the DOM and the
 * browser has painted it. The last line printed is one JSON object.
 */
import { Command, InvalidArgumentError } from 'commander';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startController, type ControllerProcess } from './lib/controllerProcess.js';
import { JsonClient, runConcurrently } from './lib/http.js';
import { generatedInventoryJson } from './lib/inventoryFile.js';
import { quantile, round } from './lib/stats.js';
import { machineReferenceMs } from './lib/machineReference.js';
import { credentialsOf, launchChromium, signIn } from '../test/helpers/dashboardBrowser.js';

function whole(min: number) {
  return (v: string): number => {
    const n = Number.parseInt(v, 10);
    if (!Number.isInteger(n) || n < min || String(n) !== v.trim()) throw new InvalidArgumentError(`must be a whole number >= ${min}`);
    return n;
  };
}

const program = new Command()
  .name('bench:dashboard')
  .description("time the dashboard's fleet page with many simulated hosts in headless chromium")
  .option('--hosts <n>', 'simulated compute hosts', whole(1), 1000)
  .option('--vfs <n>', 'vDPA VFs per host (one PF each)', whole(0), 4)
  .option('--servers <n>', 'servers booted before timing (one vDPA port each)', whole(0), 1000)
  .option('--runs <n>', 'timed page loads', whole(1), 5);

interface Options { hosts: number; vfs: number; servers: number; runs: number }

const log = (msg: string) => process.stderr.write(`[bench:dashboard] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function expectStatus(api: JsonClient, method: string, path: string, body: unknown, status: number): Promise<any> {
  const r = await api.call(method, path, body);
  if (r.status !== status) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  return r.body;
}

async function bootServers(api: JsonClient, count: number): Promise<void> {
  if (count === 0) return;
  const net = (await expectStatus(api, 'POST', '/network/v2.0/networks', { network: {
    name: 'bench-net', shared: true, 'provider:physical_network': 'physnet0', 'provider:network_type': 'vlan',
  } }, 201)).network;
  await expectStatus(api, 'POST', '/network/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, cidr: '10.128.0.0/9' } }, 201);
  const image = (await expectStatus(api, 'GET', '/image/v2/images?name=cirros', undefined, 200)).images[0].id;
  await runConcurrently(count, 16, async (i) => {
    const port = await expectStatus(api, 'POST', '/network/v2.0/ports', { port: { network_id: net.id, 'binding:vnic_type': 'vdpa' } }, 201);
    await expectStatus(api, 'POST', '/compute/v2.1/servers', { server: {
      name: `vm-${i}`, imageRef: image, flavorRef: '1', networks: [{ port: port.port.id }],
    } }, 202);
  });
  for (;;) {
    const servers = (await expectStatus(api, 'GET', '/compute/v2.1/servers/detail?all_tenants=1', undefined, 200)).servers as any[];
    const active = servers.filter((s) => s.status === 'ACTIVE').length;
    if (servers.some((s) => s.status === 'ERROR')) throw new Error('a server went to ERROR');
    if (active === count) return;
    await sleep(250);
  }
}

async function run(o: Options): Promise<Record<string, unknown>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'vdpa-bench-dash-'));
  const hostsFile = join(dataDir, 'hosts.json');
  await writeFile(hostsFile, generatedInventoryJson(o.hosts, o.vfs));
  let controller: ControllerProcess | null = null;
  let api: JsonClient | null = null;
  const browser = await launchChromium();
  const referenceBefore = machineReferenceMs();
  try {
    controller = await startController({ VDPA_DATA_DIR: dataDir, VDPA_HOSTS_FILE: hostsFile });
    const base = controller.url.origin;
    api = new JsonClient(controller.url, 16);
    const admin = await credentialsOf(dataDir, 'admin');
    const tokenRes = await api.call('POST', '/identity/v3/auth/tokens', { auth: {
      identity: { methods: ['password'], password: { user: { name: admin.username, domain: { name: 'Default' }, password: admin.password } } },
    } });
    api.token = String(tokenRes.headers['x-subject-token']);
    await bootServers(api, o.servers);
    log(`${o.hosts} hosts, ${o.servers} servers ACTIVE`);
    const fleet = await api.call('GET', '/compute/v2.1/os-vdpa-fleet');
    const payloadBytes = Buffer.byteLength(JSON.stringify(fleet.body));

    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.on('console', (m) => log(`console ${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => log(`page error: ${e.message}`));
    await signIn(page, base, admin, '#/fleet');
    const loads: number[] = [];
    const rendered: number[] = [];
    for (let i = 0; i < o.runs + 1; i += 1) {
      const started = Date.now();
      await page.reload({ waitUntil: 'commit' });
      await page.waitForFunction((n) => document.querySelectorAll('section.host').length === n, o.hosts, { timeout: 60_000 })
        .catch(async (e: Error) => {
          throw new Error(`${e.message}\n${(await page.locator('main').textContent())?.replace(/\s+/g, ' ').slice(0, 500)}`);
        });
      // Until the frame holding them is painted.
      const inPage = await page.evaluate(() => new Promise<{ paintedAt: number; renderedAt: number }>((resolve) => {
        requestAnimationFrame(() => setTimeout(() => resolve({
          paintedAt: performance.now(),
          renderedAt: performance.getEntriesByName('vdpa-fleet-rendered')[0]?.startTime ?? -1,
        })));
      }));
      const wall = Date.now() - started;
      if (i === 0) continue; // the first load warms the controller's statement cache and the browser's
      loads.push(round(inPage.paintedAt));
      rendered.push(round(inPage.renderedAt));
      log(`load ${i}: painted ${round(inPage.paintedAt)} ms after navigation start (DOM built at ${round(inPage.renderedAt)} ms; ${wall} ms wall)`);
    }
    const cells = await page.locator('.cell').count();
    loads.sort((a, b) => a - b);
    rendered.sort((a, b) => a - b);
    return {
      hosts: o.hosts, vfs_per_host: o.vfs, servers: o.servers, cells, fleet_json_bytes: payloadBytes, runs: o.runs,
      load_ms: { p50: quantile(loads, 0.5), max: loads[loads.length - 1] },
      dom_built_ms: { p50: quantile(rendered, 0.5), max: rendered[rendered.length - 1] },
      chromium: browser.version(),
      machine_reference_ms: { before: referenceBefore, after: machineReferenceMs() },
    };
  } finally {
    await browser.close();
    api?.close();
    await controller?.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

const o = program.parse().opts<Options>();
const result = await run(o);
process.stdout.write(`${JSON.stringify(result)}\n`);
