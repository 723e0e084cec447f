import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create } from 'xmlbuilder2';
import { BadRequest } from '../../../src/domain/errors.js';
import { buildDomain } from '../../../src/domain/guest/domainBuilder.js';
import {
  domainValuesOf,
  guestDomainXml,
  guestInterfaceXml,
  LOCKED_MEMORY_HEADROOM_MIB,
  vdpaChardevsOf,
  type DomainXmlOptions,
} from '../../../src/domain/guest/domainXml.js';
import type { GuestSpec } from '../../../src/domain/guest/spec.js';
import { guestSpec, validateDomain, vdpaPort } from './fixtures.js';

/** The reference samples (shared/reference/libvirt), copied into the repository so a clone anywhere has them. */
const LIBVIRT_FIXTURES = new URL('../../../../test/fixtures/libvirt/', import.meta.url);

const mixed = guestSpec({
  interfaces: [
    vdpaPort(0),
    vdpaPort(1),
    { portId: 'port-eth', macAddress: 'fa:16:3e:aa:00:01', kind: 'ethernet', mtu: 1450 },
    { portId: 'port-vf', macAddress: 'fa:16:3e:aa:00:02', kind: 'hostdev', pciAddress: '0000:06:00.3' },
  ],
  hostdevs: [{ pciAddress: '0000:06:00.4' }],
});

function doc(xml: string) {
  return create(xml).root();
}
function elements(xml: string, name: string): Element[] {
  const found: Element[] = [];
  doc(xml).each((n) => { if (n.node.nodeName === name) found.push(n.node as unknown as Element); }, true, true);
  return found;
}
function text(xml: string, name: string): string | undefined {
  return elements(xml, name)[0]?.textContent ?? undefined;
}
function assertValid(xml: string): void {
  const r = validateDomain(xml);
  assert.equal(r.status, 0, `virt-xml-validate failed:\n${r.output}\n${xml}`);
}
function assertNoMtuOnVdpa(xml: string): void {
  const vdpa = elements(xml, 'interface').filter((e) => e.getAttribute('type') === 'vdpa');
  assert.ok(vdpa.length > 0);
  for (const iface of vdpa) {
    assert.equal(iface.getElementsByTagName('mtu').length, 0, 'no <mtu> on a vdpa interface');
  }
}

test('kvm guest with one vdpa port validates against libvirt schema and matches the reference shape', { timeout: 120_000 }, () => {
  const xml = guestDomainXml(guestSpec({ interfaces: [vdpaPort(0)] }), { virtType: 'kvm' });
  assertValid(xml);
  assertNoMtuOnVdpa(xml);
  assert.equal(doc(xml).node.nodeName, 'domain');
  assert.equal((doc(xml).node as unknown as Element).getAttribute('type'), 'kvm');
  assert.equal(text(xml, 'name'), 'instance-6a1f2c9e');
  assert.equal(text(xml, 'uuid'), '6a1f2c9e-3b4d-4e5f-8a7b-1c2d3e4f5a61');
  assert.equal(text(xml, 'memory'), '512');
  assert.equal(elements(xml, 'memory')[0]!.getAttribute('unit'), 'MiB');
  assert.equal(text(xml, 'currentMemory'), '512');
  assert.equal(text(xml, 'vcpu'), '2');
  assert.equal(elements(xml, 'type')[0]!.getAttribute('machine'), 'q35');
  assert.equal(elements(xml, 'acpi').length, 1);
  assert.equal(elements(xml, 'cpu')[0]!.getAttribute('mode'), 'host-model');
  assert.equal(text(xml, 'emulator'), '/usr/bin/qemu-system-x86_64');
  assert.equal(elements(xml, 'serial')[0]!.getAttribute('type'), 'pty');
  const disk = elements(xml, 'disk')[0]!;
  assert.equal(disk.getAttribute('device'), 'disk');
  assert.equal(
    disk.getElementsByTagName('source')[0]!.getAttribute('file'),
    '/var/lib/vdpa-compute/instances/6a1f2c9e-3b4d-4e5f-8a7b-1c2d3e4f5a61/disk',
  );
  assert.equal(disk.getElementsByTagName('driver')[0]!.getAttribute('type'), 'qcow2');

  const [iface] = elements(xml, 'interface');
  assert.equal(iface!.getAttribute('type'), 'vdpa');
  assert.equal(iface!.getElementsByTagName('mac')[0]!.getAttribute('address'), 'fa:16:3e:00:00:00');
  assert.equal(iface!.getElementsByTagName('source')[0]!.getAttribute('dev'), '/dev/vhost-vdpa-0');
  assert.equal(iface!.getElementsByTagName('model')[0]!.getAttribute('type'), 'virtio');

  // Memory locking: vhost-vdpa needs shared memfd memory, DMA needs it pinned.
  const backing = elements(xml, 'memoryBacking')[0]!;
  assert.equal(backing.getElementsByTagName('locked').length, 1);
  assert.equal(backing.getElementsByTagName('source')[0]!.getAttribute('type'), 'memfd');
  assert.equal(backing.getElementsByTagName('access')[0]!.getAttribute('mode'), 'shared');
  const hardLimit = elements(xml, 'hard_limit')[0]!;
  assert.equal(hardLimit.getAttribute('unit'), 'KiB');
  assert.equal(hardLimit.textContent, String((512 + LOCKED_MEMORY_HEADROOM_MIB) * 1024));
  assert.equal(LOCKED_MEMORY_HEADROOM_MIB, 1024);
});

