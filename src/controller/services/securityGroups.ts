import { randomUUID } from 'node:crypto';
import { BadRequest, Conflict, Forbidden, NotFound } from '../../domain/errors.js';
import {
  checkPorts, defaultRulesOf, normalizePrefix, normalizeProtocol, ruleKey, type RuleFields,
} from '../../domain/network/securityGroupRules.js';
import { nowTimestamp } from '../../storage/repositories/networks.js';
import {
  claimDefaultGroup, defaultGroupIdOf, deleteRuleRow, deleteSecurityGroupRow, getSecurityGroupRow, groupsOfPorts,
  insertRule, insertSecurityGroup, listRuleRows, listSecurityGroupRows, portSecurityEnabled, portsCarryingGroup,
  portSecurityOf, rulesNamingRemoteGroup, setPortGroups, setPortSecurityEnabled, updateSecurityGroupRow,
  type RuleFilter, type SecurityGroupFilter, type SecurityGroupRow, type SecurityGroupRuleRow,
} from '../../storage/repositories/securityGroups.js';
import type { AuthContext } from '../context.js';
import type { Unit, Session } from '../../storage/unit.js';
import { inUnit, sessionOf, type Storage } from '../../storage/db.js';

/**
 * Security groups and rules (networking API) and the groups ports carry.
 * Recorded and shown only: filtering traffic is the networking backend's
 * job (for vDPA ports, OVS hardware offload), which this project does not
 * drive; see docs/networking.md.
 */

export type { SecurityGroupRow, SecurityGroupRuleRow };

export const DEFAULT_GROUP = 'default';

function groupNotFound(id: string): NotFound {
  return new NotFound(`Security group ${id} does not exist`, 'SecurityGroupNotFound');
}

function ruleRow(groupId: string, projectId: string, f: RuleFields, description: string, now: string): SecurityGroupRuleRow {
  return {
    id: randomUUID(), security_group_id: groupId, project_id: projectId, direction: f.direction, ethertype: f.ethertype,
    protocol: f.protocol, port_range_min: f.portRangeMin, port_range_max: f.portRangeMax,
    remote_ip_prefix: f.remoteIpPrefix, remote_group_id: f.remoteGroupId, description,
    created_at: now, updated_at: now, revision_number: 0,
  };
}

async function insertGroupWithRules(db: Unit, g: SecurityGroupRow, isDefault: boolean): Promise<void> {
  await insertSecurityGroup(db, g);
  for (const f of defaultRulesOf(g.id, isDefault)) await insertRule(db, ruleRow(g.id, g.project_id, f, '', g.created_at));
}

/**
 * The project's `default` group, made on first use with networking's
 * default rules. The slot is claimed before the group is written, in one
 * transaction, so two first uses at once make one group.
 */
export async function ensureDefaultGroup(db: Unit | Storage, projectId: string): Promise<string> {
  const existing = await defaultGroupIdOf(sessionOf(db), projectId);
  if (existing) return existing;
  return inUnit(db, async (tx) => {
    const id = randomUUID();
    if (!(await claimDefaultGroup(tx, projectId, id))) return (await defaultGroupIdOf(tx, projectId))!;
    const now = nowTimestamp();
    await insertGroupWithRules(tx, {
      id, project_id: projectId, name: DEFAULT_GROUP, description: 'Default security group', stateful: 1,
      created_at: now, updated_at: now, revision_number: 1,
    }, true);
    return id;
  });
}

export async function visibleGroup(db: Session, id: string, auth: AuthContext): Promise<SecurityGroupRow> {
  const g = await getSecurityGroupRow(db, id);
  if (!g || !(auth.isAdmin || g.project_id === auth.projectId)) throw groupNotFound(id);
  return g;
}

export async function listGroups(db: Unit | Storage, f: SecurityGroupFilter, auth: AuthContext): Promise<SecurityGroupRow[]> {
  await ensureDefaultGroup(db, auth.projectId);
  return listSecurityGroupRows(sessionOf(db), { ...f, ...(auth.isAdmin ? {} : { projectIds: [auth.projectId] }) });
}

