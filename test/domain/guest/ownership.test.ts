/** Our ownership metadata in a domain's XML: written by guestDomainXml, read back whatever libvirt does to its form. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guestDomainXml } from '../../../src/domain/guest/domainXml.js';
import {
  OWNERSHIP_NAMESPACE, classifyDomain, ownershipElementXml, ownershipFor, ownershipOfXml,
} from '../../../src/domain/guest/ownership.js';
import { guestSpec, validateDomain, vdpaPort } from './fixtures.js';

const NOW = new Date('2024-05-06T07:08:09.010Z');
const UUID = '6a1f2c9e-3b4d-4e5f-8a7b-1c2d3e4f5a61';

function assertValid(xml: string): void {
  const r = validateDomain(xml);
  assert.equal(r.status, 0, `virt-xml-validate failed:\n${r.output}\n${xml}`);
}

/** A domain as libvirt's dumpxml gives it back: single quotes, the prefix it was given, other tools' metadata beside ours. */
function libvirtStyle(metadata: string, uuid = UUID): string {
  return `<domain type='kvm' id='3'>
  <name>instance-6a1f2c9e</name>
  <uuid>${uuid}</uuid>
  <metadata>
    <nova:instance xmlns:nova='http://openstack.org/xmlns/libvirt/nova/1.1'><nova:name>someone else</nova:name></nova:instance>
    ${metadata}
  </metadata>
  <memory unit='KiB'>524288</memory>
  <os><type arch='x86_64'>hvm</type></os>
</domain>`;
}

test('guestDomainXml writes the metadata when given an owner, and it validates for every virt type', { timeout: 120_000 }, () => {
  const spec = guestSpec({ flavorName: 'm1.small', interfaces: [vdpaPort(0)] });
  for (const virtType of ['kvm', 'qemu', 'test'] as const) {
    const xml = guestDomainXml(spec, { virtType, owner: { host: 'compute-1', createdAt: NOW } });
    assertValid(xml);
    assert.deepEqual(ownershipOfXml(xml), {
      uuid: UUID, name: 'vm1', flavorName: 'm1.small', host: 'compute-1', createdAt: '2024-05-06T07:08:09.010Z',
    });
    assert.equal(classifyDomain(UUID, xml, 'compute-1'), 'owned');
    assert.match(xml, new RegExp(`<vdpa:instance xmlns:vdpa="${OWNERSHIP_NAMESPACE}">`));
  }
  // Without an owner (the simulator's guests) there is no metadata at all.
  const bare = guestDomainXml(spec, { virtType: 'kvm' });
  assert.doesNotMatch(bare, /<metadata/);
  assert.equal(ownershipOfXml(bare), null);
  assert.equal(classifyDomain(UUID, bare, 'compute-1'), 'unmarked');
});

test('free text in the metadata is escaped and read back as given; a spec without a flavor name has no flavor element', { timeout: 120_000 }, () => {
  const odd = guestSpec({ displayName: 'a <b> & "c"', flavorName: 'm1 "&<>' });
  for (const i of [0, 1]) {
    // Twice: the template cache is filled by the first and used by the second.
    const xml = guestDomainXml(odd, { virtType: 'kvm', owner: { host: `h&<${i}>`, createdAt: NOW } });
    assertValid(xml);
    assert.deepEqual(ownershipOfXml(xml), ownershipFor(odd, `h&<${i}>`, NOW));
  }
  const noFlavor = guestDomainXml(guestSpec(), { virtType: 'kvm', owner: { host: 'compute-1', createdAt: NOW } });
  assertValid(noFlavor);
  assert.doesNotMatch(noFlavor, /vdpa:flavor/);
  assert.equal(ownershipOfXml(noFlavor)!.flavorName, null);
  assert.equal(classifyDomain(UUID, noFlavor, 'compute-1'), 'owned');
});

