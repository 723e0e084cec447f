import type { FastifyInstance, FastifyRequest } from 'fastify';
import { QUERY_FLAG, QUERY_TEXT, bodyOf, computeRoute, paramsOf, queryOf } from './schemaTypes.js';
import { BadRequest } from '../../../domain/errors.js';
import { isGroupPolicy, type GroupPolicy, type GroupRules } from '../../../domain/scheduling/serverGroups.js';
import { groupsOfServer } from '../../../storage/repositories/serverGroups.js';
import type { InstanceRecord } from '../../../storage/repositories/instances.js';
import type { ControllerContext } from '../../context.js';
import {
  createServerGroup, deleteServerGroup, listServerGroups, showServerGroup, type ServerGroup,
} from '../../services/serverGroups.js';
import { atLeast } from './microversion.js';

/**
 * os-server-groups as Nova has it: before 2.64 a group is shown and created
 * with a one-item `policies` list (and an empty `metadata`), from 2.64 with a
 * `policy` and `rules` (only `max_server_per_host`, only for anti-affinity);
 * the soft policies from 2.15, `project_id`/`user_id` from 2.13. A server
 * joins a group through the create's `group` scheduler hint.
 */

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
/** Nova's list cap (osapi_max_limit). */
const MAX_LIMIT = 1000;

function invalid(field: string, value: unknown, detail: string): BadRequest {
  return new BadRequest(`Invalid input for field/attribute ${field}. Value: ${JSON.stringify(value)}. ${detail}`);
}

export function serverGroupView(req: FastifyRequest, g: ServerGroup): Record<string, unknown> {
  return {
    id: g.id,
    name: g.name,
    ...(atLeast(req, '2.64') ? { policy: g.policy, rules: g.rules } : { policies: [g.policy], metadata: {} }),
    members: g.members,
    ...(atLeast(req, '2.13') ? { project_id: g.projectId, user_id: g.userId } : {}),
  };
}

/** The body of a create, checked as Nova's schema for the request's microversion. */
function createInput(req: FastifyRequest): { name: string; policy: GroupPolicy; rules: GroupRules } {
  const body = req.body as { server_group?: unknown } | null | undefined;
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalid('server_group', body ?? null, "'server_group' is a required property");
  const extraTop = Object.keys(body).filter((k) => k !== 'server_group');
  if (extraTop.length) throw new BadRequest(`Additional properties are not allowed (${extraTop.map((k) => `'${k}'`).join(', ')} ${extraTop.length === 1 ? 'was' : 'were'} unexpected)`);
  const g = body.server_group as Record<string, unknown> | undefined;
  if (!g || typeof g !== 'object' || Array.isArray(g)) throw invalid('server_group', g ?? null, "'server_group' is a required property");
  const v264 = atLeast(req, '2.64');
  const allowed = v264 ? ['name', 'policy', 'rules'] : ['name', 'policies'];
  const extra = Object.keys(g).filter((k) => !allowed.includes(k));
  if (extra.length) throw invalid('server_group', g, `Additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} ${extra.length === 1 ? 'was' : 'were'} unexpected)`);
  for (const k of v264 ? ['name', 'policy'] : ['name', 'policies']) {
    if (!(k in g)) throw invalid('server_group', g, `'${k}' is a required property`);
  }
  const name = g.name;
  if (typeof name !== 'string' || name.length < 1 || name.length > 255 || /^\s|\s$/.test(name) || /[\x00-\x1f\x7f]/.test(name)) {
    throw invalid('name', name, "An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.");
  }
  const enumFor = atLeast(req, '2.15') ? ['anti-affinity', 'affinity', 'soft-anti-affinity', 'soft-affinity'] : ['anti-affinity', 'affinity'];
  if (!v264) {
    const policies = g.policies;
    if (!Array.isArray(policies)) throw invalid('policies', policies, `${JSON.stringify(policies)} is not of type 'array'`);
    if (policies.length !== 1) throw invalid('policies', policies, policies.length === 0 ? '[] is too short' : `${JSON.stringify(policies)} is too long`);
    if (!enumFor.includes(policies[0] as string)) throw invalid('policies/0', policies[0], `${JSON.stringify(policies[0])} is not one of ${JSON.stringify(enumFor)}`);
    return { name, policy: policies[0] as GroupPolicy, rules: {} };
  }
  if (!isGroupPolicy(g.policy)) throw invalid('policy', g.policy, `${JSON.stringify(g.policy)} is not one of ${JSON.stringify(enumFor)}`);
  const rules = g.rules ?? {};
  if (typeof rules !== 'object' || rules === null || Array.isArray(rules)) throw invalid('rules', rules, `${JSON.stringify(rules)} is not of type 'object'`);
  const extraRules = Object.keys(rules).filter((k) => k !== 'max_server_per_host');
  if (extraRules.length) throw invalid('rules', rules, `Additional properties are not allowed (${extraRules.map((k) => `'${k}'`).join(', ')} ${extraRules.length === 1 ? 'was' : 'were'} unexpected)`);
  const out: GroupRules = {};
  if ('max_server_per_host' in rules) {
    // Nova's positive_integer: an integer or its decimal string, at least 1.
    const raw = (rules as Record<string, unknown>).max_server_per_host;
    const n = typeof raw === 'string' && /^\s*[0-9]+\s*$/.test(raw) ? Number(raw) : raw;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
      throw invalid('max_server_per_host', raw, `${JSON.stringify(raw)} is not a valid positive integer`);
    }
    out.max_server_per_host = n;
  }
  return { name, policy: g.policy, rules: out };
}

