import type { DeviceStatus } from '../pci/device.js';

/** What --fix does about a finding: the storage layer carries it out. */
export type Repair =
  | { kind: 'release-consumer'; consumer: string }
  | { kind: 'unbind-port'; portId: string }
  | { kind: 'delete-guest'; instanceUuid: string; host: string }
  | { kind: 'set-device-status'; id: number; host: string; address: string; from: DeviceStatus; to: DeviceStatus }
  | { kind: 'recount-pools'; host: string }
  | { kind: 'recount-usage'; host: string };

export type FindingIds = Record<string, string | string[]>;

export interface Finding {
  code: string;
  message: string;
  ids: FindingIds;
  /** What --fix does, in words; null when it leaves the finding alone. */
  fix: string | null;
  repair: Repair | null;
}

/** A finding as the CLI and the API show it. */
export interface FindingView {
  code: string;
  message: string;
  ids: FindingIds;
  fix: string | null;
}

export function viewOf(f: Finding): FindingView {
  return { code: f.code, message: f.message, ids: f.ids, fix: f.fix };
}

/**
 * Repairs run in stages, each on a fresh audit: releasing a claim moves its
 * PF's status and its pool's count, so statuses are judged after the
 * releases, and counts are rebuilt from the rows last.
 */
export const REPAIR_STAGES: ReadonlyArray<ReadonlyArray<Repair['kind']>> = [
  ['release-consumer', 'unbind-port', 'delete-guest'],
  ['set-device-status'],
  ['recount-pools', 'recount-usage'],
];

/** A finding; `fix` says what --fix does and how, or is left out when --fix leaves it alone. */
export function finding(code: string, message: string, ids: FindingIds, fix?: { does: string; repair: Repair }): Finding {
  return { code, message, ids, fix: fix?.does ?? null, repair: fix?.repair ?? null };
}
