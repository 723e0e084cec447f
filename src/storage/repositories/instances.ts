import type { CompiledQuery, Expression, ExpressionBuilder, Kysely, Selectable, SqlBool, Updateable } from 'kysely';
import type { PciRequest } from '../../domain/pci/request.js';
import type { Database, InstanceTable } from '../schema.js';
import { deferWrite } from '../pipelining.js';
import { precompiled } from '../precompiled.js';
import { fromJson, isoAfter, nowIso, toJson } from './json.js';
import type { Unit, Session } from '../unit.js';
import { dbOf, onPostgres } from '../internal/handles.js';

export interface FlavorSnapshot {
  id: string;
  name: string;
  vcpus: number;
  ram: number;
  disk: number;
  ephemeral: number;
  swap: number;
  extra_specs: Record<string, string>;
}

export interface InstanceFault {
  code: number;
  message: string;
  details?: string;
  created: string;
}

export interface InstanceRecord {
  uuid: string;
  name: string;
  projectId: string;
  userId: string;
  imageRef: string;
  flavor: FlavorSnapshot;
  oldFlavor: FlavorSnapshot | null;
  newFlavor: FlavorSnapshot | null;
  vmState: string;
  taskState: string | null;
  powerState: number;
  host: string | null;
  node: string | null;
  /** Its host's zone once placed (Nova's OS-EXT-AZ:availability_zone). */
  availabilityZone: string;
  /** The zone asked for at create, which its moves keep; null: any. */
  requestedAvailabilityZone: string | null;
  metadata: Record<string, string>;
  fault: InstanceFault | null;
  description: string | null;
  keyName: string | null;
  pciRequests: PciRequest[];
  portIds: string[];
  requestedHost: string | null;
  launchedAt: string | null;
  createdAt: string;
  updatedAt: string;
  /** When the task state, or the step within it, last moved (the start of its deadline). */
  taskChangedAt: string | null;
  /** Hosts a build already failed on, skipped when it is placed again. */
  failedHosts: string[];
  /** The image's hw_* properties at boot: with the flavor, what the guest's NUMA topology is made of. */
  imageProperties: Record<string, string>;
  /** `server lock`: members' actions are refused while set (admins act anyway). */
  locked: boolean;
  lockedBy: 'owner' | 'admin' | null;
  lockedReason: string | null;
  /** Security group names the create asked for; null: the project's default. */
  securityGroups: string[] | null;
  /** Ports the compute API created for the server (deleted with it). */
  createdPortIds: string[];
  /** The server group it was booted into (its build and moves keep the group's policy); null: none. */
  serverGroup: string | null;
}

export type InstanceRow = Selectable<InstanceTable>;

export function instanceFromRow(r: InstanceRow): InstanceRecord {
  return {
    uuid: r.uuid,
    name: r.name,
    projectId: r.project_id,
    userId: r.user_id,
    imageRef: r.image_ref,
    flavor: fromJson<FlavorSnapshot>(r.flavor, null as unknown as FlavorSnapshot),
    oldFlavor: fromJson<FlavorSnapshot | null>(r.old_flavor, null),
    newFlavor: fromJson<FlavorSnapshot | null>(r.new_flavor, null),
    vmState: r.vm_state,
    taskState: r.task_state,
    powerState: r.power_state,
    host: r.host,
    node: r.node,
    availabilityZone: r.availability_zone,
    requestedAvailabilityZone: r.requested_availability_zone,
    metadata: fromJson<Record<string, string>>(r.metadata, {}),
    fault: fromJson<InstanceFault | null>(r.fault, null),
    description: r.description,
    keyName: r.key_name,
    pciRequests: fromJson<PciRequest[]>(r.pci_requests, []),
    portIds: fromJson<string[]>(r.network_requests, []),
    requestedHost: r.requested_host,
    launchedAt: r.launched_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    taskChangedAt: r.task_changed_at,
    failedHosts: fromJson<string[]>(r.failed_hosts, []),
    imageProperties: fromJson<Record<string, string>>(r.image_properties, {}),
    locked: Number(r.locked) === 1,
    lockedBy: r.locked_by as 'owner' | 'admin' | null,
    lockedReason: r.locked_reason,
    securityGroups: fromJson<string[] | null>(r.security_groups, null),
    createdPortIds: fromJson<string[]>(r.created_port_ids, []),
    serverGroup: r.server_group ?? null,
  };
}

