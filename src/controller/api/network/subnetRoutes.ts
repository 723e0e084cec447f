import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Forbidden } from '../../../domain/errors.js';
import { listSubnets } from '../../../storage/repositories/networks.js';
import type { ControllerContext } from '../../context.js';
import { subnetSchemas } from './schemas.js';
import { createSubnet, deleteSubnet, invalidInput, visibleNetwork, visibleSubnet } from '../../services/networking.js';
import {
  filterValues, onlyKnown, optBoolean, optInteger, optNullableString, optProject, optString, resourceBody,
  selectFields, emptyListOnly, type Query,
} from './input.js';
import { subnetView } from './views.js';

const CREATE_KEYS = [
  'name', 'network_id', 'cidr', 'ip_version', 'gateway_ip', 'enable_dhcp', 'allocation_pools', 'description',
  'project_id', 'tenant_id', 'dns_nameservers', 'host_routes', 'tags', 'ipv6_ra_mode', 'ipv6_address_mode',
];

type IdParams = { Params: { id: string } };

function allocationPools(v: unknown): { start: string; end: string }[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((p) => typeof p?.start !== 'string' || typeof p?.end !== 'string')) {
    throw invalidInput('allocation_pools', `${JSON.stringify(v)} is not a list of {"start", "end"} addresses`);
  }
  return v.map((p: { start: string; end: string }) => ({ start: p.start, end: p.end }));
}

export function subnetRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  const db = () => ctx.store.reader;

  app.get('/v2.0/subnets', { schema: subnetSchemas.list }, async (req: FastifyRequest<{ Querystring: Query }>) => {
    const q = req.query;
    const ipVersion = filterValues(q, 'ip_version')?.[0];
    const subnets = await listSubnets(db(), {
      ids: filterValues(q, 'id'), names: filterValues(q, 'name'), networkIds: filterValues(q, 'network_id'),
      projectIds: filterValues(q, 'project_id') ?? filterValues(q, 'tenant_id'), cidrs: filterValues(q, 'cidr'),
      ...(ipVersion !== undefined ? { ipVersion: Number(ipVersion) } : {}),
      ...(req.auth.isAdmin ? {} : { visibleTo: req.auth.projectId }),
    });
    return { subnets: subnets.map((s) => selectFields(subnetView(s), q)) };
  });

  app.get('/v2.0/subnets/:id', { schema: subnetSchemas.show }, async (req: FastifyRequest<IdParams & { Querystring: Query }>) => {
    return { subnet: selectFields(subnetView(await visibleSubnet(db(), req.params.id, req.auth)), req.query) };
  });

  app.post('/v2.0/subnets', { schema: subnetSchemas.create }, async (req, reply) => {
    const a = resourceBody(req.body, 'subnet');
    onlyKnown(a, CREATE_KEYS);
    emptyListOnly(a, 'dns_nameservers');
    emptyListOnly(a, 'host_routes');
    const networkId = optString(a, 'network_id');
    if (networkId === undefined) throw invalidInput('network_id', `'None' is not a valid UUID`);
    const cidr = optString(a, 'cidr');
    if (cidr === undefined) throw invalidInput('cidr', `'None' is not a valid IP subnet`);
    const ipVersion = optInteger(a, 'ip_version') ?? 4;
    if (ipVersion !== 4 && ipVersion !== 6) throw invalidInput('ip_version', `${ipVersion} is not in [4, 6]`);
    const net = await visibleNetwork(db(), networkId, req.auth);
    const projectId = optProject(a) ?? req.auth.projectId;
    if (!req.auth.isAdmin && (net.projectId !== req.auth.projectId || projectId !== req.auth.projectId)) {
      throw new Forbidden('(rule:create_subnet and rule:create_subnet:network_owner) is disallowed by policy');
    }
    const gatewayIp = optNullableString(a, 'gateway_ip');
    const pools = allocationPools(a.allocation_pools);
    const enableDhcp = optBoolean(a, 'enable_dhcp');
    const description = optString(a, 'description');
    const subnet = await createSubnet(ctx.store, {
      name: optString(a, 'name') ?? '', networkId, projectId, cidr, ipVersion,
      ...(gatewayIp !== undefined ? { gatewayIp } : {}), ...(pools ? { allocationPools: pools } : {}),
      ...(enableDhcp !== undefined ? { enableDhcp } : {}), ...(description !== undefined ? { description } : {}),
    });
    return reply.code(201).send({ subnet: subnetView(subnet) });
  });

  app.delete('/v2.0/subnets/:id', { schema: subnetSchemas.remove }, async (req: FastifyRequest<IdParams>, reply) => {
    await deleteSubnet(ctx.store, req.params.id, req.auth);
    return reply.code(204).send();
  });
}
