import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GuestInterface, GuestSpec } from '../../../src/domain/guest/spec.js';

export function guestSpec(overrides: Partial<GuestSpec> = {}): GuestSpec {
  return {
    uuid: '6a1f2c9e-3b4d-4e5f-8a7b-1c2d3e4f5a61',
    name: 'instance-6a1f2c9e',
    displayName: 'vm1',
    vcpus: 2,
    memoryMb: 512,
    diskGb: 1,
    imageRef: 'cirros',
    interfaces: [],
    hostdevs: [],
    ...overrides,
  };
}

/** fa:16:3e:xx:xx:xx with n in the last three bytes. */
export function macOf(n: number): string {
  const hex = n.toString(16).padStart(6, '0');
  return `fa:16:3e:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`;
}

export function vdpaPort(n: number): GuestInterface {
  return { portId: `port-vdpa-${n}`, macAddress: macOf(n), kind: 'vdpa', vdpaChardev: `/dev/vhost-vdpa-${n}` };
}

/** Runs libvirt's own schema check (virt-xml-validate, schema 'domain') on a document. */
export function validateDomain(xml: string): { status: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'domainxml-'));
  try {
    const file = join(dir, 'domain.xml');
    writeFileSync(file, xml);
    const r = spawnSync('virt-xml-validate', [file, 'domain'], { encoding: 'utf8' });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
