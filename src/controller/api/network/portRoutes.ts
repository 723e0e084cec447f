import type { FastifyInstance, FastifyRequest } from 'fastify';
import { listPorts } from '../../../storage/repositories/ports.js';
import type { ControllerContext } from '../../context.js';
import { portSchemas } from './schemas.js';
import { invalidInput } from '../../services/networking.js';
import { createPort, deletePort, updatePort, visiblePort, type PortRecord } from '../../services/ports.js';
import { portSecurityViews } from '../../services/securityGroups.js';
import {
  emptyListOnly, filterValues, neutronPage, onlyKnown, optBoolean, optDict, optFixedIps, optProject, optString, optStringList, resourceBody,
  selectFields, type Attrs, type Query,
} from './input.js';
import { portView } from './views.js';
import { NotFound } from '../../../domain/errors.js';

/** Accepted so that stock clients can send them; this deployment keeps nothing behind them. */
const ACCEPTED_EMPTY = ['allowed_address_pairs', 'extra_dhcp_opts', 'tags'];
const ACCEPTED_IGNORED = ['dns_name', 'propagate_uplink_status', 'qos_policy_id'];
const UPDATE_KEYS = [
  'name', 'admin_state_up', 'description', 'device_id', 'device_owner', 'binding:vnic_type', 'binding:host_id',
  'binding:profile', 'numa_affinity_policy', 'security_groups', 'port_security_enabled', ...ACCEPTED_EMPTY, ...ACCEPTED_IGNORED,
];
const CREATE_KEYS = [...UPDATE_KEYS, 'network_id', 'mac_address', 'fixed_ips', 'project_id', 'tenant_id'];

type IdParams = { Params: { id: string } };

function commonAttrs(a: Attrs) {
  for (const k of ACCEPTED_EMPTY) emptyListOnly(a, k);
  const fields = {
    name: optString(a, 'name'), adminStateUp: optBoolean(a, 'admin_state_up'), description: optString(a, 'description'),
    deviceId: optString(a, 'device_id'), deviceOwner: optString(a, 'device_owner'),
    vnicType: optString(a, 'binding:vnic_type'), hostId: optString(a, 'binding:host_id'),
    profile: optDict(a, 'binding:profile'),
    numaAffinityPolicy: a.numa_affinity_policy === null ? null : optString(a, 'numa_affinity_policy'),
    securityGroups: optStringList(a, 'security_groups'), portSecurityEnabled: optBoolean(a, 'port_security_enabled'),
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<typeof fields>;
}

export function portRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  const db = () => ctx.store.reader;
  const views = async (ports: PortRecord[], auth: FastifyRequest['auth']) => {
    const sec = await portSecurityViews(db(), ports.map((p) => p.id));
    return ports.map((p) => portView(p, auth, sec.get(p.id)));
  };
  const view = async (port: PortRecord, auth: FastifyRequest['auth']) => (await views([port], auth))[0]!;

  app.get('/v2.0/ports', { schema: portSchemas.list }, async (req: FastifyRequest<{ Querystring: Query }>) => {
    const q = req.query;
    const ports = await listPorts(db(), {
      ids: filterValues(q, 'id'), names: filterValues(q, 'name'), networkIds: filterValues(q, 'network_id'),
      deviceIds: filterValues(q, 'device_id'), deviceOwners: filterValues(q, 'device_owner'),
      macAddresses: filterValues(q, 'mac_address'), statuses: filterValues(q, 'status'),
      vnicTypes: filterValues(q, 'binding:vnic_type'),
      // Host placement is admin-only information, so only admins may filter by it.
      hostIds: req.auth.isAdmin ? filterValues(q, 'binding:host_id') : undefined,
      projectIds: req.auth.isAdmin ? (filterValues(q, 'project_id') ?? filterValues(q, 'tenant_id')) : [req.auth.projectId],
    });
    const { page, links } = neutronPage(ports, q, 'ports', ctx.publicUrl.replace(/\/+$/, ''), (id) => new NotFound(`Port ${id} could not be found.`, 'PortNotFound'));
    return { ports: (await views(page, req.auth)).map((p) => selectFields(p, q)), ...links };
  });

  app.get('/v2.0/ports/:id', { schema: portSchemas.show }, async (req: FastifyRequest<IdParams & { Querystring: Query }>) => {
    return { port: selectFields(await view(await visiblePort(db(), req.params.id, req.auth), req.auth), req.query) };
  });

  app.post('/v2.0/ports', { schema: portSchemas.create }, async (req, reply) => {
    const a = resourceBody(req.body, 'port');
    onlyKnown(a, CREATE_KEYS);
    const networkId = optString(a, 'network_id');
    if (networkId === undefined) throw invalidInput('network_id', `'None' is not a valid UUID`);
    const macAddress = optString(a, 'mac_address');
    const fixedIps = optFixedIps(a);
    const projectId = optProject(a);
    const port = await createPort(ctx.store, {
      networkId, ...commonAttrs(a), ...(macAddress !== undefined ? { macAddress } : {}),
      ...(fixedIps !== undefined ? { fixedIps } : {}), ...(projectId !== undefined ? { projectId } : {}),
    }, req.auth);
    return reply.code(201).send({ port: await view(port, req.auth) });
  });

  app.put('/v2.0/ports/:id', { schema: portSchemas.update }, async (req: FastifyRequest<IdParams>) => {
    const a = resourceBody(req.body, 'port');
    onlyKnown(a, UPDATE_KEYS);
    const port = await updatePort(ctx.store, req.params.id, commonAttrs(a), req.auth);
    return { port: await view(port, req.auth) };
  });

  app.delete('/v2.0/ports/:id', { schema: portSchemas.remove }, async (req: FastifyRequest<IdParams>, reply) => {
    await deletePort(ctx.store, req.params.id, req.auth);
    return reply.code(204).send();
  });
}