test('kvm guest with 2 vdpa + ethernet + hostdev NIC + hostdev validates', { timeout: 120_000 }, () => {
  const xml = guestDomainXml(mixed, { virtType: 'kvm', instancesPath: '/srv/instances' });
  assertValid(xml);
  assertNoMtuOnVdpa(xml);
  const ifaces = elements(xml, 'interface');
  assert.deepEqual(ifaces.map((i) => i.getAttribute('type')), ['vdpa', 'vdpa', 'ethernet', 'hostdev']);
  const eth = ifaces[2]!;
  assert.equal(eth.getElementsByTagName('mtu')[0]!.getAttribute('size'), '1450');
  assert.equal(eth.getElementsByTagName('model')[0]!.getAttribute('type'), 'virtio');
  const vf = ifaces[3]!;
  assert.equal(vf.getAttribute('managed'), 'yes');
  const vfAddress = vf.getElementsByTagName('address')[0]!;
  assert.deepEqual(
    ['type', 'domain', 'bus', 'slot', 'function'].map((a) => vfAddress.getAttribute(a)),
    ['pci', '0x0000', '0x06', '0x00', '0x3'],
  );
  const [hostdev] = elements(xml, 'hostdev');
  assert.equal(hostdev!.getAttribute('mode'), 'subsystem');
  assert.equal(hostdev!.getAttribute('type'), 'pci');
  assert.equal(hostdev!.getAttribute('managed'), 'yes');
  const hdAddress = hostdev!.getElementsByTagName('address')[0]!;
  assert.deepEqual(
    ['domain', 'bus', 'slot', 'function'].map((a) => hdAddress.getAttribute(a)),
    ['0x0000', '0x06', '0x00', '0x4'],
  );
  assert.match(elements(xml, 'disk')[0]!.getElementsByTagName('source')[0]!.getAttribute('file')!, /^\/srv\/instances\//);
  assert.deepEqual(vdpaChardevsOf(xml), ['/dev/vhost-vdpa-0', '/dev/vhost-vdpa-1']);
});

test('qemu (TCG) guest validates: q35 and acpi, but no host-model cpu', { timeout: 120_000 }, () => {
  const xml = guestDomainXml(mixed, { virtType: 'qemu' });
  assertValid(xml);
  assertNoMtuOnVdpa(xml);
  assert.equal((doc(xml).node as unknown as Element).getAttribute('type'), 'qemu');
  assert.equal(elements(xml, 'type')[0]!.getAttribute('machine'), 'q35');
  assert.equal(elements(xml, 'acpi').length, 1);
  assert.equal(elements(xml, 'cpu').length, 0);
  assert.equal(elements(xml, 'disk').length, 1);
});

test('test-driver guest validates: no machine, acpi, cpu, emulator, disk or serial', { timeout: 120_000 }, () => {
  const xml = guestDomainXml(mixed, { virtType: 'test' });
  assertValid(xml);
  assertNoMtuOnVdpa(xml);
  assert.equal((doc(xml).node as unknown as Element).getAttribute('type'), 'test');
  assert.equal(elements(xml, 'type')[0]!.getAttribute('machine'), null);
  for (const absent of ['acpi', 'cpu', 'emulator', 'disk', 'serial']) {
    assert.equal(elements(xml, absent).length, 0, `no <${absent}>`);
  }
  // The test driver has no memfd; shared access and locking stay.
  const backing = elements(xml, 'memoryBacking')[0]!;
  assert.equal(backing.getElementsByTagName('source').length, 0);
  assert.equal(backing.getElementsByTagName('locked').length, 1);
  assert.equal(vdpaChardevsOf(xml).length, 2);
});

test('includeDisk overrides the default per virt type', { timeout: 120_000 }, () => {
  assert.equal(elements(guestDomainXml(mixed, { virtType: 'kvm', includeDisk: false }), 'disk').length, 0);
  const xml = guestDomainXml(mixed, { virtType: 'test', includeDisk: true });
  assertValid(xml);
  assert.equal(elements(xml, 'disk').length, 1);
});

test('memory is locked for hostdev-only guests, not for guests with plain NICs only', { timeout: 120_000 }, () => {
  const plain = guestDomainXml(
    guestSpec({ interfaces: [{ portId: 'p', macAddress: 'fa:16:3e:aa:00:09', kind: 'ethernet' }] }),
    { virtType: 'kvm' },
  );
  assertValid(plain);
  assert.equal(elements(plain, 'memoryBacking').length, 0);
  assert.equal(elements(plain, 'memtune').length, 0);
  assert.equal(elements(plain, 'mtu').length, 0);

  const passthrough = guestDomainXml(guestSpec({ memoryMb: 2048, hostdevs: [{ pciAddress: '0000:06:00.1' }] }), { virtType: 'kvm' });
  assertValid(passthrough);
  const backing = elements(passthrough, 'memoryBacking')[0]!;
  assert.equal(backing.getElementsByTagName('locked').length, 1);
  // Shared memfd memory is for vhost-vdpa only.
  assert.equal(backing.getElementsByTagName('access').length, 0);
  assert.equal(text(passthrough, 'hard_limit'), String((2048 + 1024) * 1024));

  const vfNic = guestDomainXml(
    guestSpec({ interfaces: [{ portId: 'p', macAddress: 'fa:16:3e:aa:00:09', kind: 'hostdev', pciAddress: '0000:06:00.2' }] }),
    { virtType: 'kvm' },
  );
  assert.equal(elements(vfNic, 'locked').length, 1);
});

test('a vdpa interface without a chardev throws BadRequest before any XML is produced', { timeout: 120_000 }, () => {
  const spec = guestSpec({ interfaces: [{ portId: 'p1', macAddress: 'fa:16:3e:11:22:33', kind: 'vdpa' }] });
  for (const virtType of ['kvm', 'qemu', 'test'] as const) {
    assert.throws(() => guestDomainXml(spec, { virtType }), (e: unknown) => e instanceof BadRequest && /p1/.test(e.message));
  }
  assert.throws(() => guestInterfaceXml(spec.interfaces[0]!), BadRequest);
});

test('specs libvirt would refuse are refused with a message naming the problem', { timeout: 120_000 }, () => {
  const cases: Array<[string, GuestSpec]> = [
    ['mtu on vdpa', guestSpec({ interfaces: [{ ...vdpaPort(0), mtu: 1500 }] })],
    ['chardev not a vhost-vdpa node', guestSpec({ interfaces: [{ ...vdpaPort(0), vdpaChardev: '/tmp/x' }] })],
    ['same chardev twice', guestSpec({ interfaces: [vdpaPort(0), { ...vdpaPort(0), portId: 'b', macAddress: 'fa:16:3e:00:00:99' }] })],
    ['bad mac', guestSpec({ interfaces: [{ ...vdpaPort(0), macAddress: 'fa:16:3e:00:00' }] })],
    ['multicast mac', guestSpec({ interfaces: [{ ...vdpaPort(0), macAddress: '01:16:3e:00:00:01' }] })],
    ['hostdev nic without address', guestSpec({ interfaces: [{ portId: 'p', macAddress: 'fa:16:3e:00:00:01', kind: 'hostdev' }] })],
    ['bad pci address', guestSpec({ hostdevs: [{ pciAddress: '06:00.1' }] })],
    ['same pci device twice', guestSpec({
      interfaces: [{ portId: 'p', macAddress: 'fa:16:3e:00:00:01', kind: 'hostdev', pciAddress: '0000:06:00.1' }],
      hostdevs: [{ pciAddress: '0000:06:00.1' }],
    })],
    ['bad uuid', guestSpec({ uuid: 'nope' })],
    ['zero vcpus', guestSpec({ vcpus: 0 })],
    ['fractional memory', guestSpec({ memoryMb: 1.5 })],
    ['bad ethernet mtu', guestSpec({ interfaces: [{ portId: 'p', macAddress: 'fa:16:3e:00:00:01', kind: 'ethernet', mtu: 10 }] })],
  ];
  for (const [what, spec] of cases) {
    assert.throws(() => guestDomainXml(spec, { virtType: 'kvm' }), BadRequest, what);
  }
});

test('guestInterfaceXml gives one interface element that validates inside a domain', { timeout: 120_000 }, () => {
  const hotplug = guestInterfaceXml(vdpaPort(1));
  assert.equal(doc(hotplug).node.nodeName, 'interface');
  assert.equal(elements(hotplug, 'mtu').length, 0);
  const base = guestDomainXml(guestSpec({ interfaces: [vdpaPort(0)] }), { virtType: 'kvm' });
  const wrapped = base.replace('</devices>', `${hotplug}\n</devices>`);
  assertValid(wrapped);
  assertNoMtuOnVdpa(wrapped);
  assert.deepEqual(vdpaChardevsOf(wrapped), ['/dev/vhost-vdpa-0', '/dev/vhost-vdpa-1']);
  // The same element the full definition carries for that port.
  const full = guestDomainXml(guestSpec({ interfaces: [vdpaPort(0), vdpaPort(1)] }), { virtType: 'kvm' });
  assert.ok(full.includes(hotplug.split('\n').map((l) => `    ${l}`).join('\n')));

  for (const iface of [
    { portId: 'e', macAddress: 'fa:16:3e:00:00:0e', kind: 'ethernet' as const, mtu: 9000 },
    { portId: 'h', macAddress: 'fa:16:3e:00:00:0f', kind: 'hostdev' as const, pciAddress: '0000:06:00.2' },
  ]) {
    assertValid(base.replace('</devices>', `${guestInterfaceXml(iface)}\n</devices>`));
  }
});

test('the cached template gives exactly what a direct build gives, and escapes free text', { timeout: 120_000 }, () => {
  const opts: DomainXmlOptions[] = [
    { virtType: 'kvm' },
    { virtType: 'qemu', machine: 'pc-q35-7.2', emulator: '/opt/qemu/bin/qemu', instancesPath: '/a&b' },
    { virtType: 'test', emulator: '/usr/bin/test-emulator' },
    // With our ownership metadata, as the libvirt driver defines every guest.
    { virtType: 'qemu', owner: { host: 'compute-1', createdAt: new Date('2024-01-02T03:04:05Z') } },
  ];
  const specs = [
    mixed,
    guestSpec(),
    guestSpec({ name: 'odd <&> "name"', uuid: '00000000-0000-4000-8000-000000000001', interfaces: [vdpaPort(7)] }),
    { ...mixed, memoryMb: 4096, vcpus: 8 },
    guestSpec({ flavorName: 'm1 <&> "small"', displayName: 'vm "2"' }),
  ];
  for (const o of opts) {
    for (const spec of specs) {
      // Twice: the first call fills the cache, the second reuses it.
      const direct = buildDomain(domainValuesOf(spec, o));
      const canonical = (xml: string) => create(xml).end({ headless: true });
      // The template escapes '"' in text too (valid in both contexts), xmlbuilder2 does not: compare such names canonically.
      const comparable = /["&<>]/.test(spec.name + spec.displayName + (spec.flavorName ?? '') + (o.instancesPath ?? '')) ? canonical : (xml: string) => xml;
      for (const cached of [guestDomainXml(spec, o), guestDomainXml(spec, o)]) {
        assert.equal(comparable(cached), comparable(direct));
      }
      assertValid(direct);
    }
  }
  const odd = guestDomainXml(specs[2]!, { virtType: 'kvm', instancesPath: '/a&b' });
  assert.equal(text(odd, 'name'), 'odd <&> "name"');
  assert.match(elements(odd, 'disk')[0]!.getElementsByTagName('source')[0]!.getAttribute('file')!, /^\/a&b\//);
  // Different values in the same shape do not leak into each other.
  const a = guestDomainXml(guestSpec({ interfaces: [vdpaPort(3)] }), { virtType: 'kvm' });
  const b = guestDomainXml(guestSpec({ interfaces: [vdpaPort(4)] }), { virtType: 'kvm' });
  assert.deepEqual(vdpaChardevsOf(a), ['/dev/vhost-vdpa-3']);
  assert.deepEqual(vdpaChardevsOf(b), ['/dev/vhost-vdpa-4']);
});

test('vdpaChardevsOf reads the reference sample and ignores other interface types', { timeout: 120_000 }, async () => {
  const { readFileSync } = await import('node:fs');
  const sample = readFileSync(new URL('domain-vdpa-kvm.xml', LIBVIRT_FIXTURES), 'utf8');
  assert.deepEqual(vdpaChardevsOf(sample), ['/dev/vhost-vdpa-0']);
  assert.deepEqual(vdpaChardevsOf(guestDomainXml(guestSpec(), { virtType: 'kvm' })), []);
});

test('the schema check is not vacuous: the reference negative sample fails it', { timeout: 120_000 }, async () => {
  const { readFileSync } = await import('node:fs');
  const bad = readFileSync(new URL('bad-vdpa-nosource.xml', LIBVIRT_FIXTURES), 'utf8');
  assert.notEqual(validateDomain(bad).status, 0);
  // And a generated domain with the vdpa source removed fails too.
  const xml = guestDomainXml(guestSpec({ interfaces: [vdpaPort(0)] }), { virtType: 'kvm' });
  assert.notEqual(validateDomain(xml.replace(/<source dev="[^"]*"\/>/, '')).status, 0);
});
