/**
 * Discovery from libvirt node device XML (virNodeDeviceGetXMLDesc): `pci`
 * devices give the functions, `net` devices their interface names, and `vdpa`
 * devices (udev backend only) the vDPA device on a VF and its chardev. Same
 * rules as sysfs (classify.ts).
 */
import { create } from 'xmlbuilder2';
import type { DiscoveredFunction } from '../../domain/pci/device.js';
import { classifyFunctions, formatPciAddress, hexId, numaNodeOf, type DiscoveryOptions, type RawPciFunction, type RawVdpaDevice } from './classify.js';

export class NodeDeviceXmlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NodeDeviceXmlError';
  }
}

/** The little of the DOM that xmlbuilder2 gives us and we need. */
interface XmlElement {
  nodeType: number;
  nodeName: string;
  textContent: string | null;
  childNodes: ArrayLike<XmlElement>;
  getAttribute(name: string): string | null;
}

const PCI_NODE_NAME = /^pci_([0-9a-f]{4})_([0-9a-f]{2})_([0-9a-f]{2})_([0-7])$/;

/**
 * Each document is one `<device>` (nodedev-dumpxml) or any element holding
 * several, such as a test-driver `<node>` host file.
 */
export function parseNodeDevices(xmlDocs: string[], opts: DiscoveryOptions = {}): DiscoveredFunction[] {
  const devices = xmlDocs.flatMap((xml, i) => deviceElements(xml, i));
  const pciByName = new Map<string, RawPciFunction>();
  for (const dev of devices) {
    const cap = capability(dev, 'pci');
    if (cap) pciByName.set(text(child(dev, 'name')), readPci(cap, text(child(dev, 'name'))));
  }
  for (const dev of devices) {
    const cap = capability(dev, 'net');
    const parent = pciByName.get(text(child(dev, 'parent')));
    const ifname = cap ? text(child(cap, 'interface')) : '';
    // A function with several netdevs (rare) reports the first by name, as sysfs does.
    if (parent && ifname && (parent.devname === null || ifname < parent.devname)) parent.devname = ifname;
  }
  const vdpa: RawVdpaDevice[] = [];
  for (const dev of devices) {
    const cap = capability(dev, 'vdpa');
    if (!cap) continue;
    const parentName = text(child(dev, 'parent'));
    const m = PCI_NODE_NAME.exec(parentName);
    const chardev = text(child(cap, 'chardev'));
    vdpa.push({
      name: vdpaName(dev),
      parentPci: pciByName.get(parentName)?.address ?? (m ? `${m[1]}:${m[2]}:${m[3]}.${m[4]}` : null),
      chardev: chardev || null,
    });
  }
  return classifyFunctions([...pciByName.values()], vdpa, opts);
}

function readPci(cap: XmlElement, nodeName: string): RawPciFunction {
  const num = (name: string) => {
    const t = text(child(cap, name));
    const n = t === '' ? NaN : Number(t);
    if (!Number.isInteger(n)) throw new NodeDeviceXmlError(`node device ${nodeName}: pci capability has no valid <${name}>`);
    return n;
  };
  const address = formatPciAddress(num('domain'), num('bus'), num('slot'), num('function'));
  const subcaps = children(cap, 'capability');
  const physfn = subcaps.find((c) => c.getAttribute('type') === 'phys_function');
  const physfnAddr = physfn ? child(physfn, 'address') : undefined;
  const cls = text(child(cap, 'class'));
  return {
    address,
    vendorId: hexId(child(cap, 'vendor')?.getAttribute('id') ?? '0'),
    productId: hexId(child(cap, 'product')?.getAttribute('id') ?? '0'),
    classCode: cls ? parseInt(cls, 16) : null,
    numaNode: numaNodeOf(child(cap, 'numa')?.getAttribute('node')),
    physfn: physfnAddr ? addressFromAttributes(physfnAddr) : null,
    sriovCapable: subcaps.some((c) => c.getAttribute('type') === 'virt_functions'),
    devname: null,
  };
}

function addressFromAttributes(el: XmlElement): string {
  const n = (a: string) => parseInt(el.getAttribute(a) ?? '0', 16);
  return formatPciAddress(n('domain'), n('bus'), n('slot'), n('function'));
}

/** The kernel's name (vdpa0): the last part of <path>, else the node name without libvirt's "vdpa_" prefix. */
function vdpaName(dev: XmlElement): string {
  const path = text(child(dev, 'path'));
  if (path) return path.slice(path.lastIndexOf('/') + 1);
  return text(child(dev, 'name')).replace(/^vdpa_/, '');
}

function deviceElements(xml: string, index: number): XmlElement[] {
  let root: XmlElement;
  try {
    root = create(xml).root().node as unknown as XmlElement;
  } catch (e) {
    throw new NodeDeviceXmlError(`node device document ${index}: not valid XML (${(e as Error).message.split('\n')[0]})`);
  }
  if (!root || root.nodeType !== 1 || root.nodeName === '') throw new NodeDeviceXmlError(`node device document ${index}: not valid XML (no root element)`);
  return root.nodeName === 'device' ? [root] : children(root, 'device');
}

function children(el: XmlElement, name: string): XmlElement[] {
  return Array.from(el.childNodes).filter((c) => c.nodeType === 1 && c.nodeName === name);
}

function child(el: XmlElement, name: string): XmlElement | undefined {
  return children(el, name)[0];
}

function capability(dev: XmlElement, type: string): XmlElement | undefined {
  return children(dev, 'capability').find((c) => c.getAttribute('type') === type);
}

function text(el: XmlElement | undefined): string {
  return el?.textContent?.trim() ?? '';
}
