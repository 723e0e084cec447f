import type { ErrorKind } from '../../../domain/errors.js';
import type { ErrorFormat } from '../errors.js';

const STATUS: Readonly<Record<ErrorKind, number>> = {
  'bad-request': 400, unauthorized: 401, forbidden: 403, 'not-found': 404, 'not-acceptable': 406, conflict: 409, internal: 500, 'not-implemented': 501,
};

/** NeutronError.type of a domain error that names no reason of its own. */
const TYPE_OF_KIND: Readonly<Record<ErrorKind, string>> = {
  'bad-request': 'InvalidInput', unauthorized: 'Unauthorized', forbidden: 'PolicyNotAuthorized',
  'not-found': 'NotFound', 'not-acceptable': 'NotAcceptable', conflict: 'Conflict', internal: 'InternalError', 'not-implemented': 'NotImplemented',
};

/** NeutronError.type of an error of the HTTP layer (validation, media type, no such resource). */
function typeOfStatus(status: number): string {
  return status === 404 ? 'NotFound' : status === 415 ? 'UnsupportedMediaType' : 'InvalidInput';
}

/** Networking's errors: {"NeutronError": {"type": "PortNotFound", "message": …, "detail": ""}}. */
export const networkErrorFormat: ErrorFormat = {
  statusOf: (kind) => STATUS[kind],
  body: (status, e) => ({
    NeutronError: { type: e.reason ?? (e.kind !== null ? TYPE_OF_KIND[e.kind] : typeOfStatus(status)), message: e.message, detail: '' },
  }),
};
