/**
 * The software versions a host reports at registration. The kernel comes from
 * the host itself; libvirt and QEMU versions come from the virt driver (libvirt's
 * getLibVersion / getVersion), so they are parameters here.
 */
import { readFile } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import type { HostVersions } from '../../protocol/agentProtocol.js';

export interface HostVersionSources {
  /** Where procfs is mounted (default /proc); tests use a fixture tree. */
  procRoot?: string;
  libvirt: string;
  qemu: string;
}

export async function readKernelRelease(procRoot = '/proc'): Promise<string> {
  try {
    return (await readFile(join(procRoot, 'sys/kernel/osrelease'), 'utf8')).trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || procRoot !== '/proc') throw e;
    return release(); // no procfs mounted (some containers): the running kernel's release from uname
  }
}

export async function readHostVersions(sources: HostVersionSources): Promise<HostVersions> {
  return { kernel: await readKernelRelease(sources.procRoot), libvirt: sources.libvirt, qemu: sources.qemu };
}

/** libvirt encodes versions as major * 1,000,000 + minor * 1,000 + release (9000000 is 9.0.0). */
export function libvirtVersionString(encoded: number): string {
  return `${Math.floor(encoded / 1_000_000)}.${Math.floor(encoded / 1000) % 1000}.${encoded % 1000}`;
}
