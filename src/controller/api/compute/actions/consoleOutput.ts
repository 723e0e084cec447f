/**
 * `{"os-getConsoleOutput": {"length": N}}` (`openstack console log show S
 * [--lines N]`): the server's serial console log from its host, 200
 * `{"output": …}`. `length` is Nova's: an integer (or a string of one) of at
 * least -1; -1 or none is the whole log (at most its last 100 KB). Errors:
 * 409 when the server has no host yet (Nova's "is not ready") or is being
 * deleted or migrated, 404 when the guest logs no console, 500 when the host
 * does not answer within `console_log_timeout` (as an RPC timeout in Nova).
 */
import { BadRequest } from '../../../../domain/errors.js';
import { consoleOutput } from '../../../services/consoleLog.js';
import { registerServerAction } from './registry.js';
import { bodyOf } from '../schemaTypes.js';

/** Nova's console_output schema: length an integer (or a string of one) of at least -1, or null. */
const CONSOLE_OUTPUT_ARGS = {
  ...bodyOf({ length: { type: ['integer', 'string', 'null'], pattern: '^-?[0-9]+$', maxLength: 20, minimum: -1, maximum: 2 ** 31 - 1 } }),
  type: ['object', 'null'],
} as const;

function lengthOf(args: unknown): number | null {
  if (args === null || args === undefined) return null;
  if (typeof args !== 'object' || Array.isArray(args)) {
    throw new BadRequest(`Invalid input for field/attribute os-getConsoleOutput. Value: ${JSON.stringify(args)}. ${JSON.stringify(args)} is not of type 'object'`);
  }
  const extra = Object.keys(args).filter((k) => k !== 'length');
  if (extra.length > 0) {
    throw new BadRequest(`Invalid input for field/attribute os-getConsoleOutput. Value: ${JSON.stringify(args)}. Additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} was unexpected)`);
  }
  const length = (args as { length?: unknown }).length;
  if (length === undefined || length === null) return null;
  const text = String(length);
  if ((typeof length !== 'number' && typeof length !== 'string') || !/^-?[0-9]+$/.test(text)) {
    throw new BadRequest(`Invalid input for field/attribute length. Value: ${text}. '${text}' does not match '^-?[0-9]+$'`);
  }
  const n = Number(text);
  if (n < -1) throw new BadRequest(`Invalid input for field/attribute length. Value: ${text}. ${text} is less than the minimum of -1`);
  return n === -1 ? null : n;
}

registerServerAction('os-getConsoleOutput', CONSOLE_OUTPUT_ARGS, async (ctx, _req, instance, args) => {
  const output = await consoleOutput(ctx, instance, lengthOf(args));
  return { status: 200, body: { output } };
});