export interface NewInstance {
  uuid: string;
  name: string;
  projectId: string;
  userId: string;
  imageRef: string;
  flavor: FlavorSnapshot;
  metadata: Record<string, string>;
  description: string | null;
  keyName: string | null;
  pciRequests: PciRequest[];
  portIds: string[];
  availabilityZone: string;
  imageProperties?: Record<string, string>;
  securityGroups?: string[] | null;
  createdPortIds?: string[];
  requestedAvailabilityZone?: string | null;
  /** An admin's `zone:host` (Nova's forced host). */
  requestedHost?: string | null;
  /** The server group of the `group` scheduler hint. */
  serverGroup?: string | null;
}

/**
 * Records a new server. Every column is written from here, so the record
 * returned is the row as stored, and the insert can be deferred
 * (pipelining.ts): a duplicate uuid still fails the transaction.
 */
export async function insertInstance(
  unit: Unit, i: NewInstance, state: { vmState: string; taskState: string | null },
  /** The controller process that places the new server holds its lease from the start (no write of its own). */
  lease?: { owner: string; seconds: number },
): Promise<InstanceRecord> {
  const db = dbOf(unit);
  const now = nowIso();
  const row: InstanceRow = {
    uuid: i.uuid, name: i.name, project_id: i.projectId, user_id: i.userId, image_ref: i.imageRef,
    flavor_id: i.flavor.id, flavor: toJson(i.flavor), old_flavor: null, new_flavor: null,
    vm_state: state.vmState, task_state: state.taskState, power_state: 0, host: null, node: null,
    availability_zone: i.availabilityZone, metadata: toJson(i.metadata), fault: null,
    description: i.description, key_name: i.keyName, pci_requests: toJson(i.pciRequests),
    network_requests: toJson(i.portIds), requested_host: i.requestedHost ?? null, launched_at: null, created_at: now, updated_at: now,
    task_changed_at: state.taskState ? now : null, failed_hosts: null,
    requested_availability_zone: i.requestedAvailabilityZone ?? null,
    image_properties: i.imageProperties && Object.keys(i.imageProperties).length ? toJson(i.imageProperties) : null,
    lease_owner: lease?.owner ?? null,
    lease_expires_at: lease ? isoAfter(lease.seconds * 1000) : null,
    locked: 0, locked_by: null, locked_reason: null,
    security_groups: i.securityGroups ? toJson(i.securityGroups) : null,
    created_port_ids: i.createdPortIds?.length ? toJson(i.createdPortIds) : null,
    server_group: i.serverGroup ?? null,
  };
  await deferWrite(db, db.insertInto('instances').values(row).compile());
  return instanceFromRow(row);
}

const instanceQuery = (db: Kysely<Database>, p: { uuid: string }) => db.selectFrom('instances').selectAll().where('uuid', '=', p.uuid);
const instanceByUuid = precompiled<{ uuid: string }, InstanceRow>(instanceQuery);
const instanceByUuidLocking = precompiled<{ uuid: string }, InstanceRow>((db, p) => instanceQuery(db, p).forUpdate());

/**
 * One server. `lock` (PostgreSQL, inside a transaction) also takes its row
 * lock, so work on one server (e.g. two hosts' reports) takes turns: the
 * second sees what the first did. SQLite runs one transaction at a time anyway.
 */
export async function getInstance(session: Session, uuid: string, opts: { lock?: boolean } = {}): Promise<InstanceRecord | null> {
  const db = dbOf(session);
  const [row] = (await db.executeQuery(instanceRead(session, uuid, opts))).rows;
  return row ? instanceFromRow(row) : null;
}

/** getInstance's statement, to send with others (runTogether); its row goes through instanceFromRow. */
export function instanceRead(session: Session, uuid: string, opts: { lock?: boolean } = {}): CompiledQuery<InstanceRow> {
  const db = dbOf(session);
  // Row locks exist on PostgreSQL; SQLite runs one transaction at a time anyway.
  return (opts.lock && onPostgres(session) ? instanceByUuidLocking : instanceByUuid).compile(db, { uuid });
}

