import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonPath, libvirtAddonBuilt } from '../../../src/agent/drivers/libvirt/connection.js';
import type { GuestInterface, GuestSpec } from '../../../src/domain/guest/spec.js';

/** The repository root, from test/ or dist/test/. */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

export const HOST_XML = path.join(repoRoot(), 'test', 'fixtures', 'libvirt', 'vdpa-host.xml');
export const TEST_URI = `test://${HOST_XML}`;

/** These tests run in CI and must fail, never skip, when the addon is missing. */
export function requireAddon(): void {
  if (!libvirtAddonBuilt()) {
    throw new Error(`the libvirt addon is not built (${addonPath()}): run scripts/build-native.sh (npm test runs scripts/ensure-libvirtd.sh, which builds it)`);
  }
}

export function guestSpec(interfaces: GuestInterface[], tag = 'g'): GuestSpec {
  const uuid = randomUUID();
  return {
    uuid,
    name: `vdpa-test-${tag}-${uuid.slice(0, 8)}`,
    displayName: `libvirt test ${tag}`,
    vcpus: 1,
    memoryMb: 64,
    diskGb: 0,
    imageRef: 'none',
    interfaces,
    hostdevs: [],
  };
}

export function vdpaNic(chardev: string, mac: string): GuestInterface {
  return { portId: `port-${mac}`, macAddress: mac, kind: 'vdpa', vdpaChardev: chardev };
}

export function ethernetNic(mac: string): GuestInterface {
  return { portId: `port-${mac}`, macAddress: mac, kind: 'ethernet' };
}