function nonNegative(name: string, value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  const v = Array.isArray(value) ? value[value.length - 1]! : value;
  if (!/^[0-9]+$/.test(v)) throw new BadRequest(`Invalid input for query parameters ${name}. Value: ${v}. '${v}' does not match '^[0-9]*$'`);
  return Number(v);
}

/** The `group` scheduler hint of a create (a uuid, or a one-item list of one), or null. */
export function groupHintOf(hints: unknown): string | null {
  if (hints === undefined || hints === null) return null;
  if (typeof hints !== 'object' || Array.isArray(hints)) throw invalid('os:scheduler_hints', hints, `${JSON.stringify(hints)} is not of type 'object'`);
  const group = (hints as Record<string, unknown>).group;
  if (group === undefined) return null;
  const list = Array.isArray(group) ? group : [group];
  for (const g of list) {
    if (typeof g !== 'string' || !UUID.test(g)) throw invalid('group', group, `${JSON.stringify(group)} is not valid under any of the given schemas`);
  }
  if (list.length === 0) return null;
  if (list.length > 1) throw invalid('group', group, 'Only one server group may be given.');
  return (list[0] as string).toLowerCase();
}

/** 2.71+: a server's show (and update, rebuild) names its server groups. */
export async function withServerGroups(
  ctx: ControllerContext, req: FastifyRequest, instance: InstanceRecord, server: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  if (!atLeast(req, '2.71')) return server;
  return { ...server, server_groups: await groupsOfServer(ctx.store.reader, instance.uuid) };
}

/** The union of every microversion's shape: the handlers word Nova's per-version refusals (createInput). */
const groupParams = paramsOf('id');
const listQuery = queryOf({ all_projects: QUERY_FLAG, limit: QUERY_TEXT, offset: QUERY_TEXT });
const createBody = bodyOf({ server_group: { type: 'object' } }, ['server_group']);

export function registerServerGroupRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  app.get<{ Querystring: Record<string, string | string[] | undefined> }>('/v2.1/os-server-groups',
    computeRoute('List server groups', { querystring: listQuery }), async (req) => {
    const q = req.query;
    if (atLeast(req, '2.75')) {
      const extra = Object.keys(q).filter((k) => !['all_projects', 'limit', 'offset'].includes(k));
      if (extra.length) throw new BadRequest(`Invalid input for query parameters ${extra[0]}. Additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} ${extra.length === 1 ? 'was' : 'were'} unexpected)`);
    }
    const limit = nonNegative('limit', q.limit);
    const offset = nonNegative('offset', q.offset);
    const groups = await listServerGroups(ctx.store.reader, req.auth, {
      allProjects: q.all_projects !== undefined, limit: Math.min(MAX_LIMIT, limit || MAX_LIMIT), ...(offset ? { offset } : {}),
    });
    return { server_groups: groups.map((g) => serverGroupView(req, g)) };
  });

  app.get<{ Params: { id: string } }>('/v2.1/os-server-groups/:id',
    computeRoute('Show a server group', { params: groupParams, querystring: queryOf({}) }), async (req) => ({
    server_group: serverGroupView(req, await showServerGroup(ctx.store.reader, req.auth, req.params.id)),
  }));

  app.post('/v2.1/os-server-groups', computeRoute('Create a server group', { querystring: queryOf({}), body: createBody }), async (req) => {
    const input = createInput(req);
    return { server_group: serverGroupView(req, await createServerGroup(ctx.store, req.auth, input)) };
  });

  app.delete<{ Params: { id: string } }>('/v2.1/os-server-groups/:id',
    computeRoute('Delete a server group', { params: groupParams, querystring: queryOf({}) }), async (req, reply) => {
    await deleteServerGroup(ctx.store, req.auth, req.params.id);
    return reply.code(204).send();
  });
}
