import { create } from 'xmlbuilder2';

/** A NIC as libvirt reports it in a domain's XML. */
export interface DomainInterface {
  type: string;
  mac: string;
  /** `<source dev=...>`: the vhost-vdpa chardev of a vdpa NIC. */
  sourceDev?: string;
}

/** The `<interface>` elements of a domain's XML, in document order. */
export function interfacesOf(domainXml: string): DomainInterface[] {
  const found: DomainInterface[] = [];
  create(domainXml).root().each(
    (node) => {
      const el = node.node as unknown as Element;
      if (el.nodeName !== 'interface') return;
      const iface: DomainInterface = { type: el.getAttribute('type') ?? '', mac: '' };
      for (const child of Array.from(el.childNodes) as Element[]) {
        if (child.nodeName === 'mac') iface.mac = (child.getAttribute('address') ?? '').toLowerCase();
        if (child.nodeName === 'source' && child.getAttribute('dev')) iface.sourceDev = child.getAttribute('dev')!;
      }
      found.push(iface);
    },
    true,
    true,
  );
  return found;
}

export function hasInterface(domainXml: string, mac: string): boolean {
  return interfacesOf(domainXml).some((i) => i.mac === mac.toLowerCase());
}