test('the metadata is found by its namespace, whatever the prefix and quoting, beside other tools\' metadata', { timeout: 120_000 }, () => {
  const ours = `<x:instance xmlns:x='${OWNERSHIP_NAMESPACE}'>
      <x:uuid>${UUID.toUpperCase()}</x:uuid><x:name>vm1</x:name><x:flavor name='m1.tiny'/>
      <x:host>compute-1</x:host><x:creationTime>2024-05-06T07:08:09.010Z</x:creationTime>
    </x:instance>`;
  const xml = libvirtStyle(ours);
  assertValid(xml);
  assert.deepEqual(ownershipOfXml(xml), {
    uuid: UUID.toUpperCase(), name: 'vm1', flavorName: 'm1.tiny', host: 'compute-1', createdAt: '2024-05-06T07:08:09.010Z',
  });
  assert.equal(classifyDomain(UUID, xml, 'compute-1'), 'owned', 'uuids compare without case');
  assert.equal(classifyDomain(UUID, xml, 'compute-2'), 'foreign', 'another host\'s domain on a shared libvirtd');
});

test('a domain is ours only when the metadata is ours, for this host, about this very domain', { timeout: 120_000 }, () => {
  const element = (host: string | null, uuid: string | null) => `<vdpa:instance xmlns:vdpa='${OWNERSHIP_NAMESPACE}'>`
    + (uuid === null ? '' : `<vdpa:uuid>${uuid}</vdpa:uuid>`) + '<vdpa:name>vm1</vdpa:name>'
    + (host === null ? '' : `<vdpa:host>${host}</vdpa:host>`) + '</vdpa:instance>';
  assert.equal(classifyDomain(UUID, libvirtStyle(element('compute-1', UUID)), 'compute-1'), 'owned');
  // Nova's metadata (or any other tool's) alone does not make a domain ours.
  assert.equal(classifyDomain(UUID, libvirtStyle(''), 'compute-1'), 'unmarked');
  // Our element in no namespace, or in another one, is not our metadata.
  assert.equal(classifyDomain(UUID, libvirtStyle(`<instance><uuid>${UUID}</uuid><host>compute-1</host></instance>`), 'compute-1'), 'unmarked');
  assert.equal(classifyDomain(UUID, libvirtStyle(element('compute-1', UUID).replace(OWNERSHIP_NAMESPACE, `${OWNERSHIP_NAMESPACE}/x`)), 'compute-1'), 'unmarked');
  // A copy made with virt-clone keeps the metadata but gets a uuid of its own: not the guest the metadata names.
  const clone = '11111111-2222-4333-8444-555555555555';
  assert.equal(classifyDomain(clone, libvirtStyle(element('compute-1', UUID), clone), 'compute-1'), 'foreign');
  // Ours but unreadable: left alone too, never removed.
  assert.equal(classifyDomain(UUID, libvirtStyle(element(null, UUID)), 'compute-1'), 'foreign');
  assert.equal(classifyDomain(UUID, libvirtStyle(element('compute-1', null)), 'compute-1'), 'foreign');
  assert.equal(ownershipOfXml(''), null);
});

test('ownershipElementXml is the element virDomainSetMetadata takes: no namespace, the same fields', { timeout: 120_000 }, () => {
  const o = ownershipFor(guestSpec({ flavorName: 'm1.small' }), 'compute-1', NOW);
  const element = ownershipElementXml(o);
  assert.doesNotMatch(element, /xmlns|vdpa:/);
  // Not ours as it stands (no namespace): libvirt puts it into ours (test/agent/libvirt/domainOwnership.test.ts).
  assert.equal(ownershipOfXml(libvirtStyle(element)), null);
  const namespaced = element.replace('<instance>', `<instance xmlns="${OWNERSHIP_NAMESPACE}">`);
  const xml = libvirtStyle(namespaced);
  assertValid(xml);
  assert.deepEqual(ownershipOfXml(xml), o);
});
