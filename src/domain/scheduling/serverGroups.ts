import type { GroupPlacement, GroupPolicy, ResourceRequest } from './types.js';

export type { GroupPlacement, GroupPolicy };

export const GROUP_POLICIES: readonly GroupPolicy[] = ['anti-affinity', 'affinity', 'soft-anti-affinity', 'soft-affinity'];

export function isGroupPolicy(p: unknown): p is GroupPolicy {
  return typeof p === 'string' && (GROUP_POLICIES as readonly string[]).includes(p);
}

/** A group's rules (2.64+): only anti-affinity takes one, `max_server_per_host`. */
export interface GroupRules { max_server_per_host?: number }

export function groupPlacementOf(
  row: { id: string; policy: string; rules: GroupRules }, membersOnHost: Record<string, number>,
): GroupPlacement | null {
  if (!isGroupPolicy(row.policy)) return null;
  return { id: row.id, policy: row.policy, maxServerPerHost: row.rules.max_server_per_host ?? 1, membersOnHost };
}

/** Hosts that already run a member. */
export function memberHosts(group: GroupPlacement): string[] {
  return Object.keys(group.membersOnHost).filter((h) => group.membersOnHost[h]! > 0);
}

/**
 * Why a hard policy keeps the server off `host` (Nova's ServerGroupAffinityFilter
 * and ServerGroupAntiAffinityFilter), or null. Soft policies never refuse.
 */
export function groupRejects(host: string, group: GroupPlacement | undefined): string | null {
  if (!group) return null;
  const here = group.membersOnHost[host] ?? 0;
  if (group.policy === 'anti-affinity' && here >= group.maxServerPerHost) {
    return `anti-affinity group ${group.id} has ${here} of at most ${group.maxServerPerHost} member(s) here`;
  }
  if (group.policy === 'affinity' && here === 0 && memberHosts(group).length > 0) {
    return `affinity group ${group.id} runs on ${memberHosts(group).join(', ')}`;
  }
  return null;
}

function intersect(only: string[] | undefined, hosts: string[]): string[] {
  return only ? only.filter((h) => hosts.includes(h)) : hosts;
}

/**
 * The requests a placement tries in turn for a group member, each narrowing
 * the candidates by host list (so the candidate search reads only the
 * member hosts, or skips them, instead of weighing every host): a hard
 * policy is one request (affinity: only the member hosts); a soft one first
 * asks for what it prefers (the member hosts / the hosts without members)
 * and then for any host, where its weigher still ranks by members on host.
 */
export function groupAttempts(request: ResourceRequest): ResourceRequest[] {
  const group = request.group;
  if (!group) return [request];
  const hosts = memberHosts(group);
  if (hosts.length === 0) return [request];
  switch (group.policy) {
    case 'affinity':
      return [{ ...request, onlyHosts: intersect(request.onlyHosts, hosts) }];
    case 'anti-affinity':
      // Its filter turns the few member hosts away (and names itself in "No valid host"'s details).
      return [request];
    case 'soft-affinity':
      return [{ ...request, onlyHosts: intersect(request.onlyHosts, hosts) }, request];
    case 'soft-anti-affinity':
      return [{ ...request, excludeHosts: [...(request.excludeHosts ?? []), ...hosts] }, request];
  }
}