export interface InstanceListFilter {
  projectId?: string;
  name?: string;
  host?: string;
  status?: { vmState: string; taskState?: string | null };
  limit?: number;
  marker?: { createdAt: string; uuid: string };
  /** Nova's tag filters (2.26+): every one of `tags`, any of `tagsAny`, not all of `notTags`, none of `notTagsAny`. */
  tags?: string[];
  tagsAny?: string[];
  notTags?: string[];
  notTagsAny?: string[];
  /** 2.73+: only locked (true) or unlocked (false) servers. */
  locked?: boolean;
}

export async function listInstances(session: Session, f: InstanceListFilter): Promise<InstanceRecord[]> {
  const db = dbOf(session);
  let q = db.selectFrom('instances').selectAll();
  if (f.projectId) q = q.where('project_id', '=', f.projectId);
  if (f.host) q = q.where('host', '=', f.host);
  if (f.status) q = q.where('vm_state', '=', f.status.vmState);
  if (f.locked !== undefined) q = q.where('locked', '=', f.locked ? 1 : 0);
  q = q.where((eb) => eb.and(tagConditions(eb, f)));
  if (f.marker) {
    const m = f.marker;
    q = q.where((eb) => eb.or([eb('created_at', '<', m.createdAt), eb.and([eb('created_at', '=', m.createdAt), eb('uuid', '<', m.uuid)])]));
  }
  q = q.orderBy('created_at', 'desc').orderBy('uuid', 'desc');
  if (f.limit) q = q.limit(f.limit);
  const rows = await q.execute();
  const all = rows.map(instanceFromRow);
  // Nova's name filter is a regular expression match.
  if (f.name) {
    let re: RegExp;
    try { re = new RegExp(f.name); } catch { re = new RegExp(f.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')); }
    return all.filter((i) => re.test(i.name));
  }
  return all;
}

/** The tag filters as conditions on `instances` (one exists-subquery each, through the instance_tags key). */
function tagConditions(eb: ExpressionBuilder<Database, 'instances'>, f: InstanceListFilter): Expression<SqlBool>[] {
  const tagged = (tags: string[]) => eb.exists(eb.selectFrom('instance_tags').select('instance_tags.tag')
    .whereRef('instance_tags.instance_uuid', '=', 'instances.uuid').where('instance_tags.tag', 'in', tags));
  const out: Expression<SqlBool>[] = [];
  if (f.tags?.length) out.push(eb.and(f.tags.map((t) => tagged([t]))));
  if (f.tagsAny?.length) out.push(tagged(f.tagsAny));
  if (f.notTags?.length) out.push(eb.not(eb.and(f.notTags.map((t) => tagged([t])))));
  if (f.notTagsAny?.length) out.push(eb.not(tagged(f.notTagsAny)));
  return out;
}

export type InstanceChanges = Partial<{
  vmState: string; taskState: string | null; powerState: number; host: string | null; node: string | null;
  fault: InstanceFault | null; flavor: FlavorSnapshot; oldFlavor: FlavorSnapshot | null; newFlavor: FlavorSnapshot | null;
  launchedAt: string | null; portIds: string[]; pciRequests: PciRequest[]; requestedHost: string | null;
  name: string; metadata: Record<string, string>; description: string | null;
  failedHosts: string[];
  lock: { lockedBy: 'owner' | 'admin'; reason: string | null } | null;
  /** The image the server runs (a rebuild changes it). */
  imageRef: string;
  availabilityZone: string;
  /** The server moved to the next step of its task without changing the task state: its deadline starts again. */
  stepStarted: true;
  /** The controller process that held the server's lease lets go of it in the same write. */
  releaseLease: true;
}>;

function toColumns(c: InstanceChanges): Updateable<InstanceTable> {
  const now = nowIso();
  const out: Updateable<InstanceTable> = { updated_at: now };
  if (c.vmState !== undefined) out.vm_state = c.vmState;
  if (c.taskState !== undefined) {
    out.task_state = c.taskState;
    out.task_changed_at = c.taskState === null ? null : now;
  }
  if (c.stepStarted) out.task_changed_at = now;
  if (c.releaseLease) { out.lease_owner = null; out.lease_expires_at = null; }
  if (c.failedHosts !== undefined) out.failed_hosts = c.failedHosts.length ? toJson(c.failedHosts) : null;
  if (c.powerState !== undefined) out.power_state = c.powerState;
  if (c.host !== undefined) out.host = c.host;
  if (c.node !== undefined) out.node = c.node;
  if (c.fault !== undefined) out.fault = c.fault ? toJson(c.fault) : null;
  if (c.flavor !== undefined) { out.flavor = toJson(c.flavor); out.flavor_id = c.flavor.id; }
  if (c.oldFlavor !== undefined) out.old_flavor = c.oldFlavor ? toJson(c.oldFlavor) : null;
  if (c.newFlavor !== undefined) out.new_flavor = c.newFlavor ? toJson(c.newFlavor) : null;
  if (c.launchedAt !== undefined) out.launched_at = c.launchedAt;
  if (c.portIds !== undefined) out.network_requests = toJson(c.portIds);
  if (c.pciRequests !== undefined) out.pci_requests = toJson(c.pciRequests);
  if (c.requestedHost !== undefined) out.requested_host = c.requestedHost;
  if (c.name !== undefined) out.name = c.name;
  if (c.imageRef !== undefined) out.image_ref = c.imageRef;
  if (c.metadata !== undefined) out.metadata = toJson(c.metadata);
  if (c.description !== undefined) out.description = c.description;
  if (c.lock !== undefined) {
    out.locked = c.lock ? 1 : 0;
    out.locked_by = c.lock?.lockedBy ?? null;
    out.locked_reason = c.lock?.reason ?? null;
  }
  if (c.availabilityZone !== undefined) out.availability_zone = c.availabilityZone;
  return out;
}

/**
 * Updates an instance only if it is still in the task state the caller read
 * (`expectTaskState`), so two operations can never both start on one server.
 */
type ExpectedState = { taskState?: string | null; vmState?: string };

function instanceUpdate(db: Kysely<Database>, uuid: string, changes: InstanceChanges, expect?: ExpectedState) {
  let q = db.updateTable('instances').set(toColumns(changes)).where('uuid', '=', uuid);
  if (expect?.taskState !== undefined) {
    q = expect.taskState === null ? q.where('task_state', 'is', null) : q.where('task_state', '=', expect.taskState);
  }
  if (expect?.vmState !== undefined) q = q.where('vm_state', '=', expect.vmState);
  return q;
}

export async function updateInstance(unit: Unit, uuid: string, changes: InstanceChanges, expect?: ExpectedState): Promise<boolean> {
  const db = dbOf(unit);
  const r = await instanceUpdate(db, uuid, changes, expect).executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/**
 * updateInstance for a caller that cannot go on when the server is not in
 * the expected state: it fails with `otherwise()`, and the write is deferred
 * (pipelining.ts), so on PostgreSQL it costs no round trip of its own.
 */
export async function updateInstanceOrFail(
  unit: Unit, uuid: string, changes: InstanceChanges, expect: ExpectedState, otherwise: () => Error,
): Promise<void> {
  const db = dbOf(unit);
  await deferWrite(db, instanceUpdate(db, uuid, changes, expect).compile(), otherwise);
}

export async function deleteInstanceRow(unit: Unit, uuid: string): Promise<void> {
  const db = dbOf(unit);
  await deferWrite(db, db.deleteFrom('instances').where('uuid', '=', uuid).compile());
  await deferWrite(db, db.deleteFrom('instance_tags').where('instance_uuid', '=', uuid).compile());
}

export async function instancesInTaskState(session: Session, taskState: string): Promise<InstanceRecord[]> {
  const db = dbOf(session);
  const rows = await db.selectFrom('instances').selectAll().where('task_state', '=', taskState).execute();
  return rows.map(instanceFromRow);
}

/**
 * Serialises work on one server across transactions on PostgreSQL (SQLite
 * runs one writer at a time anyway): two agents reporting on the same server
 * at once must not both decide from a state the other is changing.
 */
