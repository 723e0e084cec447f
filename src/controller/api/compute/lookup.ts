import type { FastifyRequest } from 'fastify';
import { NotFound } from '../../../domain/errors.js';
import { getInstance, type InstanceRecord } from '../../../storage/repositories/instances.js';
import type { ControllerContext } from '../../context.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A server the caller may see: its own project's, or any for an admin; everything else is "not found". */
export async function visibleServer(ctx: ControllerContext, req: FastifyRequest, id: string): Promise<InstanceRecord> {
  const instance = UUID.test(id) ? await getInstance(ctx.store.reader, id.toLowerCase()) : null;
  if (!instance || (!req.auth.isAdmin && instance.projectId !== req.auth.projectId)) {
    throw new NotFound(`Instance ${id} could not be found.`);
  }
  return instance;
}

export function publicBase(ctx: ControllerContext): string {
  return ctx.publicUrl.replace(/\/$/, '');
}
