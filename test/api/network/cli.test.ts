import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startNetworkHarness, type NetworkHarness } from './harness.js';

const run = promisify(execFile);

describe('networking with the real openstack client', () => {
  let h: NetworkHarness;
  before(async () => { h = await startNetworkHarness(); });
  after(async () => { await h.close(); });

  /** The client configured only by the controller's clouds.yaml: no OS_* from the caller's shell leaks in. */
  async function openstack(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OS_') && v !== undefined) env[k] = v;
    env.OS_CLIENT_CONFIG_FILE = join(h.controller.dataDir, 'clouds.yaml');
    env.OS_CLOUD = 'vdpa-compute-demo';
    try {
      const { stdout, stderr } = await run('openstack', args, { env, timeout: 60_000 });
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
    }
  }

  test('port create, show, list, network list and port delete', { timeout: 120_000 }, async () => {
    const created = await openstack('port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', 'vdpa-port', '-f', 'json');
    assert.equal(created.code, 0, created.stderr);
    const port = JSON.parse(created.stdout);
    assert.equal(port.name, 'vdpa-port');
    assert.equal(port.binding_vnic_type, 'vdpa');

    const shown = await openstack('port', 'show', 'vdpa-port', '-f', 'json');
    assert.equal(shown.code, 0, shown.stderr);
    const show = JSON.parse(shown.stdout);
    assert.equal(show.id, port.id);
    assert.equal(show.binding_vnic_type, 'vdpa');
    assert.match(show.mac_address, /^fa:16:3e/);
    assert.equal(show.network_id, h.sharedNetworkId);

    const nets = await openstack('network', 'list', '-f', 'json');
    assert.equal(nets.code, 0, nets.stderr);
    const vdpaNet = JSON.parse(nets.stdout).find((n: any) => n.Name === 'vdpa-net');
    assert.equal(vdpaNet.ID, h.sharedNetworkId);
    assert.deepEqual(vdpaNet.Subnets, [h.sharedSubnetId]);

    const ports = await openstack('port', 'list', '-f', 'json');
    assert.equal(ports.code, 0, ports.stderr);
    const row = JSON.parse(ports.stdout).find((p: any) => p.ID === port.id);
    assert.equal(row.Name, 'vdpa-port');
    assert.equal(row['MAC Address'], show.mac_address);
    assert.equal(row.Status, 'DOWN');
    assert.match(JSON.stringify(row['Fixed IP Addresses']), /10\.0\.0\.\d+/);

    const deleted = await openstack('port', 'delete', 'vdpa-port');
    assert.equal(deleted.code, 0, deleted.stderr);
    const gone = await openstack('port', 'show', 'vdpa-port');
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /No Port found for vdpa-port/);
  });

  test('the client prints our 400 message when a port is refused', { timeout: 120_000 }, async () => {
    // --vnic-type bogus never leaves the client (argparse choices), so provoke a server-side 400 instead.
    const r = await openstack('port', 'create', '--network', 'vdpa-net', '--mac-address', 'not-a-mac', 'bad-mac');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /BadRequestException: 400.*Invalid input for mac_address/s);
  });
});
