import { sql, type Kysely, type Selectable } from 'kysely';
import type { GuestSpec } from '../../domain/guest/spec.js';
import type { DesiredGuestState, GuestAssignment, GuestReport } from '../../protocol/agentProtocol.js';
import type { Database, GuestTable } from '../schema.js';
import { COMPUTE_BINARY } from './hosts.js';
import { fromJson, nowIso, toJson } from './json.js';

export type GuestRow = Selectable<GuestTable>;

export function assignmentFromRow(r: Pick<GuestRow, 'instance_uuid' | 'desired_state' | 'generation' | 'spec'>): GuestAssignment {
  return {
    instanceUuid: r.instance_uuid,
    desiredState: r.desired_state as DesiredGuestState,
    generation: r.generation,
    spec: fromJson<GuestSpec>(r.spec, null as unknown as GuestSpec),
  };
}

/**
 * Records what the host's agent must make true; bumps the generation so the agent acts on it.
 * One upsert (insert … on conflict) instead of a select then an insert or update.
 */
export async function setDesiredGuest(
  db: Kysely<Database>, instanceUuid: string, host: string, desired: DesiredGuestState, spec: GuestSpec,
): Promise<number> {
  const now = nowIso();
  const specJson = toJson(spec);
  const row = await db.insertInto('guests').values({
    instance_uuid: instanceUuid, host, desired_state: desired, spec: specJson, generation: 1,
    observed_generation: 0, observed_state: null, domain_xml: null, error: null, updated_at: now,
  }).onConflict((oc) => oc.columns(['instance_uuid', 'host']).doUpdateSet({
    desired_state: desired, spec: specJson, generation: sql<number>`guests.generation + 1`, error: null, updated_at: now,
  })).returning('generation').executeTakeFirstOrThrow();
  return Number(row.generation);
}

export async function getGuest(db: Kysely<Database>, instanceUuid: string, host: string): Promise<GuestRow | undefined> {
  return db.selectFrom('guests').selectAll().where('instance_uuid', '=', instanceUuid).where('host', '=', host).executeTakeFirst();
}

export async function guestsOfInstance(db: Kysely<Database>, instanceUuid: string): Promise<GuestRow[]> {
  return db.selectFrom('guests').selectAll().where('instance_uuid', '=', instanceUuid).execute();
}

const ASSIGNMENT_COLUMNS = ['guests.instance_uuid', 'guests.desired_state', 'guests.generation', 'guests.spec'] as const;

/**
 * The guests of a host not yet as desired (guests_pending holds just those),
 * none while its compute service is forced down (fenced: it gets no work).
 */
export async function pendingGuests(db: Kysely<Database>, host: string, limit = 500): Promise<GuestAssignment[]> {
  const rows = await db.selectFrom('guests')
    .innerJoin('services', (j) => j.onRef('services.host', '=', 'guests.host').on('services.binary', '=', COMPUTE_BINARY))
    .select(ASSIGNMENT_COLUMNS)
    .where('guests.host', '=', host).where('services.forced_down', '=', 0)
    .where(sql<boolean>`generation > observed_generation`).limit(limit).execute();
  return rows.map(assignmentFromRow);
}

export async function allGuests(db: Kysely<Database>, host: string): Promise<GuestAssignment[]> {
  const rows = await db.selectFrom('guests').selectAll().where('host', '=', host).execute();
  return rows.map(assignmentFromRow);
}

/**
 * Stores an agent's report; stale reports (older generation than already seen) change nothing.
 * The updated row comes back from the same statement (returning), not a second read.
 */
export async function recordGuestReport(db: Kysely<Database>, r: GuestReport): Promise<GuestRow | null> {
  const row = await db.updateTable('guests').set({
    observed_generation: r.generation, observed_state: r.observedState, error: r.error,
    ...(r.domainXml !== null ? { domain_xml: r.domainXml } : {}), updated_at: nowIso(),
  }).where('instance_uuid', '=', r.instanceUuid).where('host', '=', r.host)
    .where('observed_generation', '<', r.generation).where('generation', '>=', r.generation)
    .returningAll().executeTakeFirst();
  return row ?? null;
}

/** Whether the instance still has a guest on any host. */
export async function hasGuests(db: Kysely<Database>, instanceUuid: string): Promise<boolean> {
  const row = await db.selectFrom('guests').select('host').where('instance_uuid', '=', instanceUuid).limit(1).executeTakeFirst();
  return row !== undefined;
}

export async function deleteGuest(db: Kysely<Database>, instanceUuid: string, host: string): Promise<void> {
  await db.deleteFrom('guests').where('instance_uuid', '=', instanceUuid).where('host', '=', host).execute();
}
