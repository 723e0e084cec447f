/**
 * The doctor's audit: a pure function from a snapshot of the database's rows
 * to findings, each with the ids involved and what --fix would do.
 */
import { claimFindings } from './claims.js';
import { deviceStateFindings } from './deviceStates.js';
import type { Finding } from './findings.js';
import { guestFindings } from './guests.js';
import { portDeviceFindings } from './portDevices.js';
import { portFindings } from './ports.js';
import { indexSnapshot } from './snapshotIndex.js';
import type { AuditOptions, AuditSnapshot } from './snapshot.js';
import { taskFindings } from './tasks.js';
import { poolFindings, usageFindings } from './usage.js';

export function auditSnapshot(s: AuditSnapshot, opts: AuditOptions): Finding[] {
  const x = indexSnapshot(s);
  return [
    ...claimFindings(s, x),
    ...portDeviceFindings(s, x),
    ...portFindings(s, x),
    ...deviceStateFindings(s, x),
    ...poolFindings(s),
    ...usageFindings(s),
    ...guestFindings(s, x),
    ...taskFindings(s, opts),
  ];
}
