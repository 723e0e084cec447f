import { interfacesOfXml } from '../../../domain/guest/domainXml.js';

/** A NIC as libvirt reports it in a domain's XML. */
export interface DomainInterface {
  type: string;
  mac: string;
  /** `<source dev=...>`: the vhost-vdpa chardev of a vdpa NIC. */
  sourceDev?: string;
}

/** The `<interface>` elements of a domain's XML, in document order. */
export function interfacesOf(domainXml: string): DomainInterface[] {
  return interfacesOfXml(domainXml).map((i) => ({ type: i.type, mac: i.mac, ...(i.sourceDev !== undefined ? { sourceDev: i.sourceDev } : {}) }));
}

export function hasInterface(domainXml: string, mac: string): boolean {
  return interfacesOf(domainXml).some((i) => i.mac === mac.toLowerCase());
}
