import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startTestController, type TestController } from '../helpers/testController.js';

const run = promisify(execFile);

/** The child sees only clouds.yaml, never OS_* settings of whoever runs the tests. */
function clientEnv(cloudsFile: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OS_')) env[k] = v;
  env.OS_CLIENT_CONFIG_FILE = cloudsFile;
  return env;
}

describe('the real openstack client against a bootstrapped controller', () => {
  let c: TestController;
  before(async () => { c = await startTestController(); });
  after(async () => { await c.close(); });

  async function openstack(...args: string[]): Promise<string> {
    const { stdout } = await run('openstack', args, { env: clientEnv(join(c.dataDir, 'clouds.yaml')), timeout: 60_000 });
    return stdout;
  }

  it('lists images with the written clouds.yaml', { timeout: 120_000 }, async () => {
    const rows = JSON.parse(await openstack('--os-cloud', 'vdpa-compute', 'image', 'list', '-f', 'json')) as Array<Record<string, string>>;
    const cirros = rows.find((r) => r.Name === 'cirros');
    assert.ok(cirros, JSON.stringify(rows));
    assert.equal(cirros.Status, 'active');
  });

  for (const cloud of ['vdpa-compute', 'vdpa-compute-demo']) {
    it(`lists flavors as ${cloud}`, { timeout: 120_000 }, async () => {
      const rows = JSON.parse(await openstack('--os-cloud', cloud, 'flavor', 'list', '-f', 'json')) as Array<Record<string, unknown>>;
      const small = rows.find((r) => r.Name === 'm1.small');
      assert.ok(small, JSON.stringify(rows));
      assert.equal(small.ID, '2');
      assert.equal(small.RAM, 2048);
      assert.equal(small.VCPUs, 1);
    });
  }
});
