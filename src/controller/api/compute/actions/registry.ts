import type { FastifyRequest } from 'fastify';
import type { InstanceRecord } from '../../../../storage/repositories/instances.js';
import type { ControllerContext } from '../../../context.js';

export interface ActionResult {
  status: number;
  body?: unknown;
  /** Response headers (e.g. rebuild's and createImage's Location). */
  headers?: Record<string, string>;
}

/** One server action (`POST /servers/{id}/action {"<name>": …}`); each lives in its own module. */
export type ServerActionHandler = (
  ctx: ControllerContext, req: FastifyRequest, instance: InstanceRecord, args: unknown,
) => Promise<ActionResult>;

const actions = new Map<string, ServerActionHandler>();

export function registerServerAction(name: string, handler: ServerActionHandler): void {
  actions.set(name, handler);
}

export function serverAction(name: string): ServerActionHandler | undefined {
  return actions.get(name);
}

export function knownServerActions(): string[] {
  return [...actions.keys()].sort();
}
