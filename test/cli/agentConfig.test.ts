import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AgentConfigFileError, readAgentConfig, withConfigFile } from '../../src/cli/agentConfig.js';

describe('vdpa-compute agent --config FILE', { timeout: 10_000 }, () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'vdpa-agentcfg-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  const file = async (name: string, text: string) => {
    const p = join(dir, name);
    await writeFile(p, text);
    return p;
  };

  test('maps every setting to its option, credential and device_spec inline or as files', { timeout: 120_000 }, async () => {
    const cfg = await readAgentConfig(await file('a.yaml', [
      'controller: [http://ctl-a:8774, http://ctl-b:8774]',
      'libvirt_uri: qemu+tcp://10.0.0.5/system',
      'host_ip: 10.0.0.5',
      'credentials: {username: compute-agent, password: s3cret, project_name: service}',
      'device_spec:',
      '  - {vendor_id: "15b3", product_id: "101e", physical_network: physnet0}',
      'rediscover_seconds: 30',
      'track_software_vdpa: true',
      'instances_path: /srv/instances',
    ].join('\n')));
    assert.deepEqual(cfg, {
      controller: ['http://ctl-a:8774', 'http://ctl-b:8774'],
      libvirtUri: 'qemu+tcp://10.0.0.5/system',
      hostIp: '10.0.0.5',
      credentials: { username: 'compute-agent', password: 's3cret', project_name: 'service' },
      deviceSpec: [{ vendor_id: '15b3', product_id: '101e', physical_network: 'physnet0' }],
      rediscoverSeconds: 30,
      trackSoftwareVdpa: true,
      instancesPath: '/srv/instances',
    });
    const paths = await readAgentConfig(await file('b.yaml', 'controller: http://ctl:8774\ncredentials: /etc/vdpa-compute/credentials.yaml\ndevice_spec: /etc/vdpa-compute/device_spec.yaml\n'));
    assert.deepEqual(paths, {
      controller: ['http://ctl:8774'], credentials: '/etc/vdpa-compute/credentials.yaml', deviceSpec: '/etc/vdpa-compute/device_spec.yaml',
    });
  });

  test('config/agent.example.yaml (the file docs/agent.md installs) is a valid settings file', { timeout: 120_000 }, async () => {
    const root = join(import.meta.dirname, '../../..');
    const cfg = await readAgentConfig(join(root, 'config', 'agent.example.yaml'));
    assert.deepEqual(cfg.controller, ['http://192.0.2.10:8774']);
    assert.equal(cfg.libvirtUri, 'qemu:///system');
    assert.equal(cfg.rediscoverSeconds, 60);
    assert.equal((cfg.deviceSpec as unknown[]).length, 1);
  });

  test('refuses an unknown setting or a wrong type, naming it', { timeout: 120_000 }, async () => {
    await assert.rejects(readAgentConfig(await file('c.yaml', 'controler: http://x\n')), (e: unknown) =>
      e instanceof AgentConfigFileError && /unknown setting 'controler'/.test(e.message));
    await assert.rejects(readAgentConfig(await file('d.yaml', 'rediscover_seconds: soon\n')), /'rediscover_seconds' must be a number of seconds > 0/);
    await assert.rejects(readAgentConfig(await file('e.yaml', '- a\n- b\n')), /expected a mapping/);
  });

  test('an option given on the command line wins over the file; defaults do not', { timeout: 120_000 }, () => {
    const fromCli = { libvirtUri: 'qemu:///system', host: 'from-cli', heartbeatSeconds: 10 };
    const merged = withConfigFile(fromCli, { libvirtUri: 'qemu+tcp://h/system', host: 'from-file', heartbeatSeconds: 2 },
      (field) => field === 'host');
    assert.deepEqual(merged, { libvirtUri: 'qemu+tcp://h/system', host: 'from-cli', heartbeatSeconds: 2 });
  });
});