export async function rulesOfGroups(db: Session, groupIds: string[]): Promise<Map<string, SecurityGroupRuleRow[]>> {
  const out = new Map<string, SecurityGroupRuleRow[]>();
  for (const r of await listRuleRows(db, { securityGroupIds: groupIds })) {
    const list = out.get(r.security_group_id) ?? [];
    list.push(r);
    out.set(r.security_group_id, list);
  }
  return out;
}

export interface GroupInput { name: string; description?: string; stateful?: boolean; projectId?: string }

export async function createGroup(db: Unit | Storage, input: GroupInput, auth: AuthContext): Promise<SecurityGroupRow> {
  const projectId = input.projectId ?? auth.projectId;
  if (projectId !== auth.projectId && !auth.isAdmin) {
    throw new Forbidden('(rule:create_security_group and rule:create_security_group:project_id) is disallowed by policy');
  }
  await ensureDefaultGroup(db, projectId);
  if (input.name === DEFAULT_GROUP) throw new Conflict('Default security group already exists.', 'SecurityGroupDefaultAlreadyExists');
  return inUnit(db, async (tx) => {
    const now = nowTimestamp();
    const g: SecurityGroupRow = {
      id: randomUUID(), project_id: projectId, name: input.name, description: input.description ?? '',
      stateful: input.stateful === false ? 0 : 1, created_at: now, updated_at: now, revision_number: 1,
    };
    await insertGroupWithRules(tx, g, false);
    return g;
  });
}

export async function updateGroup(
  db: Unit | Storage, id: string, changes: { name?: string; description?: string; stateful?: boolean }, auth: AuthContext,
): Promise<SecurityGroupRow> {
  return inUnit(db, async (tx) => {
    const g = await visibleGroup(tx, id, auth);
    if (g.name === DEFAULT_GROUP && changes.name !== undefined && changes.name !== DEFAULT_GROUP) {
      throw new Conflict('Updating default security group not allowed.', 'SecurityGroupCannotUpdateDefault');
    }
    if (changes.name === DEFAULT_GROUP && g.name !== DEFAULT_GROUP) {
      throw new Conflict('Default security group already exists.', 'SecurityGroupDefaultAlreadyExists');
    }
    await updateSecurityGroupRow(tx, id, {
      ...(changes.name !== undefined ? { name: changes.name } : {}),
      ...(changes.description !== undefined ? { description: changes.description } : {}),
      ...(changes.stateful !== undefined ? { stateful: changes.stateful ? 1 : 0 } : {}),
    }, nowTimestamp());
    return (await getSecurityGroupRow(tx, id))!;
  });
}

/** A group a port carries, or that another group's rule names, stays; a project's `default` only an admin removes. */
export async function deleteGroup(db: Unit | Storage, id: string, auth: AuthContext): Promise<void> {
  await inUnit(db, async (tx) => {
    const g = await visibleGroup(tx, id, auth);
    if (g.name === DEFAULT_GROUP && !auth.isAdmin) {
      throw new Conflict('Removing default security group not allowed.', 'SecurityGroupCannotRemoveDefault');
    }
    if (await portsCarryingGroup(tx, id) > 0 || await rulesNamingRemoteGroup(tx, id) > 0) {
      throw new Conflict(`Security Group ${id} in use.`, 'SecurityGroupInUse');
    }
    await deleteSecurityGroupRow(tx, id);
  });
}

// ---------- rules ----------

export interface RuleInput {
  securityGroupId: string; direction?: string; ethertype?: string; protocol?: string | null;
  portRangeMin?: number | null; portRangeMax?: number | null; remoteIpPrefix?: string | null;
  remoteGroupId?: string | null; description?: string; projectId?: string;
}

export async function listRules(db: Unit | Storage, f: RuleFilter, auth: AuthContext): Promise<SecurityGroupRuleRow[]> {
  await ensureDefaultGroup(db, auth.projectId);
  return listRuleRows(sessionOf(db), { ...f, ...(auth.isAdmin ? {} : { projectIds: [auth.projectId] }) });
}

