/**
 * Builds fake sysfs trees in a temp dir, laid out as Linux does it: device
 * directories under devices/, bus/pci/devices and bus/vdpa/devices entries as
 * relative symlinks to them, physfn / virtfnN links between PF and VFs, and a
 * vhost-vdpa-N child in a vDPA device bound to vhost_vdpa.
 */
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';

export interface FixtureVdpa {
  name: string;
  /** N of /dev/vhost-vdpa-N, or null for a vDPA device not bound to vhost_vdpa. */
  chardev: number | null;
}

export interface FixtureFunction {
  address: string;
  vendor: string; // "15b3"
  device: string;
  class?: string; // default "0x020000" (Ethernet)
  numaNode?: number; // default -1 (no NUMA information)
  /** PF address, for a VF. */
  physfn?: string;
  /** For a PF: its sriov_totalvfs; the VFs themselves are the functions naming it as physfn. */
  totalVfs?: number;
  netdev?: string;
  vdpa?: FixtureVdpa;
}

export interface FixtureHost {
  functions: FixtureFunction[];
  /** vDPA devices without a PCI parent, as vdpa_sim creates them. */
  softwareVdpa?: FixtureVdpa[];
}

export async function buildSysfs(host: FixtureHost): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'vdpa-sysfs-'));
  const dirOf = (address: string) => {
    const [domain, bus] = address.split(':');
    return join(root, 'devices', `pci${domain}:00`, `${domain}:00:${bus === '00' ? '1f' : '03'}.0`, address);
  };
  const link = async (target: string, at: string) => {
    await mkdir(dirname(at), { recursive: true });
    await symlink(relative(dirname(at), target), at);
  };
  const addVdpa = async (parentDir: string, v: FixtureVdpa) => {
    const dir = join(parentDir, v.name);
    await mkdir(dir, { recursive: true });
    if (v.chardev !== null) {
      await mkdir(join(dir, `vhost-vdpa-${v.chardev}`));
      await writeFile(join(dir, `vhost-vdpa-${v.chardev}`, 'dev'), `507:${v.chardev}\n`);
    }
    await link(dir, join(root, 'bus/vdpa/devices', v.name));
  };

  await mkdir(join(root, 'bus/pci/devices'), { recursive: true });
  for (const f of host.functions) {
    const dir = dirOf(f.address);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'vendor'), `0x${f.vendor}\n`);
    await writeFile(join(dir, 'device'), `0x${f.device}\n`);
    await writeFile(join(dir, 'class'), `${f.class ?? '0x020000'}\n`);
    await writeFile(join(dir, 'numa_node'), `${f.numaNode ?? -1}\n`);
    await link(dir, join(root, 'bus/pci/devices', f.address));
    if (f.totalVfs !== undefined) {
      await writeFile(join(dir, 'sriov_totalvfs'), `${f.totalVfs}\n`);
      const vfs = host.functions.filter((v) => v.physfn === f.address);
      await writeFile(join(dir, 'sriov_numvfs'), `${vfs.length}\n`);
      for (const [i, vf] of vfs.entries()) await link(dirOf(vf.address), join(dir, `virtfn${i}`));
    }
    if (f.physfn) await link(dirOf(f.physfn), join(dir, 'physfn'));
    if (f.netdev) await mkdir(join(dir, 'net', f.netdev), { recursive: true });
    if (f.vdpa) await addVdpa(dir, f.vdpa);
  }
  for (const v of host.softwareVdpa ?? []) await addVdpa(join(root, 'devices', 'vdpasim_net'), v);
  return root;
}

/**
 * The standard test host:
 * - NUMA 0: ConnectX-6 Dx PF 0000:06:00.0 (15b3:101d) with VFs .1-.4 carrying
 *   vdpa0-3 (/dev/vhost-vdpa-0..3) and VF .5 with no vDPA device;
 * - NUMA 1: E810 PF 0000:81:00.0 (8086:1593) with 2 plain VFs (8086:1889) that have netdevs;
 * - a plain NIC 0000:00:19.0 (8086:15b8, no SR-IOV), an NVMe drive 0000:02:00.0
 *   (not a network device) and a vdpa_sim device vdpa9 (/dev/vhost-vdpa-9).
 */
export const STANDARD_HOST: FixtureHost = {
  functions: [
    { address: '0000:06:00.0', vendor: '15b3', device: '101d', numaNode: 0, totalVfs: 8, netdev: 'enp6s0f0np0' },
    ...[1, 2, 3, 4].map((f) => ({
      address: `0000:06:00.${f}`, vendor: '15b3', device: '101e', numaNode: 0, physfn: '0000:06:00.0',
      vdpa: { name: `vdpa${f - 1}`, chardev: f - 1 },
    })),
    { address: '0000:06:00.5', vendor: '15b3', device: '101e', numaNode: 0, physfn: '0000:06:00.0', netdev: 'enp6s0f0v4' },
    { address: '0000:81:00.0', vendor: '8086', device: '1593', numaNode: 1, totalVfs: 64, netdev: 'ens81f0' },
    { address: '0000:81:01.0', vendor: '8086', device: '1889', numaNode: 1, physfn: '0000:81:00.0', netdev: 'ens81f0v0' },
    { address: '0000:81:01.1', vendor: '8086', device: '1889', numaNode: 1, physfn: '0000:81:00.0', netdev: 'ens81f0v1' },
    { address: '0000:00:19.0', vendor: '8086', device: '15b8', netdev: 'eno1' },
    { address: '0000:02:00.0', vendor: '144d', device: 'a808', class: '0x010802' },
  ],
  softwareVdpa: [{ name: 'vdpa9', chardev: 9 }],
};
