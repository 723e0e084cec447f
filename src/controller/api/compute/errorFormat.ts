import type { ErrorKind } from '../../../domain/errors.js';
import type { ErrorFormat } from '../errors.js';

const STATUS: Readonly<Record<ErrorKind, number>> = {
  'bad-request': 400, unauthorized: 401, forbidden: 403, 'not-found': 404, 'not-acceptable': 406, conflict: 409, internal: 500, 'not-implemented': 501,
};

/** Nova's body key per status: {"conflictingRequest": {"code": 409, "message": …}}. */
const KEYS: Readonly<Record<number, string>> = {
  400: 'badRequest', 401: 'unauthorized', 403: 'forbidden', 404: 'itemNotFound', 405: 'badMethod', 409: 'conflictingRequest',
  413: 'overLimit', 415: 'badMediaType', 500: 'computeFault', 501: 'notImplemented', 503: 'serviceUnavailable',
};

/** The compute API's errors (also used by the agent API). */
export const computeErrorFormat: ErrorFormat = {
  statusOf: (kind) => STATUS[kind],
  body: (status, e) => ({ [KEYS[status] ?? 'computeFault']: { code: status, message: e.message } }),
};
