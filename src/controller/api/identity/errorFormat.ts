import type { ErrorKind } from '../../../domain/errors.js';
import { HTTP_TITLES, type ErrorFormat } from '../errors.js';

const STATUS: Readonly<Record<ErrorKind, number>> = {
  'bad-request': 400, unauthorized: 401, forbidden: 403, 'not-found': 404, 'not-acceptable': 406, conflict: 409, internal: 500, 'not-implemented': 501,
};

/** Keystone's errors: {"error": {"code": 404, "title": "Not Found", "message": …}}. */
export const identityErrorFormat: ErrorFormat = {
  statusOf: (kind) => STATUS[kind],
  body: (status, e) => ({ error: { code: status, title: HTTP_TITLES[status] ?? 'Error', message: e.message } }),
};
