import { sql, type CompiledQuery, type Kysely, type Selectable } from 'kysely';
import type { GuestSpec } from '../../domain/guest/spec.js';
import { PENDING_GUESTS_PAGE, type DesiredGuestState, type GuestAssignment, type GuestReport } from '../../protocol/agentProtocol.js';
import type { Database, GuestTable } from '../schema.js';
import { deferWrite, runTogether } from '../pipelining.js';
import { instanceFromRow, instanceRead, type InstanceRecord, type InstanceRow } from './instances.js';
import { precompiled } from '../precompiled.js';
import { COMPUTE_BINARY } from './hosts.js';
import { fromJson, nowIso, toJson } from './json.js';
import type { Unit, Session } from '../unit.js';
import { dbOf } from '../internal/handles.js';
import { currentRequestId } from '../../protocol/requestIds.js';

/** A guest as operations see it: everything but the (large) domain XML, which only its own endpoint reads. */
export type GuestRow = Omit<Selectable<GuestTable>, 'domain_xml'>;

/** The stored spec column: the GuestSpec and the request id that last set the guest (requestIds.ts). */
type StoredSpec = GuestSpec & { requestId?: string };

/** The GuestSpec a guest row stores (the column holds it as JSON; this repository alone reads that). */
export function guestSpecOf(row: Pick<GuestRow, 'spec'>): GuestSpec {
  // A reboot belongs to the instruction that asked for it: a spec copied into a later one never repeats it.
  const { reboot: _asked, requestId: _requestId, ...spec } = JSON.parse(row.spec) as StoredSpec;
  return spec;
}

/** The spec to store: the current request's id replaces whatever id the spec came with. */
function storedSpec(spec: GuestSpec): string {
  const { requestId: _previous, ...plain } = spec as StoredSpec;
  const requestId = currentRequestId();
  return toJson(requestId ? { ...plain, requestId } : plain);
}
const GUEST_COLUMNS = [
  'instance_uuid', 'host', 'desired_state', 'spec', 'generation', 'observed_generation', 'observed_state', 'error', 'updated_at',
] as const satisfies ReadonlyArray<keyof GuestRow>;

export function assignmentFromRow(r: Pick<GuestRow, 'instance_uuid' | 'desired_state' | 'generation' | 'spec'>): GuestAssignment {
  const { requestId, ...spec } = fromJson<StoredSpec>(r.spec, null as unknown as StoredSpec);
  return {
    instanceUuid: r.instance_uuid,
    desiredState: r.desired_state as DesiredGuestState,
    generation: r.generation,
    spec,
    ...(requestId ? { requestId } : {}),
  };
}

/**
 * Records what the host's agent must make true; bumps the generation so the agent acts on it.
 * One upsert (insert … on conflict) instead of a select then an insert or update.
 */
export async function setDesiredGuest(
  unit: Unit, instanceUuid: string, host: string, desired: DesiredGuestState, spec: GuestSpec,
): Promise<void> {
  const db = dbOf(unit);
  await deferWrite(db, upsertDesiredGuest.compile(db, { instanceUuid, host, desired, spec: storedSpec(spec), now: nowIso() }));
}

const upsertDesiredGuest = precompiled<{ instanceUuid: string; host: string; desired: string; spec: string; now: string }>((db, p) =>
  db.insertInto('guests').values({
    instance_uuid: p.instanceUuid, host: p.host, desired_state: p.desired, spec: p.spec, generation: 1,
    observed_generation: 0, observed_state: null, domain_xml: null, error: null, updated_at: p.now,
  }).onConflict((oc) => oc.columns(['instance_uuid', 'host']).doUpdateSet({
    desired_state: p.desired, spec: p.spec, generation: sql<number>`guests.generation + 1`, error: null, updated_at: p.now,
  })));

export async function getGuest(session: Session, instanceUuid: string, host: string): Promise<GuestRow | undefined> {
  const db = dbOf(session);
  return db.selectFrom('guests').selectAll().where('instance_uuid', '=', instanceUuid).where('host', '=', host).executeTakeFirst();
}

export async function guestsOfInstance(session: Session, instanceUuid: string): Promise<Array<Selectable<GuestTable>>> {
  const db = dbOf(session);
  return db.selectFrom('guests').selectAll().where('instance_uuid', '=', instanceUuid).execute();
}

const ASSIGNMENT_COLUMNS = ['guests.instance_uuid', 'guests.desired_state', 'guests.generation', 'guests.spec'] as const;

