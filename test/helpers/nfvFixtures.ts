import assert from 'node:assert/strict';
import type { AllInOneProcess } from './allInOneProcess.js';

/** A flavor of dedicated CPUs backed by 1 GiB pages, with this PCI NUMA affinity policy, made with the real client. */
export async function createPinnedFlavor(aio: AllInOneProcess, name: string, vcpus: number, ramMb: number, policy: string): Promise<void> {
  const created = await aio.openstack(['flavor', 'create', '--vcpus', String(vcpus), '--ram', String(ramMb), '--disk', '1',
    '--property', 'hw:cpu_policy=dedicated', '--property', 'hw:mem_page_size=1GB',
    '--property', `hw:pci_numa_affinity_policy=${policy}`, name]);
  assert.equal(created.code, 0, created.stderr);
}

/** The host's NUMA cells as os-hypervisors detail shows them (admin). */
export async function numaCellsOf(aio: AllInOneProcess, host: string): Promise<any[]> {
  const res = await aio.api('GET', '/compute/v2.1/os-hypervisors/detail');
  assert.equal(res.status, 200);
  return res.body.hypervisors.find((h: { hypervisor_hostname: string }) => h.hypervisor_hostname === host).numa_topology.cells;
}
