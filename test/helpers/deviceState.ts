import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AllInOneProcess } from './allInOneProcess.js';

const run = promisify(execFile);

/** What a lifecycle step must leave as it was on a server with vdpa ports: devices, the port's binding, the guest. */
export interface DeviceState {
  /** os-pci/detail of the server's host. */
  pci: any[];
  /** The port's binding fields as the Network API shows them. */
  binding: { host: string; profile: unknown; vifType: string; deviceId: string; status: string };
  domainXml: string;
}

export async function deviceStateOf(aio: AllInOneProcess, serverId: string, host: string, portId: string): Promise<DeviceState> {
  const port = (await aio.api('GET', `/network/v2.0/ports/${portId}`)).body.port;
  const xml = await aio.api('GET', `/compute/v2.1/servers/${serverId}/domain-xml`);
  assert.equal(xml.status, 200, JSON.stringify(xml.body));
  return {
    pci: await aio.pci(host),
    binding: {
      host: port['binding:host_id'], profile: port['binding:profile'], vifType: port['binding:vif_type'],
      deviceId: port.device_id, status: port.status,
    },
    domainXml: xml.body.domain_xml,
  };
}

/** libvirt's own schema check of a domain definition (virt-xml-validate FILE domain). */
export async function assertValidDomainXml(xml: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vdpa-xml-'));
  try {
    await writeFile(join(dir, 'domain.xml'), xml);
    const validated = await run('virt-xml-validate', [join(dir, 'domain.xml'), 'domain']);
    assert.match(validated.stdout + validated.stderr, /validates/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The state is as before the step, and the guest definition is still one libvirt accepts. */
export async function assertDevicesUnchanged(aio: AllInOneProcess, before: DeviceState, serverId: string, host: string, portId: string, step: string): Promise<void> {
  const after = await deviceStateOf(aio, serverId, host, portId);
  assert.deepEqual(after.pci, before.pci, `${step}: os-pci/detail of ${host} unchanged`);
  assert.deepEqual(after.binding, before.binding, `${step}: the port's binding unchanged`);
  assert.equal(after.domainXml, before.domainXml, `${step}: the domain XML unchanged`);
  await assertValidDomainXml(after.domainXml);
}
