import { create, fragment } from 'xmlbuilder2';
import type { GuestSpec } from './spec.js';

/**
 * Which libvirt domains are vdpa-compute's. Like Nova's
 * `<metadata><nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">`,
 * every domain the libvirt driver defines carries
 * `<metadata><vdpa:instance xmlns:vdpa="…/instance/1.0">` naming the server and
 * the host whose agent defined it. An agent acts on its own unasked (removes a
 * guest the controller no longer places here) only on domains that say they
 * are this host's; an operator's own VM or another tool's guest on the same
 * libvirtd has no such element and is left alone.
 */
export const OWNERSHIP_NAMESPACE = 'https://vdpa-compute.dev/xmlns/libvirt/instance/1.0';
/** The prefix we write (libvirt keeps it; a reader matches on the namespace, never on the prefix). */
export const OWNERSHIP_PREFIX = 'vdpa';

/** What our metadata element says. */
export interface DomainOwnership {
  /** The server's uuid (the domain's own, unless the domain was cloned with its metadata). */
  uuid: string;
  /** The server's name as its owner gave it (not the libvirt domain name). */
  name: string;
  /** Null for a guest spec from before flavor names were carried (the element is left out). */
  flavorName: string | null;
  /** The compute host whose agent defined the domain. */
  host: string;
  /**
   * When the guest was first defined on this host (ISO 8601, UTC), as Nova's
   * creationTime; kept by redefinitions there (reboot, rebuild, rescue). For
   * a guest adopted from an earlier version, when it was adopted.
   */
  createdAt: string;
}

/**
 * A listed domain as one agent sees it:
 * - owned: our metadata, for this host and this very domain;
 * - unmarked: no metadata of ours (another tool's, or ours from before the metadata existed);
 * - foreign: our metadata for another host (a shared libvirtd), or metadata that does not
 *   describe this domain (a clone made with virt-clone keeps it), or incomplete.
 */
export type DomainOwnershipClass = 'owned' | 'unmarked' | 'foreign';

/** The ownership of a guest defined on `host` at `createdAt`. */
export function ownershipFor(spec: GuestSpec, host: string, createdAt: Date): DomainOwnership {
  return { uuid: spec.uuid, name: spec.displayName, flavorName: spec.flavorName ?? null, host, createdAt: createdAt.toISOString() };
}

type Builder = ReturnType<typeof fragment>;

/**
 * Appends `<vdpa:instance>` to `parent` (the domain's `<metadata>`, or a
 * fragment). The values may be template placeholders (domainXml.ts), so a
 * null flavor name is the only thing that changes the element's shape.
 * `inNamespace` false writes the same element without a namespace.
 */
export function appendOwnership(parent: Builder, o: DomainOwnership, inNamespace = true): void {
  const ele = (at: Builder, name: string, attributes?: Record<string, string>) => (inNamespace
    ? at.ele(OWNERSHIP_NAMESPACE, `${OWNERSHIP_PREFIX}:${name}`, attributes)
    : at.ele(name, attributes));
  const el = ele(parent, 'instance');
  ele(el, 'uuid').txt(o.uuid);
  ele(el, 'name').txt(o.name);
  if (o.flavorName !== null) ele(el, 'flavor', { name: o.flavorName });
  ele(el, 'host').txt(o.host);
  ele(el, 'creationTime').txt(o.createdAt);
}

/**
 * The element as virDomainSetMetadata takes it (adopting a domain defined
 * before the metadata existed): without a namespace, which libvirt gives the
 * element and its children from its `uri` and `key` arguments (a namespace
 * declared in it makes libvirt fail: "failed to create a new XML namespace").
 */
export function ownershipElementXml(o: DomainOwnership): string {
  const root = fragment();
  appendOwnership(root, o, false);
  return root.end({ headless: true, prettyPrint: true });
}

/**
 * Reads our metadata from a domain's XML: null when the domain has none.
 * Incomplete metadata (no uuid or host) is returned with empty strings, so
 * the caller can tell "not ours" from "ours, but unreadable" (both are left
 * alone; see classifyDomain).
 */
export function ownershipOfXml(domainXml: string): DomainOwnership | null {
  if (!domainXml) return null;
  const domain = create(domainXml).root().node as unknown as Element;
  const metadata = childElements(domain).find((e) => e.localName === 'metadata' && !e.namespaceURI);
  const instance = metadata && childElements(metadata).find((e) => e.namespaceURI === OWNERSHIP_NAMESPACE && e.localName === 'instance');
  if (!instance) return null;
  const fields = new Map(childElements(instance).filter((e) => e.namespaceURI === OWNERSHIP_NAMESPACE).map((e) => [e.localName, e]));
  const text = (name: string) => (fields.get(name)?.textContent ?? '').trim();
  return {
    uuid: text('uuid'),
    name: text('name'),
    flavorName: fields.get('flavor')?.getAttribute('name') ?? null,
    host: text('host'),
    createdAt: text('creationTime'),
  };
}

/** Whose a domain is, for the agent of `host` (see DomainOwnershipClass). */
export function classifyDomain(domainUuid: string, domainXml: string, host: string): DomainOwnershipClass {
  const o = ownershipOfXml(domainXml);
  if (!o) return 'unmarked';
  return o.host === host && o.uuid !== '' && o.uuid.toLowerCase() === domainUuid.toLowerCase() ? 'owned' : 'foreign';
}

function childElements(el: Element): Element[] {
  return (Array.from(el.childNodes) as Element[]).filter((n) => n.nodeType === 1);
}
