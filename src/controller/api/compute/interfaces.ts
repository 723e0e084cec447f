import type { FastifyInstance } from 'fastify';
import { BadRequest, DomainError, InternalError, NotFound } from '../../../domain/errors.js';
import { getInstance } from '../../../storage/repositories/instances.js';
import { getPort, getPorts, type PortRecord } from '../../../storage/repositories/ports.js';
import type { ControllerContext } from '../../context.js';
import {
  ATTACH_ACTION, awaitInterfaceAction, startInterfaceAttach, startInterfaceDetach,
} from '../../lifecycle/interfaces.js';
import { atLeast } from './microversion.js';
import { visibleServer } from './lookup.js';
import { refuseIfLocked } from './lockGuard.js';
import { ID_REF, TAG, bodyOf, computeRoute, paramsOf, queryOf } from './schemaTypes.js';

/** Nova's attach_interfaces create schema (tag from 2.49); attaching needs port_id here, which the handler checks. */
const attachSchema = bodyOf({
  interfaceAttachment: bodyOf({
    port_id: { type: ['string', 'null'], maxLength: 255 },
    net_id: ID_REF,
    fixed_ips: { type: 'array', minItems: 1, maxItems: 1, items: bodyOf({ ip_address: { type: 'string', maxLength: 64 } }, ['ip_address']) },
    tag: TAG,
  }),
});
const noQuery = queryOf({});
const serverParams = paramsOf('id');
const interfaceParams = paramsOf('id', 'portId');

/** How long an attach request waits for the host's agent (Nova's attach is a synchronous RPC call too). */
const ATTACH_WAIT_MS = 60_000;

function attachmentView(port: PortRecord, withTag: boolean): Record<string, unknown> {
  return {
    port_id: port.id,
    net_id: port.networkId,
    mac_addr: port.macAddress,
    port_state: port.status,
    fixed_ips: port.fixedIps.map((f) => ({ subnet_id: f.subnetId, ip_address: f.ipAddress })),
    ...(withTag ? { tag: null } : {}),
  };
}

interface AttachBody {
  interfaceAttachment?: { port_id?: unknown; net_id?: unknown; fixed_ips?: unknown; tag?: unknown };
}

/** Nova's os-interface: list, show, attach (synchronous, 200) and detach (202). */
export function registerInterfaceRoutes(app: FastifyInstance, ctx: ControllerContext): void {
  app.get<{ Params: { id: string } }>('/v2.1/servers/:id/os-interface', computeRoute('List a server\'s interfaces', { params: serverParams, querystring: noQuery }), async (req) => {
    const instance = await visibleServer(ctx, req, req.params.id);
    const ports = await getPorts(ctx.store.reader, instance.portIds);
    return { interfaceAttachments: ports.map((p) => attachmentView(p, atLeast(req, '2.70'))) };
  });

  app.get<{ Params: { id: string; portId: string } }>('/v2.1/servers/:id/os-interface/:portId', computeRoute('Show a server\'s interface', { params: interfaceParams, querystring: noQuery }), async (req) => {
    const instance = await visibleServer(ctx, req, req.params.id);
    const port = instance.portIds.includes(req.params.portId) ? await getPort(ctx.store.reader, req.params.portId) : null;
    if (!port) throw new NotFound(`Instance ${instance.uuid} has no interface with port id ${req.params.portId}.`);
    return { interfaceAttachment: attachmentView(port, atLeast(req, '2.70')) };
  });

  app.post<{ Params: { id: string }; Body: AttachBody }>('/v2.1/servers/:id/os-interface',
    computeRoute('Attach a port to a server', { params: serverParams, querystring: noQuery, body: attachSchema }), async (req, reply) => {
    const instance = await visibleServer(ctx, req, req.params.id);
    refuseIfLocked(req, instance);
    const body = req.body?.interfaceAttachment;
    if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) {
      throw new BadRequest("Invalid input for field/attribute interfaceAttachment: must be an object.");
    }
    const portId = body?.port_id;
    if (portId === undefined || portId === null) {
      throw new BadRequest('Attaching by network is not supported: create a port first and pass interfaceAttachment.port_id.');
    }
    if (typeof portId !== 'string' || portId === '') throw new BadRequest('Invalid input for field/attribute port_id.');
    if (body?.fixed_ips !== undefined) throw new BadRequest('fixed_ips cannot be given together with port_id.');
    await startInterfaceAttach(ctx, instance, portId, { auth: req.auth, requestId: req.id });
    const outcome = await awaitInterfaceAction(ctx, instance.uuid, ATTACH_ACTION, req.id, ATTACH_WAIT_MS);
    if (!outcome.done) {
      throw new InternalError(`Timed out waiting for host ${instance.host} to attach port ${portId} to ${instance.uuid}; the attach goes on.`);
    }
    if (!outcome.ok) {
      throw new DomainError('internal', outcome.message ?? `Failed to attach network adapter device to ${instance.uuid}`, 'InterfaceAttachFailed');
    }
    const port = await getPort(ctx.store.reader, portId);
    const after = await getInstance(ctx.store.reader, instance.uuid);
    if (!port || !after?.portIds.includes(portId)) throw new DomainError('internal', `Failed to attach network adapter device to ${instance.uuid}`, 'InterfaceAttachFailed');
    return reply.code(200).send({ interfaceAttachment: attachmentView(port, atLeast(req, '2.70')) });
  });

  app.delete<{ Params: { id: string; portId: string } }>('/v2.1/servers/:id/os-interface/:portId', computeRoute('Detach a port from a server', { params: interfaceParams, querystring: noQuery }), async (req, reply) => {
    const instance = await visibleServer(ctx, req, req.params.id);
    refuseIfLocked(req, instance);
    await startInterfaceDetach(ctx, instance, req.params.portId, { auth: req.auth, requestId: req.id });
    return reply.code(202).send();
  });
}
