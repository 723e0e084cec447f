/**
 * The end-to-end tests run the openstack and nova clients preloaded
 * (test/helpers/clientCommands.ts): a fork of a Python that imported the
 * client. That must be the client exactly as its console script runs it: the
 * same stdout, stderr and exit code as the script exec'd, for output formats,
 * API errors, argument errors (which name the program) and nova.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runClient, type ClientMode } from '../helpers/clientCommands.js';
import { startTestController, type TestController } from '../helpers/testController.js';

describe('preloaded openstack and nova commands answer as the exec\'d console scripts do', { timeout: 180_000 }, () => {
  let c: TestController;
  before(async () => { c = await startTestController(); });
  after(async () => { await c?.close(); });

  function env(): NodeJS.ProcessEnv {
    const e: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OS_')) e[k] = v;
    return { ...e, OS_CLIENT_CONFIG_FILE: join(c.dataDir, 'clouds.yaml'), OS_CLOUD: 'vdpa-compute' };
  }
  // novaclient ignores OS_CLOUD; the demo user's openrc variables instead.
  function novaEnv(): NodeJS.ProcessEnv {
    return {
      ...env(), OS_AUTH_URL: `${c.url}/identity/v3`, OS_USERNAME: 'demo', OS_PASSWORD: c.demoPassword, OS_PROJECT_NAME: 'demo',
      OS_USER_DOMAIN_NAME: 'Default', OS_PROJECT_DOMAIN_NAME: 'Default', OS_IDENTITY_API_VERSION: '3',
    };
  }
  /** Request ids differ from run to run. */
  const steady = (s: string) => s.replace(/req-[0-9a-f-]{36}/g, 'req-…');

  const cases: Array<[string, 'openstack' | 'nova', string[]]> = [
    ['JSON output', 'openstack', ['flavor', 'list', '-f', 'json']],
    ['a table', 'openstack', ['image', 'list', '--long']],
    ['a 404 from the API', 'openstack', ['server', 'show', 'no-such-server']],
    ['a microversion the client refuses', 'openstack', ['server', 'lock', '--reason', 'x', 'no-such-server']],
    ['an unknown command (names the program)', 'openstack', ['no-such-command']],
    ['a missing required option (usage)', 'openstack', ['server', 'create', 'vm']],
    ['--version', 'openstack', ['--version']],
    ['nova list', 'nova', ['list']],
    ['nova: not found', 'nova', ['show', 'no-such-server']],
    ['nova: an unknown subcommand', 'nova', ['no-such-command']],
  ];
  for (const [what, cmd, args] of cases) {
    test(`${what}: ${cmd} ${args.join(' ')}`, { timeout: 60_000 }, async () => {
      const run = (mode: ClientMode) => runClient(cmd, args, cmd === 'nova' ? novaEnv() : env(), mode);
      const [exec, preloaded] = await Promise.all([run('exec'), run('preloaded')]);
      assert.deepEqual(
        { code: preloaded.code, stdout: steady(preloaded.stdout), stderr: steady(preloaded.stderr) },
        { code: exec.code, stdout: steady(exec.stdout), stderr: steady(exec.stderr) },
      );
    });
  }
});
