import assert from 'node:assert/strict';
import { validateDomain } from '../domain/guest/fixtures.js';

/** Asserts that libvirt's own schema check (`virt-xml-validate FILE domain`) accepts a domain XML a test got back. */
export function assertValidDomainXml(xml: unknown, what = 'domain XML'): void {
  assert.equal(typeof xml, 'string', `${what}: no document (${JSON.stringify(xml)})`);
  const r = validateDomain(xml as string);
  assert.equal(r.status, 0, `${what} fails virt-xml-validate:\n${r.output}\n${xml as string}`);
}
