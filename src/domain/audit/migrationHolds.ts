/**
 * Which migrations may hold claims. The engine's own lists live in the
 * lifecycle modules (coldMove, liveMigration, evacuate) and storage
 * (FINISHED_MIGRATION_STATUSES); these must stay the same sets, or the doctor
 * reports claims the engine still needs, or misses leaked ones.
 */
import type { AuditMigration } from './snapshot.js';

/** Nova's "not in progress" statuses: a cold move or live migration in one of them holds nothing. */
export const FINISHED_MIGRATION_STATUSES: readonly string[] = [
  'confirmed', 'reverted', 'error', 'failed', 'completed', 'cancelled', 'done',
];

/**
 * An evacuation's source claims stay, held by the migration, until the
 * source host is back and has removed the old guest (evacuate.ts): also once
 * the evacuation itself is `done` or `failed`.
 */
export const EVACUATION_SOURCE_HOLDING_STATUSES: readonly string[] = ['accepted', 'pre-migrating', 'done', 'failed'];

export function migrationInProgress(m: AuditMigration): boolean {
  return !FINISHED_MIGRATION_STATUSES.includes(m.status);
}

/**
 * Whether the migration may still hold claims. A cold move or live migration
 * whose server is gone holds nothing (server delete frees them); an
 * evacuation's source claims wait for the source host even then.
 */
export function migrationHoldsClaims(m: AuditMigration, serverExists: boolean): boolean {
  if (m.migrationType === 'evacuation') return EVACUATION_SOURCE_HOLDING_STATUSES.includes(m.status);
  return serverExists && migrationInProgress(m);
}
