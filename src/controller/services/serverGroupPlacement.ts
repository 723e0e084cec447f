import { ClaimConflict } from '../../domain/errors.js';
import { groupPlacementOf, groupRejects, type GroupRules } from '../../domain/scheduling/serverGroups.js';
import type { ResourceRequest } from '../../domain/scheduling/types.js';
import { fromJson } from '../../storage/repositories/json.js';
import { lockServerGroup, memberHostCounts } from '../../storage/repositories/serverGroups.js';
import type { Unit } from '../../storage/unit.js';

export { groupAttempts } from '../../domain/scheduling/serverGroups.js';

/**
 * The placement of a group member, inside the transaction that claims its
 * host: the group's row lock first (so placements of one group's members,
 * in this or another controller process, run one after the other up to
 * their commit), then where the other members hold resources, as the
 * transaction sees it. A policy decided on that cannot be broken by a
 * concurrent create, which is what Nova needs its late check on the compute
 * host for. A group deleted meanwhile no longer constrains the server.
 */
export async function withServerGroup(trx: Unit, request: ResourceRequest, instanceUuid: string): Promise<ResourceRequest> {
  const row = await lockServerGroup(trx, request.serverGroup!);
  if (!row) return request;
  const group = groupPlacementOf({ ...row, rules: fromJson<GroupRules>(row.rules, {}) }, await memberHostCounts(trx, row.id, instanceUuid));
  return group ? { ...request, group } : request;
}

/** The check before the claim commits: the chosen host must keep a hard policy (a stale candidate is a lost race). */
export function checkGroupPolicy(host: string, request: ResourceRequest): void {
  const why = groupRejects(host, request.group);
  if (why) throw new ClaimConflict(`host ${host}: ${why}`);
}
