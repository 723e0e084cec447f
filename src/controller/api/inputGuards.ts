import type { FastifyInstance } from 'fastify';
import { BadRequest } from '../../domain/errors.js';

/**
 * Checks every request of an API scope before any handler sees it: no NUL
 * character anywhere in the path, query or body (PostgreSQL refuses them in
 * text, and no OpenStack field allows one), and each query parameter given
 * once unless the API takes lists of values for it. A body nested deeper than
 * any OpenStack request (MAX_DEPTH) is refused too: walking, validating or
 * copying one of thousands of levels overflows the stack (a 500).
 */
export function guardInput(app: FastifyInstance, opts: { repeatable?: (name: string) => boolean } = {}): void {
  const repeatable = opts.repeatable ?? (() => false);
  app.addHook('preValidation', async (req) => {
    const query = (req.query ?? {}) as Record<string, unknown>;
    for (const [name, value] of Object.entries(query)) {
      if (Array.isArray(value) && !repeatable(name)) throw new BadRequest(`Query parameter '${name}' may be given only once.`);
    }
    for (const [part, value] of [['path', req.params], ['query', query], ['body', req.body]] as const) {
      const where = nulIn(value);
      if (where !== null) throw new BadRequest(`Invalid input: the ${part} holds a NUL character${where ? ` (in ${where})` : ''}.`);
    }
  });
}

/** Far deeper than any request body of the four APIs (a server create with block devices nests about 6). */
const MAX_DEPTH = 64;

/** Where a NUL character is in a decoded JSON value or parameter map: '' at the top, a dotted path below, null if nowhere. */
function nulIn(value: unknown, path = '', depth = 0): string | null {
  if (depth > MAX_DEPTH) throw new BadRequest(`Invalid input: nested deeper than ${MAX_DEPTH} levels.`);
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = nulIn(value[i], `${path}[${i}]`, depth + 1);
      if (found !== null) return found;
    }
    return null;
  }
  if (value && typeof value === 'object' && !Buffer.isBuffer(value) && typeof (value as { pipe?: unknown }).pipe !== 'function') {
    for (const [key, v] of Object.entries(value)) {
      const at = path ? `${path}.${key}` : key;
      if (key.includes('\u0000')) return at;
      const found = nulIn(v, at, depth + 1);
      if (found !== null) return found;
    }
  }
  return null;
}
