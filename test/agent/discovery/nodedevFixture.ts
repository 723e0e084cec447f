/**
 * The libvirt node device XML (as the udev backend writes it) for a fixture
 * host, so that tests can check both discovery sources describe it the same.
 */
import type { FixtureFunction, FixtureHost, FixtureVdpa } from './sysfsFixture.js';

const nodeName = (address: string) => `pci_${address.replace(/[:.]/g, '_')}`;

function addressXml(address: string): string {
  const [domain, bus, rest] = address.split(':');
  const [slot, fn] = rest!.split('.');
  return `<address domain='0x${domain}' bus='0x${bus}' slot='0x${slot}' function='0x${fn}'/>`;
}

function pciXml(f: FixtureFunction, host: FixtureHost): string {
  const [domain, bus, rest] = f.address.split(':');
  const [slot, fn] = rest!.split('.');
  const vfs = host.functions.filter((v) => v.physfn === f.address);
  const sriov = f.totalVfs !== undefined
    ? `<capability type='virt_functions' maxCount='${f.totalVfs}'>${vfs.map((v) => addressXml(v.address)).join('')}</capability>`
    : '';
  const physfn = f.physfn ? `<capability type='phys_function'>${addressXml(f.physfn)}</capability>` : '';
  const numa = f.numaNode !== undefined && f.numaNode >= 0 ? `<numa node='${f.numaNode}'/>` : '';
  return `<device><name>${nodeName(f.address)}</name><path>/sys/devices/pci0000:00/${f.address}</path><parent>computer</parent>
  <capability type='pci'><class>${f.class ?? '0x020000'}</class><domain>${parseInt(domain!, 16)}</domain><bus>${parseInt(bus!, 16)}</bus>
  <slot>${parseInt(slot!, 16)}</slot><function>${parseInt(fn!, 16)}</function>
  <product id='0x${f.device}'>product</product><vendor id='0x${f.vendor}'>vendor</vendor>${sriov}${physfn}${numa}</capability></device>`;
}

function vdpaXml(v: FixtureVdpa, parent: string, parentPath: string): string {
  const chardev = v.chardev === null ? '' : `<chardev>/dev/vhost-vdpa-${v.chardev}</chardev>`;
  return `<device><name>vdpa_${v.name}</name><path>${parentPath}/${v.name}</path><parent>${parent}</parent>
  <capability type='vdpa'>${chardev}</capability></device>`;
}

export function nodeDeviceXml(host: FixtureHost): string[] {
  const docs = [`<device><name>computer</name><capability type='system'/></device>`];
  for (const f of host.functions) {
    docs.push(pciXml(f, host));
    if (f.netdev) {
      docs.push(`<device><name>net_${f.netdev}_00_00_00_00_00_00</name><parent>${nodeName(f.address)}</parent>
        <capability type='net'><interface>${f.netdev}</interface></capability></device>`);
    }
    if (f.vdpa) docs.push(vdpaXml(f.vdpa, nodeName(f.address), `/sys/devices/pci0000:00/${f.address}`));
  }
  for (const v of host.softwareVdpa ?? []) docs.push(vdpaXml(v, 'computer', '/sys/devices/vdpasim_net'));
  return docs;
}
