/**
 * Rule 1: every claimed or allocated device, and every allocation, is held
 * by a live server or by a migration that may still hold claims, on a host
 * where that holder may have them, and labelled with the right server.
 */
import { finding, type Finding } from './findings.js';
import { migrationHoldsClaims } from './migrationHolds.js';
import { hostsOf, inUse, type SnapshotIndex } from './snapshotIndex.js';
import type { AuditDevice, AuditSnapshot } from './snapshot.js';

interface Held {
  devices: AuditDevice[];
  allocationHosts: Set<string>;
}

function heldByConsumer(s: AuditSnapshot, x: SnapshotIndex): Map<string, Held> {
  const held = new Map<string, Held>();
  const of = (consumer: string) => {
    let h = held.get(consumer);
    if (!h) held.set(consumer, (h = { devices: [], allocationHosts: new Set() }));
    return h;
  };
  for (const [consumer, devices] of x.heldDevices) of(consumer).devices.push(...devices);
  for (const a of s.allocations) of(a.consumer).allocationHosts.add(a.host);
  return held;
}

const addresses = (devices: AuditDevice[]) => devices.map((d) => `${d.host}/${d.address}`);

function describeHeld(h: Held): string {
  const parts = [];
  if (h.devices.length) parts.push(`device${h.devices.length > 1 ? 's' : ''} ${addresses(h.devices).join(', ')}`);
  if (h.allocationHosts.size) parts.push(`vCPU/RAM/disk on ${[...h.allocationHosts].join(', ')}`);
  return parts.join(' and ');
}

function releaseFix(consumer: string) {
  return {
    does: `release everything ${consumer} holds (devices back to available, pools and compute-node usage adjusted)`,
    repair: { kind: 'release-consumer' as const, consumer },
  };
}

export function claimFindings(s: AuditSnapshot, x: SnapshotIndex): Finding[] {
  const out: Finding[] = [];
  for (const d of s.devices) {
    if (inUse(d.status) && d.consumer === null) {
      out.push(finding('device-in-use-without-consumer',
        `device ${d.host}/${d.address} is ${d.status} (server ${d.instanceUuid ?? 'none'}) but no consumer holds it, so nothing will ever free it`,
        { host: d.host, address: d.address, ...(d.instanceUuid ? { server: d.instanceUuid } : {}) }));
    }
  }
  for (const [consumer, held] of heldByConsumer(s, x)) {
    const ids = {
      consumer, hosts: [...new Set([...held.devices.map((d) => d.host), ...held.allocationHosts])],
      ...(held.devices.length ? { devices: addresses(held.devices) } : {}),
    };
    const instance = x.instances.get(consumer);
    const migration = x.migrations.get(consumer);
    let allowed: Set<string>;
    let server: string;
    if (instance) {
      allowed = hostsOf(x, instance);
      server = instance.uuid;
    } else if (migration && migrationHoldsClaims(migration, x.instances.has(migration.instanceUuid))) {
      allowed = new Set([migration.sourceCompute, migration.destCompute].filter((h): h is string => h !== null));
      server = migration.instanceUuid;
    } else if (migration) {
      out.push(finding('claim-of-ended-migration',
        `${describeHeld(held)} held by migration ${consumer} (${migration.migrationType}, ${migration.status}${x.instances.has(migration.instanceUuid) ? '' : ', server gone'}), which no longer holds anything`,
        { ...ids, migration: consumer, server: migration.instanceUuid }, releaseFix(consumer)));
      continue;
    } else {
      out.push(finding('claim-of-missing-consumer',
        `${describeHeld(held)} held by ${consumer}, which is neither a server nor a migration`, ids, releaseFix(consumer)));
      continue;
    }
    const strayHosts = ids.hosts.filter((h) => !allowed.has(h));
    if (strayHosts.length) {
      out.push(finding('claim-on-wrong-host',
        `${consumer} holds claims on ${strayHosts.join(', ')}, where server ${server} (host ${instance?.host ?? 'none'}, task ${instance?.taskState ?? 'none'}) has no business`,
        { ...ids, server, stray_hosts: strayHosts }));
    }
    const mislabelled = held.devices.filter((d) => d.instanceUuid !== server);
    if (mislabelled.length) {
      out.push(finding('device-owner-mismatch',
        `device${mislabelled.length > 1 ? 's' : ''} ${addresses(mislabelled).join(', ')} held by ${consumer} name server ${mislabelled[0]!.instanceUuid ?? 'none'} instead of ${server}`,
        { consumer, server, devices: addresses(mislabelled) }));
    }
  }
  return out;
}
