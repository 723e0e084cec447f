import { BadRequest } from '../../domain/errors.js';

/** The largest page a client may ask for; any larger number is refused rather than handed to the database. */
export const MAX_PAGE_LIMIT = 2 ** 31 - 1;

/** A `limit` query parameter: absent, or a whole number 0..MAX_PAGE_LIMIT given once; anything else a 400 with `message`. */
export function pageLimit(raw: unknown, message: (value: string) => string): number | undefined {
  if (raw === undefined) return undefined;
  const text = String(raw);
  if (typeof raw !== 'string' || !/^\d{1,10}$/.test(text) || Number(text) > MAX_PAGE_LIMIT) throw new BadRequest(message(text));
  return Number(text);
}

/**
 * One page of an ordered list: the items after `marker` (an id in the list;
 * an unknown one is refused with `unknownMarker`), at most `limit` of them,
 * and whether more follow.
 */
export function pageOf<T extends { id: string }>(
  items: readonly T[], opts: { limit?: number; marker?: string }, unknownMarker: (marker: string) => Error,
): { page: T[]; more: boolean } {
  let start = 0;
  if (opts.marker !== undefined) {
    const at = items.findIndex((i) => i.id === opts.marker);
    if (at < 0) throw unknownMarker(opts.marker);
    start = at + 1;
  }
  const rest = items.slice(start);
  if (opts.limit === undefined) return { page: rest, more: false };
  return { page: rest.slice(0, opts.limit), more: rest.length > opts.limit };
}