export async function visibleRule(db: Session, id: string, auth: AuthContext): Promise<SecurityGroupRuleRow> {
  const [r] = await listRuleRows(db, { ids: [id] });
  if (!r || !(auth.isAdmin || r.project_id === auth.projectId)) {
    throw new NotFound(`Security group rule ${id} does not exist`, 'SecurityGroupRuleNotFound');
  }
  return r;
}

export async function createRule(db: Unit | Storage, input: RuleInput, auth: AuthContext): Promise<SecurityGroupRuleRow> {
  if (input.direction !== 'ingress' && input.direction !== 'egress') {
    throw new BadRequest(`Invalid input for direction. Reason: ${input.direction === undefined ? 'None' : `'${input.direction}'`} is not in ['ingress', 'egress'].`);
  }
  const ethertype = input.ethertype ?? 'IPv4';
  if (ethertype !== 'IPv4' && ethertype !== 'IPv6') {
    throw new BadRequest(`Invalid input for ethertype. Reason: '${ethertype}' is not in ['IPv4', 'IPv6'].`);
  }
  if (input.remoteIpPrefix && input.remoteGroupId) {
    throw new BadRequest('Only remote_ip_prefix or remote_group_id may be provided.', 'SecurityGroupRemoteGroupAndRemoteIpPrefix');
  }
  const fields: RuleFields = {
    direction: input.direction, ethertype, protocol: normalizeProtocol(input.protocol ?? null),
    portRangeMin: input.portRangeMin ?? null, portRangeMax: input.portRangeMax ?? null,
    remoteIpPrefix: input.remoteIpPrefix ? normalizePrefix(input.remoteIpPrefix, ethertype) : null,
    remoteGroupId: input.remoteGroupId ?? null,
  };
  checkPorts(fields);
  return inUnit(db, async (tx) => {
    const g = await visibleGroup(tx, input.securityGroupId, auth);
    if (input.projectId !== undefined && input.projectId !== g.project_id && !auth.isAdmin) {
      throw new Forbidden('(rule:create_security_group_rule and rule:create_security_group_rule:project_id) is disallowed by policy');
    }
    if (fields.remoteGroupId) await visibleGroup(tx, fields.remoteGroupId, auth);
    const key = ruleKey(fields);
    const same = (await listRuleRows(tx, { securityGroupIds: [g.id] })).find((r) => ruleKey({
      direction: r.direction as RuleFields['direction'], ethertype: r.ethertype as RuleFields['ethertype'], protocol: r.protocol,
      portRangeMin: r.port_range_min, portRangeMax: r.port_range_max, remoteIpPrefix: r.remote_ip_prefix, remoteGroupId: r.remote_group_id,
    }) === key);
    if (same) throw new Conflict(`Security group rule already exists. Rule id is ${same.id}.`, 'SecurityGroupRuleExists');
    const row = ruleRow(g.id, input.projectId ?? g.project_id, fields, input.description ?? '', nowTimestamp());
    await insertRule(tx, row);
    await updateSecurityGroupRow(tx, g.id, {}, row.created_at);
    return row;
  });
}

export async function deleteRule(db: Unit | Storage, id: string, auth: AuthContext): Promise<void> {
  await inUnit(db, async (tx) => {
    const r = await visibleRule(tx, id, auth);
    await deleteRuleRow(tx, r.id);
    await updateSecurityGroupRow(tx, r.security_group_id, {}, nowTimestamp());
  });
}

// ---------- ports ----------

export interface PortSecurityInput {
  /** Group ids (or names of the port's project's groups); absent: the project's default. */
  securityGroups?: string[];
  portSecurityEnabled?: boolean;
}

/** Group ids from ids or names; each must be a group of the port's project, as networking requires. */
export async function resolveGroups(db: Session, projectId: string, refs: string[]): Promise<string[]> {
  const ids: string[] = [];
  const groups = await listSecurityGroupRows(db, { projectIds: [projectId] });
  for (const ref of refs) {
    const byId = groups.find((g) => g.id === ref);
    const byName = groups.filter((g) => g.name === ref);
    if (byId) ids.push(byId.id);
    else if (byName.length === 1) ids.push(byName[0]!.id);
    else if (byName.length > 1) throw new Conflict(`Multiple security_group matches found for name '${ref}', use an ID to be more specific.`, 'NeutronClientNoUniqueMatch');
    else throw groupNotFound(ref);
  }
  return ids;
}

