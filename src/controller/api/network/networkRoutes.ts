import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Forbidden, NotFound } from '../../../domain/errors.js';
import { listNetworks } from '../../../storage/repositories/networks.js';
import type { ControllerContext } from '../../context.js';
import { networkSchemas } from './schemas.js';
import { createNetwork, deleteNetwork, updateNetwork, visibleNetwork } from '../../services/networking.js';
import {
  booleanFilter, filterValues, neutronPage, onlyKnown, optBoolean, optInteger, optProject, optString, resourceBody, selectFields,
  type Query,
} from './input.js';
import { networkView } from './views.js';

const ADMIN_ONLY = ['provider:physical_network', 'provider:network_type', 'provider:segmentation_id', 'router:external', 'shared'];
const CREATE_KEYS = [
  'name', 'admin_state_up', 'description', 'project_id', 'tenant_id', 'mtu', 'port_security_enabled',
  'availability_zone_hints', 'tags', ...ADMIN_ONLY,
];

type IdParams = { Params: { id: string } };

export function networkRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  const db = () => ctx.store.reader;

  app.get('/v2.0/networks', { schema: networkSchemas.list }, async (req: FastifyRequest<{ Querystring: Query }>) => {
    const q = req.query;
    const shared = booleanFilter(q, 'shared');
    const nets = await listNetworks(db(), {
      ids: filterValues(q, 'id'), names: filterValues(q, 'name'),
      projectIds: filterValues(q, 'project_id') ?? filterValues(q, 'tenant_id'),
      ...(shared !== undefined ? { shared } : {}),
      ...(req.auth.isAdmin ? {} : { visibleTo: req.auth.projectId }),
    });
    const { page, links } = neutronPage(nets, q, 'networks', ctx.publicUrl.replace(/\/+$/, ''), (id) => new NotFound(`Network ${id} could not be found.`, 'NetworkNotFound'));
    return { networks: page.map((n) => selectFields(networkView(n, req.auth), q)), ...links };
  });

  app.get('/v2.0/networks/:id', { schema: networkSchemas.show }, async (req: FastifyRequest<IdParams & { Querystring: Query }>) => {
    const net = await visibleNetwork(db(), req.params.id, req.auth);
    return { network: selectFields(networkView(net, req.auth), req.query) };
  });

  app.post('/v2.0/networks', { schema: networkSchemas.create }, async (req, reply) => {
    const a = resourceBody(req.body, 'network');
    onlyKnown(a, CREATE_KEYS);
    const given = ADMIN_ONLY.filter((k) => a[k] !== undefined);
    if (given.length > 0 && !req.auth.isAdmin) {
      throw new Forbidden(`(rule:create_network and rule:create_network:${given[0]}) is disallowed by policy`);
    }
    const projectId = optProject(a) ?? req.auth.projectId;
    if (projectId !== req.auth.projectId && !req.auth.isAdmin) {
      throw new Forbidden('(rule:create_network and rule:create_network:project_id) is disallowed by policy');
    }
    const physicalNetwork = optString(a, 'provider:physical_network') ?? null;
    const mtu = optInteger(a, 'mtu');
    const segmentationId = optInteger(a, 'provider:segmentation_id');
    const adminStateUp = optBoolean(a, 'admin_state_up');
    const description = optString(a, 'description');
    const net = await createNetwork(ctx.store, {
      name: optString(a, 'name') ?? '', projectId, shared: optBoolean(a, 'shared') ?? false, physicalNetwork,
      // Project networks are overlays; provider networks default to flat on their physnet.
      networkType: optString(a, 'provider:network_type') ?? (physicalNetwork ? 'flat' : 'vxlan'),
      routerExternal: optBoolean(a, 'router:external') ?? false,
      ...(segmentationId !== undefined ? { segmentationId } : {}),
      ...(typeof mtu === 'number' ? { mtu } : {}),
      ...(adminStateUp !== undefined ? { adminStateUp } : {}),
      ...(description !== undefined ? { description } : {}),
    });
    return reply.code(201).send({ network: networkView(net, req.auth) });
  });

  app.put('/v2.0/networks/:id', { schema: networkSchemas.update }, async (req: FastifyRequest<IdParams>) => {
    const a = resourceBody(req.body, 'network');
    onlyKnown(a, ['name', 'admin_state_up', 'description', 'shared']);
    const name = optString(a, 'name');
    const adminStateUp = optBoolean(a, 'admin_state_up');
    const description = optString(a, 'description');
    const shared = optBoolean(a, 'shared');
    const net = await updateNetwork(ctx.store, req.params.id, {
      ...(name !== undefined ? { name } : {}), ...(adminStateUp !== undefined ? { adminStateUp } : {}),
      ...(description !== undefined ? { description } : {}), ...(shared !== undefined ? { shared } : {}),
    }, req.auth);
    return { network: networkView(net, req.auth) };
  });

  app.delete('/v2.0/networks/:id', { schema: networkSchemas.remove }, async (req: FastifyRequest<IdParams>, reply) => {
    await deleteNetwork(ctx.store, req.params.id, req.auth);
    return reply.code(204).send();
  });
}