const pendingOfHost = precompiled<{ host: string; limit: number }, Pick<GuestRow, 'instance_uuid' | 'desired_state' | 'generation' | 'spec'>>((db, p) =>
  db.selectFrom('guests')
    .innerJoin('services', (j) => j.onRef('services.host', '=', 'guests.host').on('services.binary', '=', COMPUTE_BINARY))
    .select(ASSIGNMENT_COLUMNS)
    .where('guests.host', '=', p.host).where('services.forced_down', '=', 0)
    .where(sql<boolean>`generation > observed_generation`).limit(p.limit));

/**
 * The guests of a host not yet as desired (guests_pending holds just those),
 * none while its compute service is forced down (fenced: it gets no work).
 */
export async function pendingGuests(session: Session, host: string, limit = PENDING_GUESTS_PAGE): Promise<GuestAssignment[]> {
  const db = dbOf(session);
  return (await pendingOfHost.run(db, { host, limit })).rows.map(assignmentFromRow);
}

export async function allGuests(session: Session, host: string): Promise<GuestAssignment[]> {
  const db = dbOf(session);
  const rows = await db.selectFrom('guests').selectAll().where('host', '=', host).execute();
  return rows.map(assignmentFromRow);
}

/**
 * Stores an agent's report; stale reports (older generation than already seen) change nothing.
 * The updated row comes back from the same statement (returning), not a second read.
 */
export async function recordGuestReport(unit: Unit, r: GuestReport): Promise<GuestRow | null> {
  const db = dbOf(unit);
  const { rows: [row] } = await db.executeQuery(reportWrite(db, r));
  return row ?? null;
}

/**
 * recordGuestReport and the server it is about, read after it in the same
 * round trip (runTogether; `lock` as for getInstance). The server is read
 * even when the report turns out stale.
 */
export async function recordGuestReportReadingInstance(
  unit: Unit, r: GuestReport, opts: { lock: boolean },
): Promise<{ guest: GuestRow | null; instance: InstanceRecord | null }> {
  const db = dbOf(unit);
  const [written, read] = await runTogether(db, [reportWrite(db, r), instanceRead(unit, r.instanceUuid, opts)]);
  const guest = (written!.rows[0] as GuestRow | undefined) ?? null;
  const row = read!.rows[0] as InstanceRow | undefined;
  return { guest, instance: row ? instanceFromRow(row) : null };
}

function reportWrite(db: Kysely<Database>, r: GuestReport): CompiledQuery<GuestRow> {
  const values = {
    instanceUuid: r.instanceUuid, host: r.host, generation: r.generation, observedState: r.observedState,
    error: r.error, domainXml: r.domainXml, now: nowIso(),
  };
  return (r.domainXml !== null ? recordReportWithXml : recordReport).compile(db, values);
}

type ReportValues = {
  instanceUuid: string; host: string; generation: number; observedState: string | null; error: string | null;
  domainXml: string | null; now: string;
};
const reportQuery = (db: Kysely<Database>, p: ReportValues, withXml: boolean) => db.updateTable('guests').set({
  observed_generation: p.generation, observed_state: p.observedState, error: p.error,
  ...(withXml ? { domain_xml: p.domainXml } : {}), updated_at: p.now,
}).where('instance_uuid', '=', p.instanceUuid).where('host', '=', p.host)
  .where('observed_generation', '<', p.generation).where('generation', '>=', p.generation)
  .returning(GUEST_COLUMNS);
const recordReport = precompiled<ReportValues, GuestRow>((db, p) => reportQuery(db, p, false));
const recordReportWithXml = precompiled<ReportValues, GuestRow>((db, p) => reportQuery(db, p, true));

/** Whether the instance still has a guest on any host. */
export async function hasGuests(session: Session, instanceUuid: string): Promise<boolean> {
  const db = dbOf(session);
  const row = await db.selectFrom('guests').select('host').where('instance_uuid', '=', instanceUuid).limit(1).executeTakeFirst();
  return row !== undefined;
}

/** Every guest row of a server, on any host (the server is being removed). */
export async function deleteGuestsOf(unit: Unit, instanceUuid: string): Promise<void> {
  const db = dbOf(unit);
  await deferWrite(db, db.deleteFrom('guests').where('instance_uuid', '=', instanceUuid).compile());
}

export async function deleteGuest(unit: Unit, instanceUuid: string, host: string): Promise<void> {
  const db = dbOf(unit);
  await deferWrite(db, db.deleteFrom('guests').where('instance_uuid', '=', instanceUuid).where('host', '=', host).compile());
}