function needsPortSecurity(): BadRequest {
  return new BadRequest('Port security must be enabled and port must have an IP address in order to use security groups.',
    'PortSecurityAndIPRequiredForSecurityGroups');
}

/** A new port's groups: those asked for, else its project's default; none without port security. */
export async function applyNewPortSecurity(db: Unit, portId: string, projectId: string, input: PortSecurityInput): Promise<void> {
  const enabled = input.portSecurityEnabled !== false;
  if (!enabled) {
    if (input.securityGroups?.length) throw needsPortSecurity();
    await setPortSecurityEnabled(db, portId, false);
    return;
  }
  const ids = input.securityGroups === undefined
    ? [await ensureDefaultGroup(db, projectId)]
    : await resolveGroups(db, projectId, input.securityGroups);
  await setPortGroups(db, portId, ids);
}

/** A port update's groups and port security, checked together as networking does. */
export async function applyPortSecurityChange(db: Unit, portId: string, projectId: string, input: PortSecurityInput): Promise<void> {
  if (input.securityGroups === undefined && input.portSecurityEnabled === undefined) return;
  const enabled = input.portSecurityEnabled ?? await portSecurityEnabled(db, portId);
  const current = (await groupsOfPorts(db, [portId])).get(portId) ?? [];
  const groups = input.securityGroups !== undefined ? await resolveGroups(db, projectId, input.securityGroups) : current;
  if (!enabled && groups.length > 0) {
    if (input.securityGroups === undefined) {
      throw new Conflict('Port has security group associated. Cannot disable port security or ip address until security group is removed',
        'PortSecurityPortHasSecurityGroup');
    }
    throw needsPortSecurity();
  }
  if (input.portSecurityEnabled !== undefined) await setPortSecurityEnabled(db, portId, enabled);
  if (input.securityGroups !== undefined) await setPortGroups(db, portId, groups);
}

/** What a port view shows of port security: per port id, its group ids and whether port security is on. */
export async function portSecurityViews(db: Session, portIds: string[]): Promise<Map<string, { securityGroups: string[]; portSecurityEnabled: boolean }>> {
  const [groups, enabled] = await Promise.all([groupsOfPorts(db, portIds), portSecurityOf(db, portIds)]);
  return new Map(portIds.map((id) => [id, { securityGroups: groups.get(id) ?? [], portSecurityEnabled: enabled.get(id) ?? true }]));
}

/** Nova's `security_groups` of each server: the names of the groups its ports carry, each once (server uuid → names). */
export async function groupNamesOfServers(db: Session, ports: Array<{ id: string; deviceId: string }>): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const byPort = await groupsOfPorts(db, ports.map((p) => p.id));
  const ids = [...new Set([...byPort.values()].flat())];
  if (ids.length === 0) return out;
  const names = new Map((await listSecurityGroupRows(db, { ids })).map((g) => [g.id, g.name]));
  for (const p of ports) {
    for (const g of byPort.get(p.id) ?? []) {
      const name = names.get(g);
      const list = out.get(p.deviceId) ?? [];
      if (name !== undefined && !list.includes(name)) list.push(name);
      out.set(p.deviceId, list);
    }
  }
  return out;
}

/**
 * The groups a server create names (`security_groups: [{name}]`, names or
 * ids of the caller's project's groups), checked as Nova checks them with
 * networking; applied only to the ports the compute API creates.
 */
export async function groupsForServer(db: Unit | Storage, projectId: string, refs: string[]): Promise<string[]> {
  await ensureDefaultGroup(db, projectId);
  try {
    return await resolveGroups(sessionOf(db), projectId, refs);
  } catch (e) {
    if (e instanceof NotFound) throw new BadRequest(`Security group ${e.message.replace(/^Security group (.*) does not exist$/, '$1')} not found.`);
    if (e instanceof Conflict) throw new Conflict(`Multiple security groups found matching '${refs.join(', ')}'. Use an ID to be more specific.`);
    throw e;
  }
}
