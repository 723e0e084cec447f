import { randomUUID } from 'node:crypto';
import { releaseConsumer, transferConsumer } from '../../storage/repositories/claims.js';
import { listMigrations, setMigrationStatus } from '../../storage/repositories/migrations.js';
import type { Unit } from '../../storage/unit.js';

/**
 * After the destination was claimed under the migration's uuid, swaps the
 * labels so the source claims belong to the migration and the destination's
 * to the instance (Nova's layout). Going through a third label keeps the two
 * sets apart even when source and destination are the same host; it is a
 * fresh UUID, as long as the other two, and never outlives this transaction.
 */
export async function swapMoveClaims(
  trx: Unit, instanceUuid: string, migrationUuid: string, source: string, dest: string,
): Promise<void> {
  const parked = randomUUID();
  await transferConsumer(trx, instanceUuid, parked, source);
  await transferConsumer(trx, migrationUuid, instanceUuid, dest);
  await transferConsumer(trx, parked, migrationUuid, source);
}

/**
 * Frees what unfinished cold moves of a server still hold (the source claims
 * under the migration's uuid). For server delete in VERIFY_RESIZE: call it in
 * the delete transaction (no import cycle: this file does not reach reports.ts).
 */
export async function releaseColdMoveClaims(trx: Unit, instanceUuid: string): Promise<void> {
  for (const m of await listMigrations(trx, { instanceUuid, inProgress: true })) {
    if (m.migration_type === 'evacuation') continue;
    await releaseConsumer(trx, m.uuid);
    await setMigrationStatus(trx, m.uuid, 'error');
  }
}

