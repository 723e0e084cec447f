import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ControllerContext } from '../../context.js';
import { securityGroupSchemas } from './schemas.js';
import {
  createGroup, createRule, deleteGroup, deleteRule, listGroups, listRules, rulesOfGroups, updateGroup, visibleGroup,
  visibleRule,
} from '../../services/securityGroups.js';
import { invalidInput } from '../../services/networking.js';
import {
  filterValues, onlyKnown, optBoolean, optInteger, optNullableString, optProject, optString, resourceBody, selectFields,
  type Query,
} from './input.js';
import type { Unit } from '../../../storage/unit.js';
import { securityGroupRuleView, securityGroupView } from './views.js';

/**
 * Networking's security groups and rules (security-group extension). They
 * are recorded and shown; enforcing them is the networking backend's job
 * (docs/networking.md). Every call first makes the caller's project's
 * `default` group if it has none, as networking does.
 */

type IdParams = { Params: { id: string } };
const GROUP_KEYS = ['name', 'description', 'stateful', 'project_id', 'tenant_id', 'tags'];
const RULE_KEYS = [
  'security_group_id', 'direction', 'ethertype', 'protocol', 'port_range_min', 'port_range_max', 'remote_ip_prefix',
  'remote_group_id', 'remote_address_group_id', 'description', 'project_id', 'tenant_id',
];

export function securityGroupRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  const transact = <T>(fn: (db: Unit) => Promise<T>) => ctx.store.transact((trx) => fn(trx));
  const groupBody = async (groups: Awaited<ReturnType<typeof listGroups>>) => {
    const rules = await rulesOfGroups(ctx.store.reader, groups.map((g) => g.id));
    return groups.map((g) => securityGroupView(g, rules.get(g.id) ?? []));
  };

  app.get('/v2.0/security-groups', { schema: securityGroupSchemas.list }, async (req: FastifyRequest<{ Querystring: Query }>) => {
    const q = req.query;
    const groups = await transact((db) => listGroups(db, {
      ids: filterValues(q, 'id'), names: filterValues(q, 'name'),
      projectIds: filterValues(q, 'project_id') ?? filterValues(q, 'tenant_id'),
    }, req.auth));
    return { security_groups: (await groupBody(groups)).map((g) => selectFields(g, q)) };
  });

  app.get('/v2.0/security-groups/:id', { schema: securityGroupSchemas.show }, async (req: FastifyRequest<IdParams & { Querystring: Query }>) => {
    const g = await visibleGroup(ctx.store.reader, req.params.id, req.auth);
    return { security_group: selectFields((await groupBody([g]))[0]!, req.query) };
  });

  app.post('/v2.0/security-groups', { schema: securityGroupSchemas.create }, async (req, reply) => {
    const a = resourceBody(req.body, 'security_group');
    onlyKnown(a, GROUP_KEYS);
    const name = optString(a, 'name') ?? '';
    const description = optString(a, 'description');
    const stateful = optBoolean(a, 'stateful');
    const projectId = optProject(a);
    const g = await transact((db) => createGroup(db, {
      name, ...(description !== undefined ? { description } : {}), ...(stateful !== undefined ? { stateful } : {}),
      ...(projectId !== undefined ? { projectId } : {}),
    }, req.auth));
    return reply.code(201).send({ security_group: (await groupBody([g]))[0] });
  });

  app.put('/v2.0/security-groups/:id', { schema: securityGroupSchemas.update }, async (req: FastifyRequest<IdParams>) => {
    const a = resourceBody(req.body, 'security_group');
    onlyKnown(a, ['name', 'description', 'stateful']);
    const name = optString(a, 'name');
    const description = optString(a, 'description');
    const stateful = optBoolean(a, 'stateful');
    const g = await transact((db) => updateGroup(db, req.params.id, {
      ...(name !== undefined ? { name } : {}), ...(description !== undefined ? { description } : {}),
      ...(stateful !== undefined ? { stateful } : {}),
    }, req.auth));
    return { security_group: (await groupBody([g]))[0] };
  });

  app.delete('/v2.0/security-groups/:id', { schema: securityGroupSchemas.remove }, async (req: FastifyRequest<IdParams>, reply) => {
    await transact((db) => deleteGroup(db, req.params.id, req.auth));
    return reply.code(204).send();
  });

  app.get('/v2.0/security-group-rules', { schema: securityGroupSchemas.listRules }, async (req: FastifyRequest<{ Querystring: Query }>) => {
    const q = req.query;
    const rules = await transact((db) => listRules(db, {
      ids: filterValues(q, 'id'), securityGroupIds: filterValues(q, 'security_group_id'),
      projectIds: filterValues(q, 'project_id') ?? filterValues(q, 'tenant_id'),
      directions: filterValues(q, 'direction'), ethertypes: filterValues(q, 'ethertype'),
      protocols: filterValues(q, 'protocol'),
    }, req.auth));
    return { security_group_rules: rules.map((r) => selectFields(securityGroupRuleView(r), q)) };
  });

  app.get('/v2.0/security-group-rules/:id', { schema: securityGroupSchemas.showRule }, async (req: FastifyRequest<IdParams & { Querystring: Query }>) => {
    return { security_group_rule: selectFields(securityGroupRuleView(await visibleRule(ctx.store.reader, req.params.id, req.auth)), req.query) };
  });

  app.post('/v2.0/security-group-rules', { schema: securityGroupSchemas.createRule }, async (req, reply) => {
    const a = resourceBody(req.body, 'security_group_rule');
    onlyKnown(a, RULE_KEYS);
    if (a.remote_address_group_id !== undefined && a.remote_address_group_id !== null) {
      throw invalidInput('remote_address_group_id', 'address groups are not supported by this deployment');
    }
    const securityGroupId = optString(a, 'security_group_id');
    if (securityGroupId === undefined) throw invalidInput('security_group_id', `'None' is not a valid UUID`);
    const projectId = optProject(a);
    const description = optString(a, 'description');
    const rule = await transact((db) => createRule(db, {
      securityGroupId,
      direction: optString(a, 'direction'), ethertype: optString(a, 'ethertype'),
      protocol: a.protocol === null ? null : a.protocol === undefined ? null
        : typeof a.protocol === 'number' ? String(a.protocol) : optString(a, 'protocol'),
      portRangeMin: optInteger(a, 'port_range_min'), portRangeMax: optInteger(a, 'port_range_max'),
      remoteIpPrefix: optNullableString(a, 'remote_ip_prefix'), remoteGroupId: optNullableString(a, 'remote_group_id'),
      ...(description !== undefined ? { description } : {}), ...(projectId !== undefined ? { projectId } : {}),
    }, req.auth));
    return reply.code(201).send({ security_group_rule: securityGroupRuleView(rule) });
  });

  app.delete('/v2.0/security-group-rules/:id', { schema: securityGroupSchemas.removeRule }, async (req: FastifyRequest<IdParams>, reply) => {
    await transact((db) => deleteRule(db, req.params.id, req.auth));
    return reply.code(204).send();
  });
}
