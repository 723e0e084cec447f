/**
 * `PUT /servers/{id}` body (Nova's schemas/servers.py update, update_v219,
 * update_v290): what `openstack server set --name/--description` sends. No
 * lock or state check (Nova has none for an update).
 */
import { BadRequest } from '../../../domain/errors.js';
import { pythonRepr } from '../../../domain/servers/tags.js';
import { atLeast } from './microversion.js';
import type { FastifyRequest } from 'fastify';

export interface ServerUpdate { name?: string; description?: string | null }

const NAME_RULE = "An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.";
/** Printable: no control characters (Nova's `valid_name_regex` is built from the printable Unicode ranges). */
const PRINTABLE = /^[^\p{C}]*$/u;

export function serverUpdateOf(req: FastifyRequest, body: unknown): ServerUpdate {
  const s = (body as { server?: unknown } | null)?.server;
  if (!s || typeof s !== 'object' || Array.isArray(s)) {
    throw new BadRequest(`Invalid input for field/attribute server. Value: ${JSON.stringify(s ?? null)}. 'server' is a required property`);
  }
  const fields = s as Record<string, unknown>;
  const allowed = ['name', 'accessIPv4', 'accessIPv6', 'OS-DCF:diskConfig', ...(atLeast(req, '2.19') ? ['description'] : []), ...(atLeast(req, '2.90') ? ['hostname'] : [])];
  const extra = Object.keys(fields).filter((k) => !allowed.includes(k));
  if (extra.length > 0) throw new BadRequest(`Additional properties are not allowed (${extra.map(pythonRepr).join(', ')} ${extra.length > 1 ? 'were' : 'was'} unexpected)`);
  const out: ServerUpdate = {};
  if (fields.name !== undefined) {
    const name = fields.name;
    if (typeof name !== 'string' || name.length < 1 || [...name].length > 255 || !PRINTABLE.test(name) || name.trim() !== name) {
      throw new BadRequest(`Invalid input for field/attribute name. Value: ${typeof name === 'string' ? name : JSON.stringify(name)}. ${NAME_RULE}`);
    }
    out.name = name;
  }
  if (fields.description !== undefined) {
    const d = fields.description;
    if (d !== null && (typeof d !== 'string' || [...d].length > 255 || !PRINTABLE.test(d))) {
      throw new BadRequest(`Invalid input for field/attribute description. Value: ${JSON.stringify(d)}. An invalid 'description' value was provided. The description must be: printable characters.`);
    }
    out.description = d;
  }
  return out;
}
