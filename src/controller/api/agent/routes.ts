/**
 * The agent protocol over HTTP: every ControllerLink call of a remote compute
 * agent, on the same object the all-in-one's in-process agents call directly.
 *
 *   PUT  /agent/v1/hosts/{host}                        registerHost       204
 *   PUT  /agent/v1/hosts/{host}/inventory              reportInventory    204
 *   POST /agent/v1/hosts/{host}/heartbeat              heartbeat          204
 *   GET  /agent/v1/hosts/{host}/guests[?pending=true]  allGuests / pendingGuests  200 {guests}
 *   PUT  /agent/v1/hosts/{host}/guests/{uuid}/report   reportGuest        204
 *   PUT  /agent/v1/hosts/{host}/guests/{uuid}/power-state  reportPowerState  204
 *   GET  /agent/v1/hosts/{host}/work?timeout_ms=N      waitForWork (long poll, at most MAX_WAIT_MS)  204
 *   GET  /agent/v1/hosts/{host}/console-requests       pendingConsoleRequests  200 {requests}
 *   PUT  /agent/v1/hosts/{host}/console-requests/{id}  answerConsoleRequest    204
 *   PUT  /agent/v1/hosts/{host}/guests/{uuid}/snapshots/{image}  uploadSnapshot (application/octet-stream)  204
 *   PUT  /agent/v1/hosts/{host}/guests/{uuid}/disk-transfers/{migration}  uploadDiskTransfer (octet-stream; the move's source only)  204
 *   GET  /agent/v1/hosts/{host}/guests/{uuid}/disk-transfers/{migration}  downloadDiskTransfer (octet-stream; its destination only)  200
 *
 * Callers need a token whose roles include `service` (the agents' credential)
 * or `admin`; a per-host credential (`vdpa-compute agent-credential create
 * HOST`) only for its own host's routes. Every call is idempotent, so an
 * agent may repeat any of them.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, Forbidden } from '../../../domain/errors.js';
import type { ConsoleAnswer, GuestReport, HostRegistration, InventoryReport, PowerStateReport } from '../../../protocol/agentProtocol.js';
import type { ControllerContext } from '../../context.js';
import { createAgentLink } from '../../services/agentLink.js';
import { receiveSnapshotData } from '../../lifecycle/snapshot.js';
import { openDiskTransfer, receiveDiskTransfer } from '../../lifecycle/coldMoveDisk.js';
import { authenticate } from '../auth.js';
import { computeErrorFormat } from '../compute/errorFormat.js';
import { useErrorFormat } from '../errors.js';
import { guardInput } from '../inputGuards.js';
import { agentSchemas } from './schemas.js';

/** A long poll never holds a connection longer than this, whatever the agent asks. */
export const MAX_WAIT_MS = 30_000;
const DEFAULT_WAIT_MS = 20_000;

type HostParams = { host: string };

function requireAgent(req: FastifyRequest): void {
  const roles = req.auth.roles;
  if (!roles.includes('service') && !roles.includes('admin')) {
    throw new Forbidden('Policy doesn\'t allow compute agent calls to be performed: a token with the service or admin role is required.');
  }
}

/** The host in the path and in the body must agree: an agent speaks only for its own host. */
function sameHost(path: string, body: { host: string }): void {
  if (body.host !== path) throw new BadRequest(`The body names host ${body.host} but the path names host ${path}.`);
}

export function waitTimeout(raw: unknown): number {
  if (raw === undefined || raw === '') return DEFAULT_WAIT_MS;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new BadRequest(`Invalid timeout_ms ${JSON.stringify(raw)}: expected a number of milliseconds >= 0.`);
  return Math.min(Math.floor(n), MAX_WAIT_MS);
}

