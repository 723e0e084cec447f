import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { startAllInOneProcess, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { credentialsOf, launchChromium, signIn } from '../helpers/dashboardBrowser.js';

/** An element's text with its runs of white space as one space. */
const squeeze = (text: string | null) => (text ?? '').replace(/\s+/g, ' ').trim();

/** The product's promise: a change shows on an open page within this long, without a reload. */
const UPDATE_MS = 2_000;

/** The dashboard in Debian's headless chromium against `vdpa-compute serve` (two hosts of 1 PF + 4 vDPA VFs). */
describe('the operator dashboard in a browser', { timeout: 150_000 }, () => {
  let aio: AllInOneProcess;
  let browser: Browser;
  let networkId: string;
  let imageId: string;
  const outside: string[] = [];

  before(async () => {
    [aio, browser] = await Promise.all([startAllInOneProcess(), launchChromium()]);
    networkId = (await aio.api('GET', '/network/v2.0/networks?name=vdpa-net')).body.networks[0].id;
    imageId = (await aio.api('GET', '/image/v2/images?name=cirros')).body.images[0].id;
  });
  after(async () => {
    await browser?.close();
    await aio?.stop();
  });

  /** A page that records every request leaving the controller's listener (the dashboard must work offline). */
  async function newPage(): Promise<Page> {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.on('request', (r) => { if (!r.url().startsWith(`${aio.url}/`)) outside.push(r.url()); });
    return page;
  }

  async function bootServer(name: string, user: 'admin' | 'demo' = 'admin'): Promise<any> {
    const port = await aio.api('POST', '/network/v2.0/ports', { port: { network_id: networkId, name: `${name}-port`, 'binding:vnic_type': 'vdpa' } }, { user });
    assert.equal(port.status, 201);
    const created = await aio.api('POST', '/compute/v2.1/servers', { server: {
      name, imageRef: imageId, flavorRef: '1', networks: [{ port: port.body.port.id }],
    } }, { user });
    assert.equal(created.status, 202);
    return aio.waitForServer(created.body.server.id, ['ACTIVE']);
  }

  test('an admin signs in and sees every host with its NIC and devices, each with its status in text', { timeout: 300_000 }, async () => {
    const page = await newPage();
    await page.goto(`${aio.url}/dashboard`);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Sign out' }).isVisible(), false);
    await signIn(page, aio.url, await credentialsOf(aio.dataDir, 'admin'));
    await page.getByRole('heading', { level: 1, name: 'Fleet' }).waitFor();
    for (const host of ['compute-0', 'compute-1']) {
      const section = page.locator(`section.host[data-host="${host}"]`);
      await section.getByRole('heading', { level: 2, name: host }).waitFor();
      assert.deepEqual(await section.locator('.host-state li').allTextContents(), ['up', 'enabled', 'service version 66']);
      await section.getByRole('heading', { level: 3, name: 'NIC 0000:06:00.0 PF available', exact: true }).waitFor();
      const cells = section.getByRole('list', { name: `Devices of NIC 0000:06:00.0 on ${host}` }).getByRole('listitem');
      assert.equal(await cells.count(), 4);
      // Readable without colour: each cell says its status (abbreviated, and in full for screen readers).
      for (const text of await cells.allTextContents()) assert.match(squeeze(text), /^AVavailable 06:00\.[1-4] vDPA no server$/);
    }
    assert.match(await page.getByTestId('fleet-counts').textContent() ?? '', /^8 available$/);
    assert.deepEqual(outside, []);
  });

  test("a host's devices change state as a server boots and is deleted, and the server view shows it", { timeout: 300_000 }, async () => {
    const page = await newPage();
    await signIn(page, aio.url, await credentialsOf(aio.dataDir, 'admin'));
    await page.getByRole('heading', { level: 1, name: 'Fleet' }).waitFor();
    await page.evaluate(() => { (window as unknown as { notReloaded: boolean }).notReloaded = true; });

    const server = await bootServer('dash-vm');
    const host: string = server['OS-EXT-SRV-ATTR:host'];
    const [device] = (await aio.pci(host)).filter((d) => d.instance_uuid === server.id);
    const cell = page.locator(`section.host[data-host="${host}"] .cell[data-address="${device.address}"]`);
    await page.locator(`section.host[data-host="${host}"] .cell[data-address="${device.address}"][data-status="allocated"]`).waitFor({ timeout: UPDATE_MS });
    assert.match(squeeze(await cell.textContent()), /^ALallocated 06:00\.[1-4] vDPA dash-vm$/);
    assert.match(await page.locator(`section.host[data-host="${host}"] .counts`).textContent() ?? '', /^4 devices: 3 available, 1 allocated$/);
    assert.equal(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), true);

    // The filters: allocated devices only, then a physical network nobody has.
    await page.getByLabel('Status').selectOption('allocated');
    assert.equal(await page.locator('.cell').count(), 1);
    assert.equal(await page.getByTestId('fleet-counts').textContent(), '1 allocated');
    await page.getByLabel('Status').selectOption('');
    assert.deepEqual(await page.getByLabel('Physical network').locator('option').allTextContents(), ['All', 'physnet0']);

    // Keyboard: the server's link in its cell opens the server view.
    await cell.getByRole('link', { name: 'dash-vm' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Server dash-vm' }).waitFor();
    await page.getByTestId('server-status').filter({ hasText: 'ACTIVE' }).waitFor();
    assert.equal(await page.getByTestId('server-task-state').textContent(), '—');
    assert.equal(await page.getByTestId('server-host').textContent(), host);
    const portRow = page.getByRole('table', { name: '1 port' }).locator('tbody tr');
    assert.match(squeeze(await portRow.textContent()), new RegExp(`vdpa ACTIVE .* ${host} ovs ${device.address} physnet0 ALallocated vdpa ${device.vdpa_chardev}$`));
    await page.getByRole('table', { name: /^1 action/ }).getByRole('rowheader', { name: 'create' }).waitFor();
    const xml = (await page.getByLabel('Domain XML text').textContent())!;
    assert.ok(xml.startsWith('<domain type="kvm">'), xml.slice(0, 80));
    assert.ok(xml.includes(`<source dev="${device.vdpa_chardev}"/>`));

    // Deleting it frees the device: back on the host's page, within the same bound.
    await page.getByRole('link', { name: host }).first().click();
    await page.getByRole('heading', { level: 1, name: `Host ${host}` }).waitFor();
    const row = page.locator(`table.devices tr[data-address="${device.address}"]`);
    assert.match(squeeze(await row.textContent()), /ALallocated allocated .* dash-vm/);
    assert.equal((await aio.api('DELETE', `/compute/v2.1/servers/${server.id}`)).status, 204);
    await aio.waitForServer(server.id, ['DELETED']);
    await page.locator(`table.devices tr[data-address="${device.address}"][data-status="available"]`).waitFor({ timeout: UPDATE_MS });
    assert.equal(await page.getByTestId('host-counts').textContent(), '4 available');
    assert.deepEqual(outside, []);
  });

  test("a member signs in and sees only their project's servers, and no fleet", { timeout: 300_000 }, async () => {
    const [mine, theirs] = await Promise.all([bootServer('demo-vm', 'demo'), bootServer('admin-vm', 'admin')]);
    const page = await newPage();
    await signIn(page, aio.url, await credentialsOf(aio.dataDir, 'demo'), '#/fleet');
    await page.getByRole('heading', { level: 1, name: 'Servers' }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'Fleet' }).isVisible(), false);
    const rows = page.getByRole('table', { name: '1 server' }).locator('tbody tr');
    assert.equal(await rows.count(), 1);
    assert.equal(await rows.getAttribute('data-server'), mine.id);
    assert.match(squeeze(await rows.textContent()), /^demo-vm ACTIVE/);
    await rows.getByRole('link', { name: 'demo-vm' }).click();
    await page.getByRole('heading', { level: 1, name: 'Server demo-vm' }).waitFor();
    await page.getByTestId('server-status').filter({ hasText: 'ACTIVE' }).waitFor();
    // Host and domain XML are admin-only in the API: a member's page leaves them out.
    assert.equal(await page.getByTestId('server-host').count(), 0);
    assert.equal(await page.getByRole('heading', { name: 'Domain XML' }).count(), 0);
    assert.notEqual(mine.id, theirs.id);
    assert.deepEqual(outside, []);
  });
});
