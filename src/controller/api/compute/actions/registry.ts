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
const argumentSchemas = new Map<string, unknown>();

/**
 * `args` is the JSON schema of the action's value (the union of what every
 * microversion accepts: the handler refuses what its microversion does not);
 * the action route's body schema is built from all of them.
 */
export function registerServerAction(name: string, args: unknown, handler: ServerActionHandler): void {
  actions.set(name, handler);
  argumentSchemas.set(name, args);
}

export function serverAction(name: string): ServerActionHandler | undefined {
  return actions.get(name);
}

/** `POST /servers/{id}/action`'s body: exactly one known action with its value. */
export function serverActionBodySchema() {
  return {
    type: 'object',
    minProperties: 1,
    maxProperties: 1,
    properties: Object.fromEntries([...argumentSchemas.entries()].sort(([a], [b]) => a.localeCompare(b))),
    additionalProperties: false,
  } as const;
}

export function knownServerActions(): string[] {
  return [...actions.keys()].sort();
}