export async function agentApi(app: FastifyInstance, ctx: ControllerContext): Promise<void> {
  useErrorFormat(app, computeErrorFormat);
  guardInput(app);
  const link = createAgentLink(ctx);

  app.addHook('onRequest', async (req) => {
    await authenticate(ctx, req);
    requireAgent(req);
  });
  // A per-host credential speaks for its own host only (before the body is looked at).
  app.addHook('preValidation', async (req) => {
    const host = (req.params as Partial<HostParams>).host;
    if (req.auth.agentHost !== null && host !== req.auth.agentHost) {
      throw new Forbidden(`Policy doesn't allow compute agent calls for host ${String(host)} to be performed: this credential acts for host ${req.auth.agentHost} only.`);
    }
  });

  app.put<{ Params: HostParams; Body: HostRegistration }>('/v1/hosts/:host',
    { schema: agentSchemas.register },
    async (req, reply) => {
      sameHost(req.params.host, req.body);
      await link.registerHost(req.body);
      return reply.code(204).send();
    });

  app.put<{ Params: HostParams; Body: InventoryReport }>('/v1/hosts/:host/inventory',
    { schema: agentSchemas.inventory },
    async (req, reply) => {
      sameHost(req.params.host, req.body);
      await link.reportInventory(req.body);
      return reply.code(204).send();
    });

  app.post<{ Params: HostParams }>('/v1/hosts/:host/heartbeat', { schema: agentSchemas.heartbeat }, async (req, reply) => {
    await link.heartbeat(req.params.host);
    return reply.code(204).send();
  });

  app.get<{ Params: HostParams; Querystring: { pending?: string } }>('/v1/hosts/:host/guests',
    { schema: agentSchemas.guests },
    async (req) => {
      const pending = req.query.pending;
      if (pending !== undefined && pending !== 'true' && pending !== 'false') {
        throw new BadRequest(`Invalid pending ${JSON.stringify(pending)}: expected true or false.`);
      }
      const guests = pending === 'true' ? await link.pendingGuests(req.params.host) : await link.allGuests(req.params.host);
      return { guests };
    });

  app.put<{ Params: HostParams & { uuid: string }; Body: GuestReport }>('/v1/hosts/:host/guests/:uuid/report',
    { schema: agentSchemas.report },
    async (req, reply) => {
      sameHost(req.params.host, req.body);
      if (req.body.instanceUuid !== req.params.uuid) {
        throw new BadRequest(`The body names server ${req.body.instanceUuid} but the path names server ${req.params.uuid}.`);
      }
      await link.reportGuest(req.body);
      return reply.code(204).send();
    });

  app.put<{ Params: HostParams & { uuid: string }; Body: PowerStateReport }>('/v1/hosts/:host/guests/:uuid/power-state',
    { schema: agentSchemas.powerState },
    async (req, reply) => {
      sameHost(req.params.host, req.body);
      if (req.body.instanceUuid !== req.params.uuid) {
        throw new BadRequest(`The body names server ${req.body.instanceUuid} but the path names server ${req.params.uuid}.`);
      }
      await link.reportPowerState!(req.body);
      return reply.code(204).send();
    });

  // A snapshot's data arrives as a stream (lifecycle/snapshot.ts receiveSnapshotData writes it as it comes).
  app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
  app.put<{ Params: HostParams & { uuid: string; image: string } }>('/v1/hosts/:host/guests/:uuid/snapshots/:image',
    { schema: agentSchemas.snapshot },
    async (req, reply) => {
      await receiveSnapshotData(ctx, req.params.host, req.params.uuid, req.params.image, streamOf(req.body));
      return reply.code(204).send();
    });

  // A cold move's disk (lifecycle/coldMoveDisk.ts): uploaded by the move's source, downloaded by its destination.
  type TransferParams = HostParams & { uuid: string; migration: string };
  app.put<{ Params: TransferParams }>('/v1/hosts/:host/guests/:uuid/disk-transfers/:migration',
    { schema: agentSchemas.diskUpload },
    async (req, reply) => {
      await receiveDiskTransfer(ctx, req.params.host, req.params.uuid, req.params.migration, streamOf(req.body));
      return reply.code(204).send();
    });
  app.get<{ Params: TransferParams }>('/v1/hosts/:host/guests/:uuid/disk-transfers/:migration',
    { schema: agentSchemas.diskDownload },
    async (req, reply) => {
      const blob = await openDiskTransfer(ctx, req.params.host, req.params.uuid, req.params.migration);
      return reply.code(200).header('content-type', 'application/octet-stream').header('content-length', String(blob.size)).send(blob.stream);
    });

  app.get<{ Params: HostParams }>('/v1/hosts/:host/console-requests', { schema: agentSchemas.consoleRequests }, async (req) => {
    return { requests: await link.pendingConsoleRequests!(req.params.host) };
  });

  app.put<{ Params: HostParams & { id: string }; Body: ConsoleAnswer }>('/v1/hosts/:host/console-requests/:id',
    { schema: agentSchemas.consoleAnswer },
    async (req, reply) => {
      sameHost(req.params.host, req.body);
      if (req.body.id !== req.params.id) throw new BadRequest(`The body names console request ${req.body.id} but the path names ${req.params.id}.`);
      await link.answerConsoleRequest!(req.body);
      return reply.code(204).send();
    });

  app.get<{ Params: HostParams; Querystring: { timeout_ms?: string } }>('/v1/hosts/:host/work',
    { schema: agentSchemas.work },
    async (req, reply) => {
      const timeoutMs = waitTimeout(req.query.timeout_ms);
      // An agent that went away (killed, or moved to another controller) must not count as
      // waiting here until its timeout: a wake-up for it would stay here instead of crossing processes.
      const gone = new AbortController();
      reply.raw.once('close', () => { if (!reply.raw.writableFinished) gone.abort(); });
      // The signal is only a hint (hostSignals.ts): an agent that misses it still polls pendingGuests.
      await link.waitForWork(req.params.host, timeoutMs, gone.signal);
      return reply.code(204).send();
    });
}

/** An octet-stream body as the parser left it (the request stream), or an empty stream when none came. */
function streamOf(body: unknown): Readable {
  return body && typeof (body as Readable).pipe === 'function' ? body as Readable : Readable.from([]);
}
