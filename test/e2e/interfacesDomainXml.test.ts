import { test } from 'node:test';
import assert from 'node:assert/strict';
import { interfacesOfDomainXml } from '../../src/agent/guestConvergence.js';
import { guestDomainXml, guestInterfaceXml } from '../../src/domain/guest/domainXml.js';
import type { GuestSpec } from '../../src/domain/guest/spec.js';

/** What the agent hands the driver to unplug a NIC the spec dropped: the interface as the domain has it. */
test('interfacesOfDomainXml reads back each NIC kind with its chardev or VF address', { timeout: 300_000 }, () => {
  const spec: GuestSpec = {
    uuid: '6a1f2c9e-0000-4000-8000-000000000001', name: 'instance-6a1f2c9e', displayName: 'vm', vcpus: 1, memoryMb: 512,
    diskGb: 1, imageRef: 'cirros', hostdevs: [{ pciAddress: '0000:81:00.3' }],
    interfaces: [
      { portId: 'p1', macAddress: 'fa:16:3e:00:00:01', kind: 'vdpa', vdpaChardev: '/dev/vhost-vdpa-2' },
      { portId: 'p2', macAddress: 'FA:16:3E:00:00:02', kind: 'hostdev', pciAddress: '0000:81:01.7' },
      { portId: 'p3', macAddress: 'fa:16:3e:00:00:03', kind: 'ethernet', mtu: 1450 },
    ],
  };
  for (const virtType of ['kvm', 'test'] as const) {
    const got = interfacesOfDomainXml(guestDomainXml(spec, { virtType }));
    assert.deepEqual(got, [
      { portId: '', macAddress: 'fa:16:3e:00:00:01', kind: 'vdpa', vdpaChardev: '/dev/vhost-vdpa-2' },
      { portId: '', macAddress: 'fa:16:3e:00:00:02', kind: 'hostdev', pciAddress: '0000:81:01.7' },
      { portId: '', macAddress: 'fa:16:3e:00:00:03', kind: 'ethernet', mtu: 1450 },
    ]);
    // The hot-unplug XML built from what was read back is the one libvirt was given at plug time.
    for (let i = 0; i < got.length; i++) {
      assert.equal(guestInterfaceXml(got[i]!), guestInterfaceXml({ ...spec.interfaces[i]!, macAddress: spec.interfaces[i]!.macAddress.toLowerCase() }));
    }
  }
  assert.deepEqual(interfacesOfDomainXml(''), []);
});
